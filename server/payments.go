package server

import (
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// PaymentHooks is the application side of the payment module
// (renewals.PaymentHooks): build it with NewPaymentHooks before
// payment.New and pass it as both Config.Applications and Config.Audit.
type PaymentHooks = renewals.PaymentHooks

// NewPaymentHooks returns the hooks for st under the CA's policy.
func NewPaymentHooks(st *store.Store, policy renewal.Policy) *PaymentHooks {
	return renewals.NewPaymentHooks(st, policy)
}

// notify is the providers' notification endpoint: authenticated by the
// provider's signature, not by a session.
func (s *Server) notify(w http.ResponseWriter, r *http.Request) {
	if s.pay == nil {
		s.writeError(w, r, renewal.NewError(renewal.CodeNotFound, ""))
		return
	}
	s.pay.NotifyHandler().ServeHTTP(w, r)
}
