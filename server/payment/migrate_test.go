package payment_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// A database an older renewd left with millisecond times reads back the same
// instants once migrated to microseconds.
func TestMillisecondRowsKeepTheirInstants(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		ctx := context.Background()
		db, dsn := dbc.open(t)
		if err := payment.MigrateUpTo(ctx, db, dbc.dialect, 2); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 3, 4, 5, 6, 7, 89_000_000, time.UTC)
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		const order = `INSERT INTO payment_orders (out_trade_no, application_id, provider, amount_fen, description,
			created_at, expires_at, state, transaction_id, paid_at, closed_at, attempt_no) VALUES ($1, $2, 'wechat', 300, 'x', $3, $4, $5, $6, $7, $8, 1)`
		ms := func(d time.Duration) int64 { return at(d).UnixMilli() }
		exec(order, "UKRPAID", "A1", ms(0), ms(300*time.Second), "refunding", "T1", ms(42500*time.Millisecond), nil)
		exec(order, "UKROPEN", "A2", ms(time.Second), ms(301*time.Second), "open", nil, nil, nil)
		exec(order, "UKRCLOSED", "A3", ms(0), ms(300*time.Second), "closed", nil, nil, ms(301007*time.Millisecond))
		exec(`INSERT INTO payment_notifications (notification_id, event_type, reference, received_at)
			VALUES ('N1', 'TRANSACTION.SUCCESS', 'UKRPAID', $1)`, ms(42600*time.Millisecond))
		const refund = `INSERT INTO payment_refunds (out_refund_no, out_trade_no, application_id, amount_fen, reason, requested_by,
			state, created_at, done_at) VALUES ($1, 'UKRPAID', 'A1', 300, 'r', 'clerk:u', $2, $3, $4)`
		exec(refund, "R0", "failed", ms(99*time.Second), ms(99999*time.Millisecond))
		exec(refund, "R1", "processing", ms(100001*time.Millisecond), nil)

		// Migrating it is what renewd does on start.
		e := newEnv(t, dbCase{dbc.name, dbc.dialect, func(testing.TB) (*sql.DB, string) { return db, dsn }}, envOpts{})
		for no, want := range map[string][3]time.Time{
			"UKRPAID":   {at(0), at(300 * time.Second), at(42500 * time.Millisecond)},
			"UKROPEN":   {at(time.Second), at(301 * time.Second), {}},
			"UKRCLOSED": {at(0), at(300 * time.Second), {}},
		} {
			o, err := e.pay.Order(ctx, no)
			if err != nil {
				t.Fatal(err)
			}
			if !o.CreatedAt.Equal(want[0]) || !o.ExpiresAt.Equal(want[1]) || !o.PaidAt.Equal(want[2]) {
				t.Errorf("%s: created %v, expires %v, paid %v; want %v", no, o.CreatedAt, o.ExpiresAt, o.PaidAt, want)
			}
		}
		// The columns no method reads back.
		for q, want := range map[string]time.Time{
			`SELECT closed_at FROM payment_orders WHERE out_trade_no = 'UKRCLOSED'`:      at(301007 * time.Millisecond),
			`SELECT received_at FROM payment_notifications WHERE notification_id = 'N1'`: at(42600 * time.Millisecond),
			`SELECT created_at FROM payment_refunds WHERE out_refund_no = 'R0'`:          at(99 * time.Second),
			`SELECT done_at FROM payment_refunds WHERE out_refund_no = 'R0'`:             at(99999 * time.Millisecond),
			`SELECT created_at FROM payment_refunds WHERE out_refund_no = 'R1'`:          at(100001 * time.Millisecond),
		} {
			var us int64
			if err := db.QueryRowContext(ctx, q).Scan(&us); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if got := time.UnixMicro(us).UTC(); !got.Equal(want) {
				t.Errorf("%s: %v, want %v", q, got, want)
			}
		}
		var nulls int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_orders WHERE paid_at IS NULL AND closed_at IS NULL`).Scan(&nulls); err != nil || nulls != 1 {
			t.Errorf("orders with neither time: %d (%v), want the open one", nulls, err)
		}
		// Migrating again changes nothing.
		if err := payment.Migrate(ctx, db, dbc.dialect); err != nil {
			t.Fatal(err)
		}
		if o, err := e.pay.Order(ctx, "UKRPAID"); err != nil || !o.PaidAt.Equal(at(42500*time.Millisecond)) {
			t.Errorf("after a second migrate: paid %v (%v)", o.PaidAt, err)
		}
	})
}
