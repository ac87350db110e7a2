package server

import (
	"fmt"
	"net"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
)

// The /dev/ routes exist only with Config.Dev: they show the SMS and bank
// outboxes (codes in clear) and pay a QR code at the payment simulator.
// They answer only a peer on a loopback address, judged by the
// connection's own address (never a client-IP header, which the caller
// writes): renewd --dev may be made to listen on a network address, but
// nobody on that network reads a clerk's sign-in code.
func (s *Server) devRoutes() {
	for pattern, h := range map[string]handlerFunc{
		"GET /dev/outbox/sms":             s.devSMSOutbox,
		"GET /dev/outbox/bank":            s.devBankOutbox,
		"GET /dev/outbox/mail":            s.devMailOutbox,
		"POST /dev/applications/{id}/pay": s.devPayOrder,
	} {
		s.mux.Handle(pattern, s.adapt(loopbackOnly(h)))
	}
}

// loopbackOnly answers not found to a peer that is not on a loopback
// address, as if the route did not exist.
func loopbackOnly(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !loopbackPeer(r.RemoteAddr) {
			return renewal.NewError(renewal.CodeNotFound, "")
		}
		return h(w, r)
	}
}

// loopbackPeer reports whether a connection's remote address
// (http.Request.RemoteAddr, host:port) is a loopback IP address.
func loopbackPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

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
