package payment

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Policy numbers.
const (
	// QRWindow is how long a QR code may be paid: 300 s, as the CAs' manuals
	// promise (WeChat's code_url itself lives 2 h; time_expire shortens it).
	QRWindow = 300 * time.Second
	// DefaultClerkCancelWindow: a clerk may cancel a paid, not issued
	// application within 7 days of payment (the reseller rule).
	DefaultClerkCancelWindow = 7 * 24 * time.Hour
	// DefaultStaffRefundLimit: staff may refund a not issued application up
	// to WeChat's own limit for refunds, one year after payment.
	DefaultStaffRefundLimit = 365 * 24 * time.Hour
	MaxApplicationIDLen     = 64
	MaxReasonLen            = 80 // WeChat's refund reason limit (characters)
	MaxDescriptionLen       = 40 // characters; WeChat allows 127 bytes, 3 per CJK character
	MaxActorLen             = 128
	// QRCreateGrace: an open order still without code_url after this long
	// was left by a crash between insert and CreateQR; it is closed and
	// replaced instead of waiting for its window to pass.
	QRCreateGrace = 2 * DefaultHTTPTimeout
	// StatusQueryInterval: Status asks the provider about an open order at
	// most this often; polls in between answer from the database (a client
	// polling every second would otherwise query 300 times a QR).
	StatusQueryInterval = 3 * time.Second
)

// PriceList gives the price of a renewal in fen; renewal.Policy is one.
type PriceList interface {
	PriceFen(years int) (int64, error)
}

// Execer runs a statement: *sql.DB and *sql.Tx are both Execers.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// AuditEvent is one payment event for the audit log.
type AuditEvent struct {
	At             time.Time
	Kind           string // e.g. "payment.qr_created", "payment.credited", "notification.refused"
	ApplicationID  string
	OutTradeNo     string
	OutRefundNo    string
	NotificationID string
	Actor          string
	AmountFen      int64
	Detail         string
	IP             string // where a notification came from
	Suppressed     int64  // refusals of the same kind not audited one by one (see RefusalWindow)
}

// AuditSink receives every payment event. Events that change state are
// recorded with q = the *sql.Tx that makes the change (same commit or none);
// refusals are recorded with q = the *sql.DB.
type AuditSink interface {
	Record(ctx context.Context, q Execer, e AuditEvent) error
}

// ApplicationPayments is the application side that the service wires to its
// store: the payment state of an application moves in the same transaction as
// the payment tables.
type ApplicationPayments interface {
	SetPaymentState(ctx context.Context, tx *sql.Tx, applicationID string, state renewal.Payment) error
	// Issued reports whether the renewed certificate was issued (no refund then).
	Issued(ctx context.Context, tx *sql.Tx, applicationID string) (bool, error)
}

// Config wires a Payments service.
type Config struct {
	// Provider is the default QR provider (WeChat Pay); Others are more
	// providers a client may choose (NewQRWith), each with a unique Name.
	Provider     Provider
	Others       []Provider
	Applications ApplicationPayments
	Audit        AuditSink
	Prices       PriceList
	// NotifyURL is the base of the notification URLs: provider p sends to
	// NotifyURL + "/" + p.Name(), e.g. https://ca.example/v1/payments/notify/wechat.
	// Mount NotifyHandler at NotifyURL + "/".
	NotifyURL   string
	Description string           // shown on the phone; default "UKey 证书续期"
	Clock       func() time.Time // default time.Now
	// ClerkCancelWindow and StaffRefundLimit default to the Default* policy numbers.
	ClerkCancelWindow time.Duration
	StaffRefundLimit  time.Duration
	// RefundCheckAfter is when a refund's job first asks for its outcome
	// (0: RefundCheckAfter; negative: at once). Only with UseJobs.
	RefundCheckAfter time.Duration
	// Log receives what needs an operator's eye (a transaction id the
	// provider gave two orders); nil: discarded.
	Log *slog.Logger
}

// Payments is the payment service over database/sql.
type Payments struct {
	db        *sql.DB
	cfg       Config
	providers map[string]Provider

	idConflicts atomic.Int64 // see TransactionIDConflicts
	refusals    *refusals
	jobs        Enqueuer // nil: no jobs (Sweep and the client's polls do the work)
}

// TransactionIDConflicts counts the payments credited whose transaction id
// the provider had already given another order (see applyPaid); the
// service exports it as a metric to alert on.
func (p *Payments) TransactionIDConflicts() int64 { return p.idConflicts.Load() }

// New checks the configuration. Run Migrate first.
func New(db *sql.DB, cfg Config) (*Payments, error) {
	if db == nil || cfg.Provider == nil || cfg.Applications == nil || cfg.Audit == nil || cfg.Prices == nil {
		return nil, fmt.Errorf("payment: db, provider, applications, audit and prices are required: %w", ErrInvalid)
	}
	if !strings.HasPrefix(cfg.NotifyURL, "https://") && !strings.HasPrefix(cfg.NotifyURL, "http://") {
		return nil, fmt.Errorf("payment: notify URL %q is not absolute: %w", cfg.NotifyURL, ErrInvalid)
	}
	if cfg.Description == "" {
		cfg.Description = "UKey 证书续期"
	}
	if n := len([]rune(cfg.Description)); n > MaxDescriptionLen {
		return nil, fmt.Errorf("payment: description has %d characters, at most %d: %w", n, MaxDescriptionLen, ErrInvalid)
	}
	providers := map[string]Provider{}
	for _, pr := range append([]Provider{cfg.Provider}, cfg.Others...) {
		if pr == nil || pr.Name() == "" || strings.ContainsAny(pr.Name(), "/?#") {
			return nil, fmt.Errorf("payment: a provider is nil or badly named: %w", ErrInvalid)
		}
		if providers[pr.Name()] != nil {
			return nil, fmt.Errorf("payment: two providers named %q: %w", pr.Name(), ErrInvalid)
		}
		providers[pr.Name()] = pr
	}
	cfg.NotifyURL = strings.TrimSuffix(cfg.NotifyURL, "/")
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.ClerkCancelWindow <= 0 {
		cfg.ClerkCancelWindow = DefaultClerkCancelWindow
	}
	if cfg.StaffRefundLimit <= 0 {
		cfg.StaffRefundLimit = DefaultStaffRefundLimit
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Payments{db: db, cfg: cfg, providers: providers, refusals: newRefusals()}, nil
}

func (p *Payments) provider(name string) (Provider, error) {
	pr, ok := p.providers[name]
	if !ok {
		return nil, fmt.Errorf("provider %q is not configured: %w", name, ErrInvalid)
	}
	return pr, nil
}

func (p *Payments) notifyURL(pr Provider) string { return p.cfg.NotifyURL + "/" + pr.Name() }

// Order states in payment_orders.
const (
	OrderOpen      = "open"      // QR shown, within its window or not yet closed
	OrderPaid      = "paid"      // money taken, credited to the application
	OrderClosed    = "closed"    // window over, closed unpaid at the provider
	OrderRefunding = "refunding" // refund asked
	OrderRefunded  = "refunded"  // refund confirmed
)

// Order is one QR attempt.
type Order struct {
	OutTradeNo    string
	ApplicationID string
	Provider      string
	AmountFen     int64
	CodeURL       string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	State         string
	TransactionID string
	PaidAt        time.Time
	// TransactionIDConflict is the transaction id the provider sent for
	// this payment when another order already had it: the order was
	// credited with TransactionID empty, and needs reconciling by hand.
	TransactionIDConflict string
}

const orderColumns = `out_trade_no, application_id, provider, amount_fen, code_url, created_at, expires_at, state,
	COALESCE(transaction_id, ''), COALESCE(paid_at, 0), COALESCE(transaction_id_conflict, '')`

type scanner interface{ Scan(dest ...any) error }

func scanOrder(s scanner) (Order, error) {
	var o Order
	var created, expires, paid int64
	if err := s.Scan(&o.OutTradeNo, &o.ApplicationID, &o.Provider, &o.AmountFen, &o.CodeURL, &created, &expires,
		&o.State, &o.TransactionID, &paid, &o.TransactionIDConflict); err != nil {
		return Order{}, err
	}
	o.CreatedAt, o.ExpiresAt = time.UnixMicro(created), time.UnixMicro(expires)
	if paid != 0 {
		o.PaidAt = time.UnixMicro(paid)
	}
	return o, nil
}

func validApplicationID(id string) error {
	if id == "" || len(id) > MaxApplicationIDLen || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return fmt.Errorf("application id must be 1..%d printable ASCII characters: %w", MaxApplicationIDLen, ErrInvalid)
	}
	return nil
}

func newReference(prefix string, now time.Time) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	// 3 + 14 + 10 = 27 characters: within WeChat's 6..32 [A-Za-z0-9_-|*].
	return prefix + now.UTC().Format("20060102150405") + strings.ToUpper(hex.EncodeToString(b))
}

func (p *Payments) audit(ctx context.Context, q Execer, e AuditEvent) error {
	if e.At.IsZero() {
		e.At = p.cfg.Clock()
	}
	if err := p.cfg.Audit.Record(ctx, q, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Kind, err)
	}
	return nil
}

func (p *Payments) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (p *Payments) latestOrder(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, appID string) (Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM payment_orders
		WHERE application_id = $1 ORDER BY attempt_no DESC LIMIT 1`, appID))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, fmt.Errorf("application %s: %w", appID, ErrNotFound)
	}
	if err != nil {
		return Order{}, fmt.Errorf("read order: %w", err)
	}
	return o, nil
}

// Order reads one order.
func (p *Payments) Order(ctx context.Context, outTradeNo string) (Order, error) {
	o, err := scanOrder(p.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM payment_orders WHERE out_trade_no = $1`, outTradeNo))
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, fmt.Errorf("order %s: %w", outTradeNo, ErrUnknownOrder)
	}
	if err != nil {
		return Order{}, fmt.Errorf("read order: %w", err)
	}
	return o, nil
}

// NewQR returns the application's live QR code, or makes a new attempt (a new
// out_trade_no) once the last one is over: its window passed, it was queried
// and closed unpaid. The amount is the price of years from the price list.
// ExpiresAt is exactly QRWindow after CreatedAt (whole seconds, as
// time_expire is sent to WeChat with second precision).
func (p *Payments) NewQR(ctx context.Context, applicationID string, years int) (Order, error) {
	return p.NewQRWith(ctx, applicationID, years, p.cfg.Provider.Name())
}

// NewQRWith is NewQR with the provider the clerk chose. A live QR of
// another provider, or of another amount (the years changed), is closed
// first (unless it was paid meanwhile).
func (p *Payments) NewQRWith(ctx context.Context, applicationID string, years int, providerName string) (Order, error) {
	return p.NewQRCapped(ctx, applicationID, years, providerName, OrderCap{})
}

// NewQRCapped is NewQRWith ("" names the default provider) that makes at
// most the cap's orders for the application and for its subject within
// OrderLimitWindow; over it, an *OrderLimitError says when the next may be made. The
// live QR is answered again whatever the count: only a new order counts,
// and the cap is checked before the live one of another provider or
// amount is closed at its provider.
func (p *Payments) NewQRCapped(ctx context.Context, applicationID string, years int, providerName string, lim OrderCap) (Order, error) {
	if providerName == "" {
		providerName = p.cfg.Provider.Name()
	}
	pr, err := p.provider(providerName)
	if err != nil {
		return Order{}, fmt.Errorf("new qr: %w", err)
	}
	if err := validApplicationID(applicationID); err != nil {
		return Order{}, fmt.Errorf("new qr: %w", err)
	}
	amount, err := p.cfg.Prices.PriceFen(years)
	if err != nil {
		return Order{}, fmt.Errorf("new qr: %v: %w", err, ErrNoPrice)
	}
	if amount <= 0 {
		return Order{}, fmt.Errorf("new qr: price for %d years is %d fen: %w", years, amount, ErrNoPrice)
	}
	last, err := p.latestOrder(ctx, p.db, applicationID)
	switch {
	case errors.Is(err, ErrNotFound):
		// The application's first order: its subject may have had others.
		if err := p.underOrderLimit(ctx, applicationID, lim); err != nil {
			return Order{}, fmt.Errorf("new qr: %w", err)
		}
	case err != nil:
		return Order{}, fmt.Errorf("new qr: %w", err)
	case last.State == OrderOpen:
		now := p.cfg.Clock()
		same := last.Provider == providerName && last.AmountFen == amount
		if same && now.Before(last.ExpiresAt) && last.CodeURL != "" {
			return last, nil
		}
		if now.Before(last.ExpiresAt) && last.CodeURL == "" && now.Sub(last.CreatedAt) < QRCreateGrace {
			return Order{}, fmt.Errorf("new qr: order %s is being created: %w", last.OutTradeNo, ErrBusy)
		}
		if err := p.underOrderLimit(ctx, applicationID, lim); err != nil {
			return Order{}, fmt.Errorf("new qr: %w", err)
		}
		if last, err = p.expire(ctx, last); err != nil {
			return Order{}, fmt.Errorf("new qr: close last attempt: %w", err)
		}
		if last.State != OrderClosed {
			return Order{}, fmt.Errorf("new qr: last attempt %s is %s: %w", last.OutTradeNo, last.State, ErrAlreadyPaid)
		}
	case last.State == OrderClosed:
		if err := p.underOrderLimit(ctx, applicationID, lim); err != nil {
			return Order{}, fmt.Errorf("new qr: %w", err)
		}
	default:
		return Order{}, fmt.Errorf("new qr: order %s is %s: %w", last.OutTradeNo, last.State, ErrAlreadyPaid)
	}

	now := p.cfg.Clock().Truncate(time.Second)
	o := Order{
		OutTradeNo: newReference("UKR", now), ApplicationID: applicationID, Provider: pr.Name(),
		AmountFen: amount, CreatedAt: now, ExpiresAt: now.Add(QRWindow), State: OrderOpen,
	}
	// The row exists before the provider hears of the order, so a crash in
	// between leaves an open order that the sweeper queries and closes.
	err = p.inTx(ctx, func(tx *sql.Tx) error {
		// attempt_no orders the attempts (unique per application: of two
		// concurrent inserts one fails, as with the one-open-order index).
		if _, err := tx.ExecContext(ctx, `INSERT INTO payment_orders
			(out_trade_no, application_id, provider, amount_fen, description, created_at, expires_at, state, attempt_no, subject)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 'open',
				(SELECT COALESCE(MAX(attempt_no), 0) + 1 FROM payment_orders WHERE application_id = $2), $8)`,
			o.OutTradeNo, o.ApplicationID, o.Provider, o.AmountFen, p.cfg.Description, o.CreatedAt.UnixMicro(), o.ExpiresAt.UnixMicro(), lim.Subject); err != nil {
			return fmt.Errorf("insert order (another QR may be live): %w", err)
		}
		return p.audit(ctx, tx, AuditEvent{At: now, Kind: "payment.qr_requested", ApplicationID: applicationID, OutTradeNo: o.OutTradeNo, AmountFen: amount})
	})
	if err != nil {
		if live, lerr := p.latestOrder(ctx, p.db, applicationID); lerr == nil && live.State == OrderOpen && live.CodeURL != "" {
			return live, nil // a concurrent request made it
		}
		return Order{}, fmt.Errorf("new qr: %w", err)
	}
	code, err := pr.CreateQR(ctx, QRRequest{
		OutTradeNo: o.OutTradeNo, Description: p.cfg.Description, AmountFen: amount,
		ExpiresAt: o.ExpiresAt, NotifyURL: p.notifyURL(pr), Attach: applicationID,
	})
	if err != nil {
		if errors.Is(err, ErrRejected) {
			// A definite refusal: nothing to pay, free the slot for a new attempt.
			_ = p.inTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `UPDATE payment_orders SET state = 'closed', closed_at = $1 WHERE out_trade_no = $2 AND state = 'open'`,
					p.cfg.Clock().UnixMicro(), o.OutTradeNo); err != nil {
					return err
				}
				return p.audit(ctx, tx, AuditEvent{Kind: "payment.qr_refused", ApplicationID: applicationID, OutTradeNo: o.OutTradeNo, Detail: err.Error()})
			})
		}
		return Order{}, fmt.Errorf("new qr: %w", err)
	}
	o.CodeURL = code
	err = p.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE payment_orders SET code_url = $1 WHERE out_trade_no = $2`, code, o.OutTradeNo); err != nil {
			return fmt.Errorf("store code_url: %w", err)
		}
		return p.audit(ctx, tx, AuditEvent{Kind: "payment.qr_created", ApplicationID: applicationID, OutTradeNo: o.OutTradeNo, AmountFen: amount,
			Detail: "expires " + o.ExpiresAt.UTC().Format(time.RFC3339)})
	})
	if err != nil {
		return Order{}, fmt.Errorf("new qr: %w", err)
	}
	return o, nil
}

// expire ends an open order whose window is over: query the provider; if it
// was paid (at the last second, notification not yet here) apply the payment;
// otherwise close it there, and if the close says it was paid meanwhile,
// query again and apply.
func (p *Payments) expire(ctx context.Context, o Order) (Order, error) {
	if o.State != OrderOpen {
		return o, nil
	}
	pr, err := p.provider(o.Provider)
	if err != nil {
		return o, err
	}
	t, err := pr.Query(ctx, o.OutTradeNo)
	switch {
	case errors.Is(err, ErrOrderNotFound):
		// The provider never made it (crash before CreateQR answered).
	case err != nil:
		return o, fmt.Errorf("query %s: %w", o.OutTradeNo, err)
	case t.Paid():
		if err := p.applyPaid(ctx, t, "", "query"); err != nil {
			return o, err
		}
		return p.Order(ctx, o.OutTradeNo)
	case t.TradeState != TradeClosed:
		if err := pr.Close(ctx, o.OutTradeNo); errors.Is(err, ErrOrderPaid) {
			t, err := pr.Query(ctx, o.OutTradeNo)
			if err != nil {
				return o, fmt.Errorf("query %s after close: %w", o.OutTradeNo, err)
			}
			if err := p.applyPaid(ctx, t, "", "query"); err != nil {
				return o, err
			}
			return p.Order(ctx, o.OutTradeNo)
		} else if err != nil && !errors.Is(err, ErrOrderNotFound) {
			return o, fmt.Errorf("close %s: %w", o.OutTradeNo, err)
		}
	}
	now := p.cfg.Clock()
	err = p.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE payment_orders SET state = 'closed', closed_at = $1 WHERE out_trade_no = $2 AND state = 'open'`,
			now.UnixMicro(), o.OutTradeNo)
		if err != nil {
			return fmt.Errorf("close order: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return p.audit(ctx, tx, AuditEvent{At: now, Kind: "payment.qr_closed", ApplicationID: o.ApplicationID, OutTradeNo: o.OutTradeNo,
			Detail: fmt.Sprintf("unpaid %s after the %s window", now.Sub(o.CreatedAt).Round(time.Second), QRWindow)})
	})
	if err != nil {
		return o, err
	}
	return p.Order(ctx, o.OutTradeNo)
}

// CloseOpen ends the application's live QR order now, before its window is
// over (the application was cancelled): it is queried and closed at the
// provider, or credited if it was paid meanwhile. No open order: nothing to do.
func (p *Payments) CloseOpen(ctx context.Context, applicationID string) (Order, error) {
	if err := validApplicationID(applicationID); err != nil {
		return Order{}, fmt.Errorf("close open: %w", err)
	}
	o, err := p.latestOrder(ctx, p.db, applicationID)
	if errors.Is(err, ErrNotFound) {
		return Order{}, nil
	}
	if err != nil {
		return Order{}, fmt.Errorf("close open: %w", err)
	}
	if o.State != OrderOpen {
		return o, nil
	}
	o, err = p.expire(ctx, o)
	if err != nil {
		return o, fmt.Errorf("close open: %w", err)
	}
	return o, nil
}

// MaxSweep is how many expired orders one ExpireDue call handles.
const MaxSweep = 100

// ExpireDue closes (or credits, if found paid) every open order whose window
// is over, at most MaxSweep a call. Run it every few seconds.
func (p *Payments) ExpireDue(ctx context.Context) (int, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+orderColumns+` FROM payment_orders WHERE state = 'open' AND expires_at <= $1
		ORDER BY expires_at LIMIT `+fmt.Sprint(MaxSweep), p.cfg.Clock().UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("expire due: %w", err)
	}
	var due []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("expire due: %w", err)
		}
		due = append(due, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("expire due: %w", err)
	}
	var errs []error
	for _, o := range due {
		if _, err := p.expire(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	return len(due), errors.Join(errs...)
}

// MinSweepInterval is the shortest interval Sweep accepts.
const MinSweepInterval = 100 * time.Millisecond

// Sweep runs ExpireDue and FlushRefusals every interval (at least MinSweepInterval) until ctx
// ends, passing its errors to onErr (nil: dropped). Run it in a goroutine.
func (p *Payments) Sweep(ctx context.Context, interval time.Duration, onErr func(error)) {
	tick := time.NewTicker(max(interval, MinSweepInterval))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, err := p.ExpireDue(ctx)
			if err := errors.Join(err, p.FlushRefusals(ctx)); err != nil && onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}

// Status is what the client shows: the application's payment state and its
// latest QR attempt. Stale is set when the provider could not be asked: the
// state is then what this database knows, and the client should poll again.
type Status struct {
	State renewal.Payment
	Order Order
	Stale bool
}

// Status answers the client's poll. For an open order it asks the provider,
// so a payment whose notification never came is applied all the same; an
// order past its window is expired on the spot.
func (p *Payments) Status(ctx context.Context, applicationID string) (Status, error) {
	if err := validApplicationID(applicationID); err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	o, err := p.latestOrder(ctx, p.db, applicationID)
	if errors.Is(err, ErrNotFound) {
		return Status{State: renewal.PaymentUnpaid}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	if o.State == OrderOpen {
		if !p.cfg.Clock().Before(o.ExpiresAt) {
			expired, err := p.expire(ctx, o)
			if err != nil {
				return Status{State: renewal.PaymentUnpaid, Order: o, Stale: true}, nil
			}
			o = expired
		} else if pr, perr := p.provider(o.Provider); perr == nil && o.CodeURL != "" && p.mayQuery(ctx, o.OutTradeNo) {
			t, err := pr.Query(ctx, o.OutTradeNo)
			if errors.Is(err, ErrOrderNotFound) {
				// Alipay: nobody scanned the QR yet, so there is no trade.
				return Status{State: renewal.PaymentUnpaid, Order: o}, nil
			}
			if err != nil {
				return Status{State: renewal.PaymentUnpaid, Order: o, Stale: true}, nil
			}
			if t.Paid() {
				if err := p.applyPaid(ctx, t, "", "query"); err != nil {
					return Status{}, fmt.Errorf("status: %w", err)
				}
				if o, err = p.Order(ctx, o.OutTradeNo); err != nil {
					return Status{}, fmt.Errorf("status: %w", err)
				}
			}
		}
	}
	if o.State == OrderRefunding {
		if err := p.syncRefund(ctx, o.OutTradeNo); err != nil {
			return Status{State: renewal.PaymentRefunding, Order: o, Stale: true}, nil
		}
		if o, err = p.Order(ctx, o.OutTradeNo); err != nil {
			return Status{}, fmt.Errorf("status: %w", err)
		}
	}
	return Status{State: paymentState(o.State), Order: o}, nil
}

// mayQuery says whether Status may ask the provider about an order now, and
// if so notes the time, in the order's row: every replica of the service
// asks at most once a StatusQueryInterval (a clock behind the last query's
// does not wait for it).
func (p *Payments) mayQuery(ctx context.Context, outTradeNo string) bool {
	now := p.cfg.Clock().UnixMicro()
	res, err := p.db.ExecContext(ctx, `UPDATE payment_orders SET status_queried_at = $1 WHERE out_trade_no = $2
		AND (status_queried_at IS NULL OR status_queried_at <= $3 OR status_queried_at > $1)`,
		now, outTradeNo, now-StatusQueryInterval.Microseconds())
	if err != nil {
		return false
	}
	n, _ := res.RowsAffected()
	return n == 1
}

func paymentState(orderState string) renewal.Payment {
	switch orderState {
	case OrderPaid:
		return renewal.PaymentPaid
	case OrderRefunding:
		return renewal.PaymentRefunding
	case OrderRefunded:
		return renewal.PaymentRefunded
	}
	return renewal.PaymentUnpaid
}

// applyPaid credits a paid transaction exactly once, in one transaction:
// the notification id (if any) is recorded, the order moves to paid (only
// from open or closed), the application's payment state moves, the audit
// event is written. A replay or a second path (notification and query)
// finds the id or the state taken and changes nothing.
// It returns ErrUnknownOrder, ErrAmountMismatch or ErrNotSuccess (nothing
// written) for a transaction that does not match.
//
// A transaction id that another order already holds (a provider repeating
// an id: the dev simulator did after a restart) does not refuse the
// payment: the provider vouched for this out_trade_no and amount, which is
// what a credit rests on, and refusing would leave the order open for the
// sweeper to query and fail on every 5 s, the status poll failing with it,
// the provider's retries refused. The order is credited with
// transaction_id left empty and the provider's id in
// transaction_id_conflict, a payment.transaction_id_conflict audit event
// names both orders, an error is logged and TransactionIDConflicts counts
// it: the CA reconciles the two payments with the provider's statement.
func (p *Payments) applyPaid(ctx context.Context, t Transaction, notificationID, source string) error {
	now := p.cfg.Clock()
	var conflictWith string
	err := p.inTx(ctx, func(tx *sql.Tx) error {
		conflictWith = ""
		var appID, state string
		var amount int64
		err := tx.QueryRowContext(ctx, `SELECT application_id, amount_fen, state FROM payment_orders WHERE out_trade_no = $1`, t.OutTradeNo).
			Scan(&appID, &amount, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("out_trade_no %q: %w", t.OutTradeNo, ErrUnknownOrder)
		}
		if err != nil {
			return fmt.Errorf("read order: %w", err)
		}
		if t.TotalFen != amount || (t.Currency != "" && t.Currency != "CNY") {
			return fmt.Errorf("order %s: paid %d %s, order is %d CNY: %w", t.OutTradeNo, t.TotalFen, t.Currency, amount, ErrAmountMismatch)
		}
		if !t.Paid() {
			return fmt.Errorf("order %s: trade_state %s: %w", t.OutTradeNo, t.TradeState, ErrNotSuccess)
		}
		if notificationID != "" {
			res, err := tx.ExecContext(ctx, `INSERT INTO payment_notifications (notification_id, event_type, reference, received_at)
				VALUES ($1, 'TRANSACTION.SUCCESS', $2, $3) ON CONFLICT (notification_id) DO NOTHING`, notificationID, t.OutTradeNo, now.UnixMicro())
			if err != nil {
				return fmt.Errorf("record notification: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return p.auditReplay(ctx, tx, AuditEvent{At: now, Kind: "notification.replayed", ApplicationID: appID, OutTradeNo: t.OutTradeNo,
					NotificationID: notificationID, Detail: "already applied; nothing credited"})
			}
		}
		paidAt := t.SuccessTime
		if paidAt.IsZero() {
			paidAt = now
		}
		txID, conflictID := sql.NullString{String: t.TransactionID, Valid: t.TransactionID != ""}, sql.NullString{}
		if t.TransactionID != "" && (state == OrderOpen || state == OrderClosed) {
			err := tx.QueryRowContext(ctx, `SELECT out_trade_no FROM payment_orders WHERE transaction_id = $1 AND out_trade_no <> $2`,
				t.TransactionID, t.OutTradeNo).Scan(&conflictWith)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return fmt.Errorf("look for transaction id %s: %w", t.TransactionID, err)
			default:
				txID, conflictID = sql.NullString{}, sql.NullString{String: t.TransactionID, Valid: true}
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE payment_orders SET state = 'paid', transaction_id = $1, paid_at = $2,
			transaction_id_conflict = $3 WHERE out_trade_no = $4 AND state IN ('open', 'closed')`, txID, paidAt.UnixMicro(), conflictID, t.OutTradeNo)
		if err != nil {
			return fmt.Errorf("mark order paid: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			conflictWith = ""
			if notificationID != "" {
				return p.auditReplay(ctx, tx, AuditEvent{At: now, Kind: "notification.duplicate", ApplicationID: appID, OutTradeNo: t.OutTradeNo,
					NotificationID: notificationID, Detail: "order already " + state + "; nothing credited"})
			}
			return nil
		}
		if err := p.cfg.Applications.SetPaymentState(ctx, tx, appID, renewal.PaymentPaid); err != nil {
			return fmt.Errorf("set application %s paid: %w", appID, err)
		}
		detail := "via " + source + ", paid at " + paidAt.UTC().Format(time.RFC3339)
		if state == OrderClosed {
			detail += "; the order had been closed here: check for a second payment"
		}
		if conflictWith != "" {
			if err := p.audit(ctx, tx, AuditEvent{At: now, Kind: "payment.transaction_id_conflict", ApplicationID: appID, OutTradeNo: t.OutTradeNo,
				NotificationID: notificationID, AmountFen: amount, Detail: fmt.Sprintf("%s gave transaction id %s, which order %s already has: "+
					"credited without it, reconcile with the provider's statement", source, t.TransactionID, conflictWith)}); err != nil {
				return err
			}
		}
		return p.audit(ctx, tx, AuditEvent{At: now, Kind: "payment.credited", ApplicationID: appID, OutTradeNo: t.OutTradeNo,
			NotificationID: notificationID, AmountFen: amount, Detail: detail})
	})
	if err == nil && conflictWith != "" {
		p.idConflicts.Add(1)
		p.cfg.Log.ErrorContext(ctx, "payment: the provider gave a transaction id another order already has; credited without it, reconcile by hand",
			"out_trade_no", t.OutTradeNo, "transaction_id", t.TransactionID, "other_out_trade_no", conflictWith, "via", source)
	}
	return err
}
