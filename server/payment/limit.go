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

// OrderLimitError is ErrTooManyOrders with the cap and when the next order
// may be made.
type OrderLimitError struct {
	Limit   int
	RetryAt time.Time
}

func (e *OrderLimitError) Error() string {
	return fmt.Sprintf("%s: %d within %s; next at %s", ErrTooManyOrders, e.Limit, OrderLimitWindow, e.RetryAt.UTC().Format(time.RFC3339))
}

func (e *OrderLimitError) Unwrap() error { return ErrTooManyOrders }

// underOrderLimit refuses another order for the application when it made
// limit orders within OrderLimitWindow (limit 0: no cap).
func (p *Payments) underOrderLimit(ctx context.Context, applicationID string, limit int) error {
	if limit <= 0 {
		return nil
	}
	now := p.cfg.Clock()
	var n int
	var oldest int64
	err := p.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM payment_orders
		WHERE application_id = $1 AND created_at > $2`, applicationID, now.Add(-OrderLimitWindow).UnixMicro()).Scan(&n, &oldest)
	if err != nil {
		return fmt.Errorf("count orders: %w", err)
	}
	if n < limit {
		return nil
	}
	return &OrderLimitError{Limit: limit, RetryAt: time.UnixMicro(oldest).Add(OrderLimitWindow)}
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
