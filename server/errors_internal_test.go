package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// An error that says the database is away is answered 503 busy with
// Retry-After (the client sends the request again, to this replica or
// another); any other unexpected error stays 500 internal.
func TestDatabaseUnavailableIsBusy(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for _, c := range []struct {
		err         error
		status      int
		code, retry string
	}{
		{fmt.Errorf("submit: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), 503, "busy", "1"},
		{fmt.Errorf("load: %w", &pgconn.ConnectError{}), 503, "busy", "1"},
		{errors.New("boom"), 500, "internal", ""},
	} {
		w := httptest.NewRecorder()
		s.writeError(w, httptest.NewRequest(http.MethodPost, "/v1/applications", nil), c.err)
		var body struct{ Code string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.status || body.Code != c.code || w.Header().Get("Retry-After") != c.retry {
			t.Errorf("%v: %d %q Retry-After %q; want %d %q %q", c.err, w.Code, body.Code,
				w.Header().Get("Retry-After"), c.status, c.code, c.retry)
		}
	}
}
