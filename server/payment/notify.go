package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
)

// HandleNotification verifies, decrypts and applies one payment or refund
// notification. nil means "answer 2xx": applied now, or applied before (a
// replay changes nothing). Any error means "answer 4xx/5xx" so that WeChat
// sends it again; refusals are counted and written to the audit log, at
// most once a RefusalWindow per source and reason (see refused). Set the
// request's source with WithSource.
func (p *Payments) HandleNotification(ctx context.Context, providerName string, r *http.Request) error {
	now := p.cfg.Clock()
	pr, err := p.provider(providerName)
	if err != nil {
		return fmt.Errorf("notification: %w", err)
	}
	src := sourceOf(ctx, r)
	n, err := pr.ParseNotification(ctx, r, now)
	if err != nil {
		p.refused(ctx, pr.Name(), src, AuditEvent{}, err)
		return fmt.Errorf("notification: %w", err)
	}
	switch {
	case n.Transaction != nil:
		err = p.applyPaid(ctx, *n.Transaction, n.ID, "notification")
		if err != nil {
			p.refused(ctx, pr.Name(), src, AuditEvent{OutTradeNo: n.Transaction.OutTradeNo, NotificationID: n.ID, AmountFen: n.Transaction.TotalFen}, err)
		}
	case n.Refund != nil:
		err = p.finishRefund(ctx, n.Refund.OutRefundNo, *n.Refund, n.ID, "notification")
		if err != nil {
			p.refused(ctx, pr.Name(), src, AuditEvent{OutTradeNo: n.Refund.OutTradeNo, OutRefundNo: n.Refund.OutRefundNo, NotificationID: n.ID, AmountFen: n.Refund.RefundFen}, err)
		}
	default:
		// A verified status notice that moves no money (Alipay's
		// WAIT_BUYER_PAY, or TRADE_CLOSED of an unpaid trade): acknowledged.
		return p.auditOnce(ctx, pr.Name(), src, "ignored", AuditEvent{Kind: "notification.ignored", NotificationID: n.ID,
			Detail: clip(n.EventType, MaxRefusalDetail)})
	}
	if err != nil {
		return fmt.Errorf("notification %s: %w", n.ID, err)
	}
	return nil
}

// NotifyHandler is the http.Handler for the notification URLs: mount it at
// Config.NotifyURL + "/"; the last path segment names the provider
// (.../notify/wechat). It answers as the provider expects (Acknowledge):
// success for an applied notification or a replay; otherwise 400
// (malformed, wrong merchant, unknown order, wrong amount), 401 (signature,
// timestamp) or 500 (our fault), so that the provider retries.
func (p *Payments) NotifyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, err := p.provider(path.Base(r.URL.Path))
		if err != nil {
			writeFail(w, http.StatusNotFound, "no such payment provider")
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeFail(w, http.StatusMethodNotAllowed, "POST only")
			return
		}
		err = p.HandleNotification(r.Context(), pr.Name(), r)
		status := http.StatusNoContent
		switch {
		case err == nil:
		case errors.Is(err, ErrBadSignature), errors.Is(err, ErrTimestampSkew):
			status = http.StatusUnauthorized
		case errors.Is(err, ErrBadNotification), errors.Is(err, ErrWrongMerchant), errors.Is(err, ErrUnknownOrder),
			errors.Is(err, ErrAmountMismatch), errors.Is(err, ErrNotSuccess):
			status = http.StatusBadRequest
		default:
			status = http.StatusInternalServerError
		}
		pr.Acknowledge(w, status, err)
	})
}

func writeFail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": "FAIL", "message": msg})
}
