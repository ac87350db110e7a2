package server

import (
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// notify is the providers' notification endpoint: authenticated by the
// provider's signature, not by a session.
func (s *Server) notify(w http.ResponseWriter, r *http.Request) {
	if s.pay == nil {
		s.writeError(w, r, renewal.NewError(renewal.CodeNotFound, ""))
		return
	}
	s.pay.NotifyHandler().ServeHTTP(w, r)
}
