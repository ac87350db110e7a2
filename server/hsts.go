package server

import "net/http"

// HSTSValue is the Strict-Transport-Security header renewd sends: browsers
// (and the clients that honour it) reach the service over https only, for
// a year. No includeSubDomains: the CA's other hosts are not the service's
// to decide.
const HSTSValue = "max-age=31536000"

// strictTransport adds Strict-Transport-Security to answers that came over
// TLS, and to every answer with Config.HSTS (TLS ends at a proxy in front).
// Over plain HTTP without it the header is not sent (RFC 6797 §7.2;
// browsers ignore it there), so --dev on http://127.0.0.1 never sets it.
func (s *Server) strictTransport(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil || s.cfg.HSTS {
			w.Header().Set("Strict-Transport-Security", HSTSValue)
		}
		next.ServeHTTP(w, r)
	})
}
