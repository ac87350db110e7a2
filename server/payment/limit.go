package payment

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// OrderLimitWindow is the span over which NewQRCapped counts an
// application's orders.
const OrderLimitWindow = 24 * time.Hour

// ErrTooManyOrders is NewQRCapped's refusal: the application made its QR
// codes for the window. Each order costs calls to the provider (create,
// and query and close of the one it replaces), on the merchant's quota.
var ErrTooManyOrders = errors.New("too many QR codes for this application")

// OrderCap bounds the orders NewQRCapped makes within OrderLimitWindow:
// PerApplication for the application (0: no cap), PerSubject for all the
// orders of Subject, what is paid for beyond the application (the
// certificate: an application can be deleted and made again, the
// certificate stays; "" or 0: no cap).
type OrderCap struct {
	PerApplication int
	Subject        string
	PerSubject     int
}

// OrderLimitError is ErrTooManyOrders with the cap and when the next order
// may be made; Subject is set when the subject's cap was reached.
type OrderLimitError struct {
	Limit   int
	Subject string
	RetryAt time.Time
}

func (e *OrderLimitError) Error() string {
	return fmt.Sprintf("%s: %d within %s; next at %s", ErrTooManyOrders, e.Limit, OrderLimitWindow, e.RetryAt.UTC().Format(time.RFC3339))
}

func (e *OrderLimitError) Unwrap() error { return ErrTooManyOrders }

// underOrderLimit refuses another order for the application when it, or
// the cap's subject, made the cap's orders within OrderLimitWindow.
func (p *Payments) underOrderLimit(ctx context.Context, applicationID string, c OrderCap) error {
	since := p.cfg.Clock().Add(-OrderLimitWindow).UnixMicro()
	for _, q := range []struct {
		limit          int
		column, value  string
		subjectReached string
	}{{c.PerApplication, "application_id", applicationID, ""}, {c.PerSubject, "subject", c.Subject, c.Subject}} {
		if q.limit <= 0 || q.value == "" {
			continue
		}
		var n int
		var oldest int64
		err := p.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM payment_orders
			WHERE `+q.column+` = $1 AND created_at > $2`, q.value, since).Scan(&n, &oldest)
		if err != nil {
			return fmt.Errorf("count orders: %w", err)
		}
		if n >= q.limit {
			return &OrderLimitError{Limit: q.limit, Subject: q.subjectReached, RetryAt: time.UnixMicro(oldest).Add(OrderLimitWindow)}
		}
	}
	return nil
}

// PaidFen is what the application paid: the amount of its orders that are
// paid (not refunding or refunded), 0 if none.
func (p *Payments) PaidFen(ctx context.Context, applicationID string) (int64, error) {
	var sum int64
	err := p.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_fen), 0) FROM payment_orders
		WHERE application_id = $1 AND state = 'paid'`, applicationID).Scan(&sum)
	if err != nil {
		return 0, fmt.Errorf("paid amount: %w", err)
	}
	return sum, nil
}
