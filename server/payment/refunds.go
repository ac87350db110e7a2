package payment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// CancelRequest asks to cancel a paid application and refund it.
type CancelRequest struct {
	ApplicationID string
	Role          renewal.Role // the clerk, or CA staff (a reviewer or an admin)
	Actor         string       // who asks (user ID); written to the audit log
	Reason        string       // shown to the payer by WeChat; 1..MaxReasonLen characters
}

// Validate checks every field.
func (r CancelRequest) Validate() error {
	var errs []error
	if err := validApplicationID(r.ApplicationID); err != nil {
		errs = append(errs, fmt.Errorf("application_id: %w", err))
	}
	if _, ok := requester(r.Role); !ok {
		errs = append(errs, fmt.Errorf("role %q is neither a clerk nor CA staff: %w", r.Role, ErrInvalid))
	}
	if r.Actor == "" || len(r.Actor) > MaxActorLen {
		errs = append(errs, fmt.Errorf("actor must be 1..%d bytes: %w", MaxActorLen, ErrInvalid))
	}
	if n := len([]rune(strings.TrimSpace(r.Reason))); n == 0 || n > MaxReasonLen {
		errs = append(errs, fmt.Errorf("reason must be 1..%d characters: %w", MaxReasonLen, ErrInvalid))
	}
	return errors.Join(errs...)
}

// requester is the word a refund row (requested_by) and its audit entries
// store for who asked, before ":<actor>": "clerk" for the applicant's clerk,
// "staff" for CA staff, a reviewer and an admin alike. ok is false for any
// other role, which may not cancel.
func requester(r renewal.Role) (word string, ok bool) {
	switch {
	case r == renewal.RoleClerk:
		return "clerk", true
	case r.IsStaff():
		return "staff", true
	}
	return "", false
}

// Refund is one refund of a whole order.
type Refund struct {
	OutRefundNo   string
	OutTradeNo    string
	ApplicationID string
	AmountFen     int64
	State         string // processing, success, failed
	RefundID      string
}

// Refund states in payment_refunds.
const (
	RefundStateProcessing = "processing"
	RefundStateSuccess    = "success"
	RefundStateFailed     = "failed"
)

// Cancel refunds a paid application that is not issued: a clerk within the
// clerk window after payment, staff up to the refund limit. The application
// moves to refunding at once and to refunded when the refund notification
// (or a query) confirms it.
func (p *Payments) Cancel(ctx context.Context, req CancelRequest) (Refund, error) {
	if err := req.Validate(); err != nil {
		return Refund{}, fmt.Errorf("cancel: %w", err)
	}
	word, _ := requester(req.Role)
	by := word + ":" + req.Actor
	now := p.cfg.Clock()
	var rf Refund
	var total int64
	var pr Provider
	err := p.inTx(ctx, func(tx *sql.Tx) error {
		var o Order
		o, err := scanOrder(tx.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM payment_orders
			WHERE application_id = $1 AND state IN ('paid', 'refunding', 'refunded') ORDER BY paid_at DESC LIMIT 1`, req.ApplicationID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("application %s: %w", req.ApplicationID, ErrNotPaid)
		}
		if err != nil {
			return fmt.Errorf("read order: %w", err)
		}
		if o.State != OrderPaid {
			return fmt.Errorf("order %s is already %s: %w", o.OutTradeNo, o.State, ErrNotPaid)
		}
		if pr, err = p.provider(o.Provider); err != nil {
			return err
		}
		refuse := func(e error, detail string) error {
			return fmt.Errorf("%s: %w", detail, e)
		}
		issued, err := p.cfg.Applications.Issued(ctx, tx, req.ApplicationID)
		if err != nil {
			return fmt.Errorf("read issuance: %w", err)
		}
		age := now.Sub(o.PaidAt)
		switch {
		case issued:
			return refuse(ErrIssued, "certificate issued")
		case req.Role == renewal.RoleClerk && age > p.cfg.ClerkCancelWindow:
			return refuse(ErrCancelWindow, fmt.Sprintf("paid %s ago, clerks may cancel within %s", age.Round(time.Minute), p.cfg.ClerkCancelWindow))
		case req.Role.IsStaff() && age > p.cfg.StaffRefundLimit:
			return refuse(ErrCancelWindow, fmt.Sprintf("paid %s ago, refunds are possible within %s", age.Round(time.Minute), p.cfg.StaffRefundLimit))
		}
		rf = Refund{OutRefundNo: newReference("UKF", now), OutTradeNo: o.OutTradeNo, ApplicationID: o.ApplicationID,
			AmountFen: o.AmountFen, State: RefundStateProcessing}
		total = o.AmountFen
		if _, err := tx.ExecContext(ctx, `INSERT INTO payment_refunds
			(out_refund_no, out_trade_no, application_id, amount_fen, reason, requested_by, state, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'processing', $7)`,
			rf.OutRefundNo, rf.OutTradeNo, rf.ApplicationID, rf.AmountFen, strings.TrimSpace(req.Reason), by, now.UnixMicro()); err != nil {
			return fmt.Errorf("insert refund: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE payment_orders SET state = 'refunding' WHERE out_trade_no = $1 AND state = 'paid'`, o.OutTradeNo)
		if err != nil {
			return fmt.Errorf("mark order refunding: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("order %s changed meanwhile: %w", o.OutTradeNo, ErrNotPaid)
		}
		if err := p.enqueueRefund(ctx, tx, rf); err != nil {
			return err
		}
		if err := p.cfg.Applications.SetPaymentState(ctx, tx, o.ApplicationID, renewal.PaymentRefunding); err != nil {
			return fmt.Errorf("set application refunding: %w", err)
		}
		return p.audit(ctx, tx, AuditEvent{At: now, Kind: "refund.requested", ApplicationID: o.ApplicationID, OutTradeNo: o.OutTradeNo,
			OutRefundNo: rf.OutRefundNo, Actor: by, AmountFen: o.AmountFen, Detail: strings.TrimSpace(req.Reason)})
	})
	if err != nil {
		if errors.Is(err, ErrIssued) || errors.Is(err, ErrCancelWindow) || errors.Is(err, ErrNotPaid) {
			_ = p.audit(ctx, p.db, AuditEvent{At: now, Kind: "refund.refused", ApplicationID: req.ApplicationID,
				Actor: by, Detail: err.Error()})
		}
		return Refund{}, fmt.Errorf("cancel: %w", err)
	}
	// The refund row is committed first, with its job (UseJobs): if the call
	// below is lost, the job asks again with the same out_refund_no (WeChat
	// refunds are idempotent on it) and follows the refund to its outcome.
	res, err := pr.Refund(ctx, RefundRequest{OutTradeNo: rf.OutTradeNo, OutRefundNo: rf.OutRefundNo,
		RefundFen: rf.AmountFen, TotalFen: total, Reason: strings.TrimSpace(req.Reason), NotifyURL: p.notifyURL(pr)})
	if errors.Is(err, ErrRejected) {
		if ferr := p.finishRefund(ctx, rf.OutRefundNo, RefundResult{Status: RefundClosed}, "", err.Error()); ferr != nil {
			return Refund{}, fmt.Errorf("cancel: %w (and %w)", err, ferr)
		}
		return Refund{}, fmt.Errorf("cancel: %w", err)
	}
	if err != nil {
		return rf, fmt.Errorf("cancel: refund %s asked, answer unknown (it will be queried): %w", rf.OutRefundNo, err)
	}
	if err := p.finishRefund(ctx, rf.OutRefundNo, res, "", "refund API"); err != nil {
		return Refund{}, fmt.Errorf("cancel: %w", err)
	}
	return p.refund(ctx, rf.OutRefundNo)
}

func (p *Payments) refund(ctx context.Context, outRefundNo string) (Refund, error) {
	var r Refund
	err := p.db.QueryRowContext(ctx, `SELECT out_refund_no, out_trade_no, application_id, amount_fen, state, refund_id
		FROM payment_refunds WHERE out_refund_no = $1`, outRefundNo).
		Scan(&r.OutRefundNo, &r.OutTradeNo, &r.ApplicationID, &r.AmountFen, &r.State, &r.RefundID)
	if errors.Is(err, sql.ErrNoRows) {
		return Refund{}, fmt.Errorf("refund %s: %w", outRefundNo, ErrUnknownOrder)
	}
	if err != nil {
		return Refund{}, fmt.Errorf("read refund: %w", err)
	}
	return r, nil
}

// Refunds lists an application's refunds, newest first.
func (p *Payments) Refunds(ctx context.Context, applicationID string) ([]Refund, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT out_refund_no, out_trade_no, application_id, amount_fen, state, refund_id
		FROM payment_refunds WHERE application_id = $1 ORDER BY created_at DESC`, applicationID)
	if err != nil {
		return nil, fmt.Errorf("refunds: %w", err)
	}
	defer rows.Close()
	var out []Refund
	for rows.Next() {
		var r Refund
		if err := rows.Scan(&r.OutRefundNo, &r.OutTradeNo, &r.ApplicationID, &r.AmountFen, &r.State, &r.RefundID); err != nil {
			return nil, fmt.Errorf("refunds: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// syncRefund queries the provider for the processing refund of an order
// (the notification may never come) and applies the answer.
func (p *Payments) syncRefund(ctx context.Context, outTradeNo string) error {
	var no string
	err := p.db.QueryRowContext(ctx, `SELECT out_refund_no FROM payment_refunds WHERE out_trade_no = $1 AND state = 'processing'`, outTradeNo).Scan(&no)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read refund: %w", err)
	}
	o, err := p.Order(ctx, outTradeNo)
	if err != nil {
		return err
	}
	pr, err := p.provider(o.Provider)
	if err != nil {
		return err
	}
	res, err := pr.QueryRefund(ctx, outTradeNo, no)
	if errors.Is(err, ErrOrderNotFound) {
		// The refund call never reached the provider: ask again, same number.
		r, rerr := p.refund(ctx, no)
		if rerr != nil {
			return rerr
		}
		res, err = pr.Refund(ctx, RefundRequest{OutTradeNo: outTradeNo, OutRefundNo: no, RefundFen: r.AmountFen,
			TotalFen: o.AmountFen, Reason: "退款", NotifyURL: p.notifyURL(pr)})
	}
	if err != nil {
		return fmt.Errorf("query refund %s: %w", no, err)
	}
	return p.finishRefund(ctx, no, res, "", "query")
}

// finishRefund applies a refund outcome exactly once: SUCCESS → refunded;
// CLOSED or ABNORMAL → failed, order and application back to paid (staff
// must act: WeChat could not pay back); PROCESSING → only the refund_id.
func (p *Payments) finishRefund(ctx context.Context, outRefundNo string, res RefundResult, notificationID, source string) error {
	now := p.cfg.Clock()
	return p.inTx(ctx, func(tx *sql.Tx) error {
		var outTradeNo, appID, state string
		var amount int64
		err := tx.QueryRowContext(ctx, `SELECT out_trade_no, application_id, amount_fen, state FROM payment_refunds WHERE out_refund_no = $1`, outRefundNo).
			Scan(&outTradeNo, &appID, &amount, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("out_refund_no %q: %w", outRefundNo, ErrUnknownOrder)
		}
		if err != nil {
			return fmt.Errorf("read refund: %w", err)
		}
		if notificationID != "" {
			if res.RefundFen != amount || (res.OutTradeNo != "" && res.OutTradeNo != outTradeNo) {
				return fmt.Errorf("refund %s: %d fen for %s, asked %d for %s: %w", outRefundNo, res.RefundFen, res.OutTradeNo, amount, outTradeNo, ErrAmountMismatch)
			}
			r, err := tx.ExecContext(ctx, `INSERT INTO payment_notifications (notification_id, event_type, reference, received_at)
				VALUES ($1, $2, $3, $4) ON CONFLICT (notification_id) DO NOTHING`, notificationID, "REFUND."+res.Status, outRefundNo, now.UnixMicro())
			if err != nil {
				return fmt.Errorf("record notification: %w", err)
			}
			if n, _ := r.RowsAffected(); n == 0 {
				return p.auditReplay(ctx, tx, AuditEvent{At: now, Kind: "notification.replayed", ApplicationID: appID, OutTradeNo: outTradeNo,
					OutRefundNo: outRefundNo, NotificationID: notificationID, Detail: "already applied"})
			}
		}
		if res.RefundID != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE payment_refunds SET refund_id = $1 WHERE out_refund_no = $2`, res.RefundID, outRefundNo); err != nil {
				return fmt.Errorf("store refund_id: %w", err)
			}
		}
		var newRefund, newOrder string
		var appState renewal.Payment
		switch res.Status {
		case RefundSuccess:
			newRefund, newOrder, appState = RefundStateSuccess, OrderRefunded, renewal.PaymentRefunded
		case RefundClosed, RefundAbnormal:
			newRefund, newOrder, appState = RefundStateFailed, OrderPaid, renewal.PaymentPaid
		default:
			return nil
		}
		r, err := tx.ExecContext(ctx, `UPDATE payment_refunds SET state = $1, done_at = $2 WHERE out_refund_no = $3 AND state = 'processing'`,
			newRefund, now.UnixMicro(), outRefundNo)
		if err != nil {
			return fmt.Errorf("update refund: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return nil // already final
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payment_orders SET state = $1 WHERE out_trade_no = $2 AND state = 'refunding'`, newOrder, outTradeNo); err != nil {
			return fmt.Errorf("update order: %w", err)
		}
		if err := p.cfg.Applications.SetPaymentState(ctx, tx, appID, appState); err != nil {
			return fmt.Errorf("set application %s: %w", appState, err)
		}
		return p.audit(ctx, tx, AuditEvent{At: now, Kind: "refund." + newRefund, ApplicationID: appID, OutTradeNo: outTradeNo,
			OutRefundNo: outRefundNo, NotificationID: notificationID, AmountFen: amount, Detail: "via " + source})
	})
}
