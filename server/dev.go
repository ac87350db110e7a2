package server

import (
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The /dev/ routes exist only with Config.Dev: they show the SMS and bank
// outboxes (codes in clear) and stand in for the payment module.

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

func (s *Server) devMarkPaid(w http.ResponseWriter, r *http.Request) error {
	var a *renewal.Application
	err := s.store.Write(r.Context(), func(tx *store.Tx) error {
		var err error
		a, err = s.SetPaymentState(r.Context(), tx, r.PathValue("id"), renewal.PaymentPaid)
		return err
	})
	if err != nil {
		return storeErr(err, "")
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}
