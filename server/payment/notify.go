package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// HandleNotification verifies, decrypts and applies one payment or refund
// notification. nil means "answer 2xx": applied now, or applied before (a
// replay changes nothing). Any error means "answer 4xx/5xx" so that WeChat
// sends it again; refusals are written to the audit log.
func (p *Payments) HandleNotification(ctx context.Context, r *http.Request) error {
	now := p.cfg.Clock()
	n, err := p.cfg.Provider.ParseNotification(ctx, r, now)
	if err != nil {
		p.refused(ctx, AuditEvent{At: now}, err)
		return fmt.Errorf("notification: %w", err)
	}
	switch {
	case n.Transaction != nil:
		err = p.applyPaid(ctx, *n.Transaction, n.ID, "notification")
		if err != nil {
			p.refused(ctx, AuditEvent{At: now, OutTradeNo: n.Transaction.OutTradeNo, NotificationID: n.ID, AmountFen: n.Transaction.TotalFen}, err)
		}
	case n.Refund != nil:
		err = p.finishRefund(ctx, n.Refund.OutRefundNo, *n.Refund, n.ID, "notification")
		if err != nil {
			p.refused(ctx, AuditEvent{At: now, OutTradeNo: n.Refund.OutTradeNo, OutRefundNo: n.Refund.OutRefundNo, NotificationID: n.ID, AmountFen: n.Refund.RefundFen}, err)
		}
	default:
		err = fmt.Errorf("notification %s carries nothing: %w", n.ID, ErrBadNotification)
		p.refused(ctx, AuditEvent{At: now, NotificationID: n.ID}, err)
	}
	if err != nil {
		return fmt.Errorf("notification %s: %w", n.ID, err)
	}
	return nil
}

// refused logs a refused notification. The audit write uses its own context
// deadline-free of the request so that a client hang-up does not lose it.
func (p *Payments) refused(ctx context.Context, e AuditEvent, err error) {
	e.Kind = "notification.refused"
	e.Detail = err.Error()
	_ = p.audit(context.WithoutCancel(ctx), p.db, e)
}

// NotifyHandler is the http.Handler for notify_url (mount it at the path of
// Config.NotifyURL). It answers 204 with no body on success, and on failure
// the JSON {"code":"FAIL","message":...} with 400 (malformed, wrong
// merchant, unknown order, wrong amount), 401 (signature, timestamp) or 500
// (our fault), as WeChat Pay expects: it retries anything not 2xx.
func (p *Payments) NotifyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeFail(w, http.StatusMethodNotAllowed, "POST only")
			return
		}
		err := p.HandleNotification(r.Context(), r)
		if err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		switch {
		case errors.Is(err, ErrBadSignature), errors.Is(err, ErrTimestampSkew):
			writeFail(w, http.StatusUnauthorized, "signature or timestamp invalid")
		case errors.Is(err, ErrBadNotification), errors.Is(err, ErrWrongMerchant), errors.Is(err, ErrUnknownOrder),
			errors.Is(err, ErrAmountMismatch), errors.Is(err, ErrNotSuccess):
			writeFail(w, http.StatusBadRequest, "notification refused")
		default:
			writeFail(w, http.StatusInternalServerError, "internal error, retry later")
		}
	})
}

func writeFail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": "FAIL", "message": msg})
}
