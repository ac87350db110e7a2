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

// paymentQR makes (or returns the live) QR code of an application the
// caller may pay now.
func (s *Server) paymentQR(w http.ResponseWriter, r *http.Request) error {
	var req renewal.PaymentQRRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	qr, err := s.apps.PaymentQR(r.Context(), s.caller(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, qr)
	return nil
}

// paymentStatus answers the client's poll.
func (s *Server) paymentStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.apps.PaymentStatus(r.Context(), s.caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// refundPayment is staff's refund of a cancelled application whose money
// arrived after the cancel.
func (s *Server) refundPayment(w http.ResponseWriter, r *http.Request) error {
	var req renewal.RefundRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	a, err := s.apps.Refund(r.Context(), s.caller(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeApplication(w, http.StatusOK, a)
	return nil
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
