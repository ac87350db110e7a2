package server

import (
	"fmt"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
)

// The /dev/ routes exist only with Config.Dev: they show the SMS and bank
// outboxes (codes in clear) and pay a QR code at the payment simulator.

func (s *Server) devSMSOutbox(w http.ResponseWriter, r *http.Request) error {
	if s.devSMS == nil {
		return renewal.NewError(renewal.CodeNotFound, "")
	}
	msgs := s.devSMS.Messages(r.URL.Query().Get("mobile"))
	if msgs == nil {
		msgs = []sms.Sent{}
	}
	writeJSON(w, http.StatusOK, msgs)
	return nil
}

func (s *Server) devBankOutbox(w http.ResponseWriter, r *http.Request) error {
	if s.devBank == nil {
		return renewal.NewError(renewal.CodeNotFound, "")
	}
	ts := s.devBank.Transfers(r.URL.Query().Get("account"))
	if ts == nil {
		ts = []bank.Transfer{}
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

// devPayOrder pays the application's live QR code at the provider's
// simulator, standing for the clerk scanning it with a phone: the money then
// comes back the way production's does, as a signed notification.
func (s *Server) devPayOrder(w http.ResponseWriter, r *http.Request) error {
	if s.pay == nil || s.devPay == nil {
		return renewal.NewError(renewal.CodeNotFound, "")
	}
	id := r.PathValue("id")
	if err := renewals.CheckID(id); err != nil {
		return err
	}
	st, err := s.pay.Status(r.Context(), id)
	if err != nil {
		return renewals.PaymentError(err)
	}
	if st.Order.State != payment.OrderOpen || st.Order.CodeURL == "" {
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "no live QR code to pay: ask for one first")
	}
	if err := s.devPay(r.Context(), st.Order.Provider, st.Order.OutTradeNo); err != nil {
		return fmt.Errorf("dev pay %s: %w", st.Order.OutTradeNo, err)
	}
	writeJSON(w, http.StatusAccepted, renewals.OrderView(st.Order))
	return nil
}
