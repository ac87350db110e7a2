package server

import (
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// notify is the providers' notification endpoint: authenticated by the
// provider's signature, not by a session. The payment module audits a
// refusal with the client address and counts refusals per source (an IPv4
// address, an IPv6 /64), as the rate limits do.
func (s *Server) notify(w http.ResponseWriter, r *http.Request) {
	if s.pay == nil {
		s.writeError(w, r, renewal.NewError(renewal.CodeNotFound, ""))
		return
	}
	ip := s.clientIP(r)
	ctx := payment.WithSource(r.Context(), payment.Source{IP: ip, Key: sourceOf(ip)})
	s.pay.NotifyHandler().ServeHTTP(w, r.WithContext(ctx))
}
