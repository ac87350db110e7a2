package server

import (
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/server/renewals"
)

// writeTransfer answers a verification transfer sent: its status, with the
// application's new version as the ETag.
func writeTransfer(w http.ResponseWriter, t *renewals.Transfer) {
	w.Header().Set("ETag", etag(t.Version))
	writeJSON(w, http.StatusOK, t.Status)
}
