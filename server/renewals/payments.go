package renewals

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
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
	if e.Suppressed != 0 {
		after["suppressed"] = e.Suppressed
	}
	audit := func(t *store.Tx) error {
		return t.Audit(store.Change{Actor: actor, Action: e.Kind, IP: e.IP}, target, nil, after)
	}
	if tx, ok := q.(*sql.Tx); ok {
		return h.st.Join(ctx, tx, audit)
	}
	return h.st.Write(ctx, audit)
}

// SetPaymentState moves an application's payment state as the payment
// module does (role system, the states table, its audit entry), inside a
// store transaction: for tests and tools that stand in for a payment.
func (s *Service) SetPaymentState(ctx context.Context, tx *store.Tx, applicationID string, state renewal.Payment) (*renewal.Application, error) {
	return setPaymentState(ctx, tx, s.policy, applicationID, state)
}

// Issued reports whether the renewed certificate of an application was
// issued (then a cancellation is not refunded).
func (s *Service) Issued(ctx context.Context, tx *store.Tx, applicationID string) (bool, error) {
	return issuedIn(ctx, tx, applicationID)
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

// refundBlockedByInvoice refuses to refund a payment an e-invoice was
// issued (or is being issued) for: the invoice must first be reversed with
// a red-letter invoice (红字发票), which this service does not issue yet, so
// the CA does it on its platform and then refunds.
func (s *Service) refundBlockedByInvoice(ctx context.Context, appID string) error {
	inv, err := s.store.Invoice(ctx, store.AllScope(), appID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return StoreError(err, "")
	case inv.State == renewal.InvoiceFailed:
		return nil
	}
	return errInvoiced()
}

func errInvoiced() error {
	e := renewal.Errorf(renewal.CodeActionNotAllowed, "", "an e-invoice was issued for this payment: the CA reverses it (red-letter invoice) before a refund")
	e.MessageZH = "此笔付款已开具电子发票，须先由CA开具红字发票冲销后才能取消并退款"
	return e
}

// The payment routes' wire types are renewal's (renewal.PaymentQR and
// friends); the refund reason's limit there is the payment module's.
var _ = [1]struct{}{}[renewal.MaxRefundReasonRunes-payment.MaxReasonLen]

// OrderView is the wire form of a payment order.
func OrderView(o payment.Order) renewal.PaymentOrder {
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

// PaymentError maps the payment module's errors to the contract's codes.
func PaymentError(err error) error {
	var re *renewal.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return err
	case errors.Is(err, payment.ErrAlreadyPaid):
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "the application is already paid")
	case errors.Is(err, payment.ErrBusy):
		return WithRetryAfter(renewal.Errorf(renewal.CodeConflict, "", "a QR code is being created; retry in a moment"), 1)
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
	return StoreError(err, "")
}

func (s *Service) needPayments() error {
	if s.pay == nil {
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "payments are not configured on this service")
	}
	return nil
}

// PaymentQR makes (or returns the live) QR code of an application the
// caller may pay now (action pay); the amount is the price of the
// application's years.
func (s *Service) PaymentQR(ctx context.Context, c Caller, id string, req renewal.PaymentQRRequest) (*renewal.PaymentQR, error) {
	if err := s.needPayments(); err != nil {
		return nil, err
	}
	a, err := s.load(ctx, c, id, renewal.ActionPay)
	if err != nil {
		return nil, err
	}
	// The certificate's orders are capped as the application's: deleting
	// the application and making it again does not reset the count.
	o, err := s.pay.NewQRCapped(ctx, id, a.Form.Years, req.Provider,
		payment.OrderCap{PerApplication: s.maxQROrders, Subject: "cert/" + a.CertSerial, PerSubject: s.maxQROrders})
	var limit *payment.OrderLimitError
	if errors.As(err, &limit) {
		return nil, s.orderLimitError(limit)
	}
	if err != nil {
		return nil, PaymentError(err)
	}
	return &renewal.PaymentQR{Order: OrderView(o), ServerTime: s.now().UTC()}, nil
}

// orderLimitError is the refusal of a QR code over the daily cap, with
// when the next may be made (Retry-After, and the time in Beijing).
func (s *Service) orderLimitError(l *payment.OrderLimitError) error {
	at := l.RetryAt.In(renewal.ChinaTime).Format("01-02 15:04")
	e := renewal.Errorf(renewal.CodeRateLimited, "provider", "at most %d payment QR codes an application in %s: try again after %s Beijing time",
		l.Limit, payment.OrderLimitWindow, at)
	e.MessageZH = fmt.Sprintf("该申请24小时内生成支付二维码已达 %d 次上限，请于北京时间 %s 后重试", l.Limit, at)
	if l.Subject != "" {
		e = renewal.Errorf(renewal.CodeRateLimited, "provider", "at most %d payment QR codes a certificate in %s (deleted applications count): try again after %s Beijing time",
			l.Limit, payment.OrderLimitWindow, at)
		e.MessageZH = fmt.Sprintf("该证书24小时内生成支付二维码已达 %d 次上限（含已删除的申请），请于北京时间 %s 后重试", l.Limit, at)
	}
	return WithRetryAfter(e, int(math.Ceil(l.RetryAt.Sub(s.now()).Seconds())))
}

// paidInFull refuses to take paid application a further when the amount
// its payments credited is below its price: the years were raised after a
// QR code of the old price was shown. Update refuses such a change; this
// is the check behind it, before submit, approval and issuance. An
// application marked paid without an order of the payment module (a tool,
// a test) has nothing to compare and passes.
func (s *Service) paidInFull(ctx context.Context, a *renewal.Application) error {
	if s.pay == nil || a.Payment != renewal.PaymentPaid {
		return nil
	}
	paid, err := s.pay.PaidFen(ctx, a.ID)
	if err != nil {
		return err
	}
	if paid == 0 || paid >= a.PriceFen {
		return nil
	}
	return renewal.Errorf(renewal.CodePaymentShort, "form.years", "%d fen paid, the price of %d years is %d fen: change the period back to the one paid for",
		paid, a.Form.Years, a.PriceFen)
}

// PaymentStatus answers the client's poll; for an open order the payment
// module asks the provider (at most every payment.StatusQueryInterval), so
// a lost notification is applied all the same.
func (s *Service) PaymentStatus(ctx context.Context, c Caller, id string) (*renewal.PaymentStatus, error) {
	if err := s.needPayments(); err != nil {
		return nil, err
	}
	if _, err := s.load(ctx, c, id, ""); err != nil {
		return nil, err
	}
	st, err := s.pay.Status(ctx, id)
	if err != nil {
		return nil, PaymentError(err)
	}
	// The application's own payment state is the truth (Status may just
	// have moved it); the order and refunds say how it got there.
	a, err := s.load(ctx, c, id, "")
	if err != nil {
		return nil, err
	}
	out := &renewal.PaymentStatus{State: a.Payment, Stale: st.Stale, Refunds: []renewal.PaymentRefund{}, ServerTime: s.now().UTC()}
	if st.Order.OutTradeNo != "" {
		o := OrderView(st.Order)
		out.Order = &o
	}
	rfs, err := s.pay.Refunds(ctx, id)
	if err != nil {
		return nil, PaymentError(err)
	}
	for _, rf := range rfs {
		out.Refunds = append(out.Refunds, renewal.PaymentRefund{OutRefundNo: rf.OutRefundNo, OutTradeNo: rf.OutTradeNo, AmountFen: rf.AmountFen, State: rf.State})
	}
	return out, nil
}

// Cancel gives application id up (action cancel) at the version the
// caller read. A paid one is refunded in the same transaction as the
// cancel, unless an e-invoice was issued for it; a QR code still open is
// closed, so no money comes for a cancelled application (money that came
// meanwhile stays paid until an admin refunds it).
func (s *Service) Cancel(ctx context.Context, c Caller, id string, req renewal.VersionRequest) (*renewal.Application, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	if s.pay != nil {
		a, err := s.load(ctx, c, id, "")
		if err != nil {
			return nil, err
		}
		if a.Payment == renewal.PaymentPaid {
			// Refused by the states table before the payment module hears of it.
			if err := s.allowed(c, a, renewal.ActionCancel); err != nil {
				return nil, err
			}
			if err := s.refundBlockedByInvoice(ctx, id); err != nil {
				return nil, err
			}
			// The refund and the cancel are one transaction.
			handled, err := s.cancelPaid(ctx, c, id, req.Version)
			if err != nil {
				return nil, err
			}
			if handled {
				return s.Get(ctx, c, id)
			}
		}
	}
	a, err := s.act(ctx, c, id, req.Version, renewal.ActionCancel, nil)
	if err != nil {
		return nil, err
	}
	if s.pay != nil {
		// A QR code still on the clerk's screen is closed, so no money comes
		// for a cancelled application; if it was paid meanwhile the payment
		// is credited (and an admin refunds it).
		if o, err := s.pay.CloseOpen(ctx, id); err != nil {
			s.log.WarnContext(ctx, "close the QR order of a cancelled application", "application", id, "err", err.Error())
		} else if o.State == payment.OrderPaid {
			return s.Get(ctx, c, id)
		}
	}
	return a, nil
}

// cancelReason is what WeChat shows the payer on a refund after a cancel.
const cancelReason = "UKey 证书续期申请已取消"

// cancelPaid cancels a paid application with its refund, in the payment
// module's transaction. It reports handled=false when the payment module
// holds no paid order for it (then the plain cancel applies).
func (s *Service) cancelPaid(ctx context.Context, c Caller, id string, version int64) (handled bool, err error) {
	pctx := context.WithValue(ctx, cancelIntentKey{}, cancelIntent{
		role: c.User.Role, scope: c.Scope(), version: version, change: c.Change("application." + string(renewal.ActionCancel)),
	})
	rf, err := s.pay.Cancel(pctx, payment.CancelRequest{ApplicationID: id, Role: c.User.Role, Actor: c.User.ID, Reason: cancelReason})
	switch {
	case err == nil:
		return true, nil
	case rf.OutRefundNo != "":
		// Committed; the refund call's answer was lost: Status and the
		// sweeper ask again.
		s.log.WarnContext(ctx, "refund asked, answer unknown", "application", id, "out_refund_no", rf.OutRefundNo, "err", err.Error())
		return true, nil
	case errors.Is(err, payment.ErrNotPaid):
		// Marked paid without an order of the payment module: nothing to
		// refund through it.
		return false, nil
	}
	return true, PaymentError(err)
}

// Refund is staff's refund of a cancelled application whose money arrived
// after the cancel (action refund; mark_paid counts even then).
func (s *Service) Refund(ctx context.Context, c Caller, id string, req renewal.RefundRequest) (*renewal.Application, error) {
	if err := s.needPayments(); err != nil {
		return nil, err
	}
	if _, err := s.load(ctx, c, id, renewal.ActionRefund); err != nil {
		return nil, err
	}
	rf, err := s.pay.Cancel(ctx, payment.CancelRequest{ApplicationID: id, Role: c.User.Role,
		Actor: c.User.ID, Reason: strings.TrimSpace(req.Reason)})
	if err != nil && rf.OutRefundNo == "" {
		return nil, PaymentError(err)
	}
	return s.Get(ctx, c, id)
}

// RetryAfter decorates an error with the seconds after which the caller
// may try again (the HTTP layer's Retry-After).
type RetryAfter struct {
	error
	Seconds int
}

func (r RetryAfter) Unwrap() error { return r.error }

// WithRetryAfter decorates err with a Retry-After of at least a second.
func WithRetryAfter(err error, seconds int) error {
	if seconds < 1 {
		seconds = 1
	}
	return RetryAfter{err, seconds}
}

// RetryAfterOf reports the seconds err says to wait, if it says.
func RetryAfterOf(err error) (int, bool) {
	var ra RetryAfter
	if errors.As(err, &ra) {
		return ra.Seconds, true
	}
	return 0, false
}
