package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// PaymentHooks is the application side of the payment module: it moves an
// application's payment state and writes payment events to the audit chain,
// always inside the *sql.Tx the payment module gives it (store.Join), so
// that the payment rows, the application row and the audit entries commit
// together or not at all. Build it before payment.New and pass it as both
// Config.Applications and Config.Audit; it needs the same *sql.DB
// (Store.DB()) as the payment module.
type PaymentHooks struct {
	st     *store.Store
	policy renewal.Policy
}

// NewPaymentHooks returns the hooks for st under the CA's policy.
func NewPaymentHooks(st *store.Store, policy renewal.Policy) *PaymentHooks {
	return &PaymentHooks{st: st, policy: policy}
}

var (
	_ payment.ApplicationPayments = (*PaymentHooks)(nil)
	_ payment.AuditSink           = (*PaymentHooks)(nil)
)

// SetPaymentState moves the application inside the payment module's
// transaction (see setPaymentState).
func (h *PaymentHooks) SetPaymentState(ctx context.Context, tx *sql.Tx, applicationID string, state renewal.Payment) error {
	return h.st.Join(ctx, tx, func(t *store.Tx) error {
		_, err := setPaymentState(ctx, t, h.policy, applicationID, state)
		return err
	})
}

// Issued reports whether the application's certificate was issued.
func (h *PaymentHooks) Issued(ctx context.Context, tx *sql.Tx, applicationID string) (bool, error) {
	var issued bool
	err := h.st.Join(ctx, tx, func(t *store.Tx) error {
		var err error
		issued, err = issuedIn(ctx, t, applicationID)
		return err
	})
	return issued, err
}

// Record appends a payment event to the audit chain: in the payment
// module's transaction when q is one (the event commits with the change),
// else (a refusal, which changes nothing) in a transaction of its own.
func (h *PaymentHooks) Record(ctx context.Context, q payment.Execer, e payment.AuditEvent) error {
	actor := e.Actor
	if actor == "" {
		actor = "system"
	}
	target := "payment"
	switch {
	case e.ApplicationID != "":
		target = "application/" + e.ApplicationID
	case e.OutTradeNo != "":
		target = "payment_order/" + e.OutTradeNo
	}
	after := map[string]any{"at": e.At.UTC().Format(time.RFC3339Nano)}
	for k, v := range map[string]string{"out_trade_no": e.OutTradeNo, "out_refund_no": e.OutRefundNo,
		"notification_id": e.NotificationID, "detail": e.Detail} {
		if v != "" {
			after[k] = v
		}
	}
	if e.AmountFen != 0 {
		after["amount_fen"] = e.AmountFen
	}
	audit := func(t *store.Tx) error {
		return t.Audit(store.Change{Actor: actor, Action: e.Kind}, target, nil, after)
	}
	if tx, ok := q.(*sql.Tx); ok {
		return h.st.Join(ctx, tx, audit)
	}
	return h.st.Write(ctx, audit)
}

type cancelIntentKey struct{}

// cancelIntent is a clerk's or admin's cancellation of a paid application,
// carried through payment.Cancel to setPaymentState: the refund and the
// cancellation (at the version the caller read, with the caller's role) are
// one transaction.
type cancelIntent struct {
	role    renewal.Role
	scope   store.Scope
	version int64
	change  store.Change
}

// setPaymentState moves an application's payment state through the states
// table: paid applies mark_paid (or, from refunding, refund_failed: the
// failed refund's move back to paid), refunded mark_refunded; refunding applies
// the caller's cancel when the context carries one (cancelled, paid →
// refunding), else refund (money that arrived after cancelling), as the
// system.
func setPaymentState(ctx context.Context, tx *store.Tx, policy renewal.Policy, applicationID string, state renewal.Payment) (*renewal.Application, error) {
	var action renewal.Action
	switch state {
	case renewal.PaymentPaid:
		action = renewal.ActionMarkPaid
		a, err := tx.Application(ctx, store.AllScope(), applicationID)
		if err != nil {
			return nil, err
		}
		if a.Payment == renewal.PaymentRefunding {
			// WeChat closed or failed the refund: the money is still the
			// CA's, and an admin may ask for the refund again.
			action = renewal.ActionRefundFailed
		}
	case renewal.PaymentRefunding:
		action = renewal.ActionRefund
		if ci, ok := ctx.Value(cancelIntentKey{}).(cancelIntent); ok {
			return tx.UpdateApplication(ctx, ci.scope, applicationID, ci.version, ci.change,
				func(a *renewal.Application) error {
					// The row is held now: an invoice request of the same
					// application waits for this, or this for it.
					if err := refundableIn(ctx, tx, applicationID); err != nil {
						return err
					}
					next, err := renewal.Apply(a.State, policy, ci.role, renewal.ActionCancel)
					if err != nil {
						return err
					}
					if next.Payment != renewal.PaymentRefunding {
						return fmt.Errorf("cancel of application %s leaves payment %s: %w", applicationID, next.Payment, store.ErrInvalid)
					}
					a.State = next
					return nil
				})
		}
	case renewal.PaymentRefunded:
		action = renewal.ActionMarkRefunded
	default:
		return nil, fmt.Errorf("payment state %q is not a move: %w", state, store.ErrInvalid)
	}
	a, err := tx.Application(ctx, store.AllScope(), applicationID)
	if err != nil {
		return nil, err
	}
	return tx.UpdateApplication(ctx, store.AllScope(), applicationID, a.Version, store.Change{Actor: "system", Action: "application." + string(action)},
		func(a *renewal.Application) error {
			next, err := renewal.Apply(a.State, policy, renewal.RoleSystem, action)
			if err != nil {
				return err
			}
			a.State = next
			return nil
		})
}

// refundableIn refuses a refund of an application whose payment was
// invoiced (see refundBlockedByInvoice).
func refundableIn(ctx context.Context, tx *store.Tx, applicationID string) error {
	st, err := tx.InvoiceState(ctx, applicationID)
	if err != nil {
		return err
	}
	if st == renewal.InvoiceIssued || st == renewal.InvoiceRequested {
		return errInvoiced()
	}
	return nil
}

func issuedIn(ctx context.Context, tx *store.Tx, applicationID string) (bool, error) {
	_, err := tx.Issuance(ctx, store.AllScope(), applicationID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// The payment routes' wire types are renewal's (renewal.PaymentQR and
// friends); the refund reason's limit there is the payment module's.
var _ = [1]struct{}{}[renewal.MaxRefundReasonRunes-payment.MaxReasonLen]

func orderView(o payment.Order) renewal.PaymentOrder {
	v := renewal.PaymentOrder{OutTradeNo: o.OutTradeNo, Provider: o.Provider, AmountFen: o.AmountFen, CodeURL: o.CodeURL,
		State: o.State, CreatedAt: o.CreatedAt.UTC(), ExpiresAt: o.ExpiresAt.UTC()}
	if o.State != payment.OrderOpen {
		v.CodeURL = "" // nothing to scan any more
	}
	if !o.PaidAt.IsZero() {
		t := o.PaidAt.UTC()
		v.PaidAt = &t
	}
	return v
}

// paymentErr maps the payment module's errors to the contract's codes.
func paymentErr(err error) error {
	var re *renewal.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return err
	case errors.Is(err, payment.ErrAlreadyPaid):
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "the application is already paid")
	case errors.Is(err, payment.ErrBusy):
		return withRetryAfter(renewal.Errorf(renewal.CodeConflict, "", "a QR code is being created; retry in a moment"), 1)
	case errors.Is(err, payment.ErrNoPrice):
		return renewal.Errorf(renewal.CodeYears, "years", "no price for this number of years")
	case errors.Is(err, payment.ErrIssued):
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "the certificate was issued: no refund")
	case errors.Is(err, payment.ErrCancelWindow):
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "the window for a refund has passed")
	case errors.Is(err, payment.ErrNotPaid):
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "nothing paid to refund")
	case errors.Is(err, payment.ErrInvalid):
		return renewal.Errorf(renewal.CodeInvalidField, "provider", "no such payment provider")
	}
	return storeErr(err, "")
}

func (s *Server) needPayments() error {
	if s.pay == nil {
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "payments are not configured on this service")
	}
	return nil
}

// paymentQR makes (or returns the live) QR code of an application the
// caller may pay now; the amount is the price of the application's years.
func (s *Server) paymentQR(w http.ResponseWriter, r *http.Request) error {
	var req renewal.PaymentQRRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	if err := s.needPayments(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	a, err := s.store.Application(r.Context(), scope(r.Context()), id)
	if err != nil {
		return storeErr(err, "")
	}
	if _, err := renewal.Apply(a.State, s.cfg.Policy, principalOf(r.Context()).user.Role, renewal.ActionPay); err != nil {
		return err
	}
	var o payment.Order
	if req.Provider == "" {
		o, err = s.pay.NewQR(r.Context(), id, a.Form.Years)
	} else {
		o, err = s.pay.NewQRWith(r.Context(), id, a.Form.Years, req.Provider)
	}
	if err != nil {
		return paymentErr(err)
	}
	writeJSON(w, http.StatusOK, renewal.PaymentQR{Order: orderView(o), ServerTime: s.now().UTC()})
	return nil
}

// paymentStatus answers the client's poll; for an open order the payment
// module asks the provider (at most every payment.StatusQueryInterval), so
// a lost notification is applied all the same.
func (s *Server) paymentStatus(w http.ResponseWriter, r *http.Request) error {
	if err := s.needPayments(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	if _, err := s.store.Application(r.Context(), scope(r.Context()), id); err != nil {
		return storeErr(err, "")
	}
	st, err := s.pay.Status(r.Context(), id)
	if err != nil {
		return paymentErr(err)
	}
	// The application's own payment state is the truth (Status may just
	// have moved it); the order and refunds say how it got there.
	a, err := s.store.Application(r.Context(), scope(r.Context()), id)
	if err != nil {
		return storeErr(err, "")
	}
	out := renewal.PaymentStatus{State: a.Payment, Stale: st.Stale, Refunds: []renewal.PaymentRefund{}, ServerTime: s.now().UTC()}
	if st.Order.OutTradeNo != "" {
		o := orderView(st.Order)
		out.Order = &o
	}
	rfs, err := s.pay.Refunds(r.Context(), id)
	if err != nil {
		return paymentErr(err)
	}
	for _, rf := range rfs {
		out.Refunds = append(out.Refunds, renewal.PaymentRefund{OutRefundNo: rf.OutRefundNo, OutTradeNo: rf.OutTradeNo, AmountFen: rf.AmountFen, State: rf.State})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// cancelReason is what WeChat shows the payer on a refund after a cancel.
const cancelReason = "UKey 证书续期申请已取消"

// cancelPaid cancels a paid application with its refund, in the payment
// module's transaction. It reports handled=false when the payment module
// holds no paid order for it (then the plain cancel applies).
func (s *Server) cancelPaid(r *http.Request, id string, version int64) (handled bool, err error) {
	p := principalOf(r.Context())
	role := payment.RoleClerk
	if p.user.Role.IsStaff() {
		role = payment.RoleStaff
	}
	ctx := context.WithValue(r.Context(), cancelIntentKey{}, cancelIntent{
		role: p.user.Role, scope: scope(r.Context()), version: version, change: s.change(r, "application."+string(renewal.ActionCancel)),
	})
	rf, err := s.pay.Cancel(ctx, payment.CancelRequest{ApplicationID: id, Role: role, Actor: p.user.ID, Reason: cancelReason})
	switch {
	case err == nil:
		return true, nil
	case rf.OutRefundNo != "":
		// Committed; the refund call's answer was lost: Status and the
		// sweeper ask again.
		s.log.WarnContext(r.Context(), "refund asked, answer unknown", "application", id, "out_refund_no", rf.OutRefundNo, "err", err.Error())
		return true, nil
	case errors.Is(err, payment.ErrNotPaid):
		// Marked paid without an order of the payment module: nothing to
		// refund through it.
		return false, nil
	}
	return true, paymentErr(err)
}

// refundPayment is staff's refund of a cancelled application whose money
// arrived after the cancel (mark_paid counts even then).
func (s *Server) refundPayment(w http.ResponseWriter, r *http.Request) error {
	var req renewal.RefundRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	if err := s.needPayments(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	a, err := s.store.Application(r.Context(), scope(r.Context()), id)
	if err != nil {
		return storeErr(err, "")
	}
	if _, err := renewal.Apply(a.State, s.cfg.Policy, principalOf(r.Context()).user.Role, renewal.ActionRefund); err != nil {
		return err
	}
	rf, err := s.pay.Cancel(r.Context(), payment.CancelRequest{ApplicationID: id, Role: payment.RoleStaff,
		Actor: principalOf(r.Context()).user.ID, Reason: strings.TrimSpace(req.Reason)})
	if err != nil && rf.OutRefundNo == "" {
		return paymentErr(err)
	}
	if a, err = s.store.Application(r.Context(), scope(r.Context()), id); err != nil {
		return storeErr(err, "")
	}
	s.writeApplication(w, r, http.StatusOK, a)
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
