package payment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Refused notifications are audited, but anyone can post to the notify URL:
// an unsigned flood must not grow the hash-chained log without bound. A
// refusal is audited at most once a RefusalWindow per key (provider,
// source, reason, and the notification id once one was read from a signed
// notification); the refusals in between are counted and the count is
// written with the key's next row ("suppressed"), or by FlushRefusals
// (which Sweep runs) when the window has ended. Every refusal is counted
// in RefusalCounts (the service exports it to Prometheus). Replays of a
// signed notification acknowledged without effect ("notification.ignored")
// are logged the same way, per notification id.
//
// Bound: an unsigned request can reach 3 reasons at WeChat Pay
// (bad_signature, timestamp_skew, bad_notification) and 2 at Alipay
// (bad_signature, bad_notification), so one source writes at most 5 rows a
// minute, each of at most MaxRefusalDetail bytes of detail (under 1 KiB a
// row); MaxRefusalKeys keys are tracked at once, refusals of sources
// beyond them are counted and written as one row a window.
const (
	RefusalWindow    = time.Minute
	MaxRefusalKeys   = 10_000
	MaxRefusalDetail = 512 // bytes of an audit row's detail
	maxQuoted        = 64  // bytes of a text a caller sent, quoted in an error
)

// Refusal reasons, the labels of RefusalCounts.
const (
	ReasonBadSignature    = "bad_signature"
	ReasonTimestampSkew   = "timestamp_skew"
	ReasonBadNotification = "bad_notification"
	ReasonWrongMerchant   = "wrong_merchant"
	ReasonUnknownOrder    = "unknown_order"
	ReasonAmountMismatch  = "amount_mismatch"
	ReasonNotSuccess      = "not_success"
	ReasonOther           = "other"
)

// refusalReason names the kind of a refusal.
func refusalReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{ErrBadSignature, ReasonBadSignature}, {ErrTimestampSkew, ReasonTimestampSkew},
		{ErrBadNotification, ReasonBadNotification}, {ErrWrongMerchant, ReasonWrongMerchant},
		{ErrUnknownOrder, ReasonUnknownOrder}, {ErrAmountMismatch, ReasonAmountMismatch},
		{ErrNotSuccess, ReasonNotSuccess},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return ReasonOther
}

// Source is where a notification came from: IP for the audit row, Key
// for counting (the service gives an IPv6 address's /64).
type Source struct{ IP, Key string }

type sourceKey struct{}

// WithSource tells HandleNotification where the request came from (the
// service's client address behind its trusted proxies); without it the
// connection's address is used.
func WithSource(ctx context.Context, s Source) context.Context {
	return context.WithValue(ctx, sourceKey{}, s)
}

func sourceOf(ctx context.Context, r *http.Request) Source {
	if s, ok := ctx.Value(sourceKey{}).(Source); ok && s.IP != "" {
		if s.Key == "" {
			s.Key = s.IP
		}
		return s
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	host = clip(host, 64)
	return Source{IP: host, Key: host}
}

type refusalKey struct{ kind, provider, source, reason, notification string }

// overflowSource marks the row counting a provider's refusals beyond the
// tracked keys (no source is "*").
const overflowSource = "*"

// RefusalCount is the number of refusals of one provider and reason since
// the service started.
type RefusalCount struct {
	Provider, Reason string
	N                int64
}

// refusals counts this process's refusals for the metrics (each replica
// exports its own; Prometheus adds them up). The audit windows are rows
// of payment_refusal_windows, shared by every replica.
type refusals struct {
	mu     sync.Mutex
	counts map[[2]string]int64
}

func newRefusals() *refusals {
	return &refusals{counts: map[[2]string]int64{}}
}

// RefusalCounts returns the refusals counted since the start, by provider
// and reason, sorted.
func (p *Payments) RefusalCounts() []RefusalCount {
	rf := p.refusals
	rf.mu.Lock()
	out := make([]RefusalCount, 0, len(rf.counts))
	for k, n := range rf.counts {
		out = append(out, RefusalCount{Provider: k[0], Reason: k[1], N: n})
	}
	rf.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Provider < out[j].Provider || out[i].Provider == out[j].Provider && out[i].Reason < out[j].Reason
	})
	return out
}

// refused counts a refused notification and audits it unless its key was
// audited within the window.
func (p *Payments) refused(ctx context.Context, provider string, src Source, e AuditEvent, err error) {
	reason := refusalReason(err)
	p.refusals.mu.Lock()
	p.refusals.counts[[2]string{provider, reason}]++
	p.refusals.mu.Unlock()
	e.Kind = "notification.refused"
	e.Detail = clip(provider+" "+reason+": "+err.Error(), MaxRefusalDetail)
	_ = p.auditOnce(ctx, provider, src, reason, e)
}

// auditOnce writes e unless a row of its key (e.Kind, provider, source,
// reason, notification id) was written within the window; then it is
// counted, for the key's next row. The write is deadline-free of the
// request, so that a client hang-up does not lose it. A replayed signed
// notification that is acknowledged without effect goes through here too:
// Alipay's carry no time, so one captured could be replayed for ever.
func (p *Payments) auditOnce(ctx context.Context, provider string, src Source, reason string, e AuditEvent) error {
	ctx = context.WithoutCancel(ctx)
	k := refusalKey{kind: e.Kind, provider: provider, source: src.Key, reason: reason, notification: e.NotificationID}
	return p.inTx(ctx, func(tx *sql.Tx) error {
		now := p.cfg.Clock()
		write, suppressed, err := p.note(ctx, tx, now, k, src.IP)
		if err != nil || !write {
			return err
		}
		e.IP, e.Suppressed, e.At = src.IP, suppressed, now
		return p.audit(ctx, tx, e)
	})
}

// refusalSet is the window step of a key: within its window a refusal is
// counted, else it is written (prior: the count it carries) and opens a
// new window. $1 now, $2 the new window's end, $3 the source's address.
const refusalSet = `
	suppressed = CASE WHEN payment_refusal_windows.window_end > $1 THEN payment_refusal_windows.suppressed + 1 ELSE 0 END,
	prior = CASE WHEN payment_refusal_windows.window_end > $1 THEN 0 ELSE payment_refusal_windows.suppressed END,
	written = CASE WHEN payment_refusal_windows.window_end > $1 THEN 0 ELSE 1 END,
	ip = CASE WHEN payment_refusal_windows.window_end > $1 THEN payment_refusal_windows.ip ELSE $3 END,
	window_end = CASE WHEN payment_refusal_windows.window_end > $1 THEN payment_refusal_windows.window_end ELSE $2 END`

// note says, inside tx, whether a row of key k is to be written now (the
// first in a window) and how many of its key were counted since the key's
// last row; else it counts it. Beyond MaxRefusalKeys live keys, an
// unsigned refusal (no notification id) is counted with its provider's
// overflow instead; a signed notification always gets its key: only the
// provider can make those. One conditional statement decides, so
// replicas counting the same key at once count each refusal once.
func (p *Payments) note(ctx context.Context, tx *sql.Tx, now time.Time, k refusalKey, ip string) (bool, int64, error) {
	args := []any{now.UnixMicro(), now.Add(RefusalWindow).UnixMicro(), ip, k.kind, k.provider, k.source, k.reason, k.notification}
	var written int
	var prior int64
	err := tx.QueryRowContext(ctx, `UPDATE payment_refusal_windows SET `+refusalSet+`
		WHERE kind = $4 AND provider = $5 AND source = $6 AND reason = $7 AND notification = $8 RETURNING written, prior`, args...).Scan(&written, &prior)
	if errors.Is(err, sql.ErrNoRows) {
		var keys int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_refusal_windows WHERE source <> $1`, overflowSource).Scan(&keys); err != nil {
			return false, 0, fmt.Errorf("refusal window: %w", err)
		}
		if keys >= MaxRefusalKeys && k.notification == "" {
			_, err := tx.ExecContext(ctx, `INSERT INTO payment_refusal_windows (kind, provider, source, reason, notification, window_end, ip,
				suppressed, prior, written) VALUES ('notification.refused', $1, $2, '', '', $3, '', 1, 0, 0)
				ON CONFLICT (kind, provider, source, reason, notification) DO UPDATE SET suppressed = payment_refusal_windows.suppressed + 1`,
				k.provider, overflowSource, now.UnixMicro())
			if err != nil {
				return false, 0, fmt.Errorf("refusal window: %w", err)
			}
			return false, 0, nil
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO payment_refusal_windows (window_end, ip, kind, provider, source, reason, notification,
			suppressed, prior, written) VALUES ($2, $3, $4, $5, $6, $7, $8, 0, 0, 1)
			ON CONFLICT (kind, provider, source, reason, notification) DO UPDATE SET `+refusalSet+` RETURNING written, prior`, args...).
			Scan(&written, &prior)
	}
	if err != nil {
		return false, 0, fmt.Errorf("refusal window: %w", err)
	}
	return written == 1, prior, nil
}

// auditReplay writes e (a repeated signed notification, inside tx) unless
// one of its kind and notification id was written within the window: the
// first in a window is, the rest are counted and written by FlushRefusals
// as one row. A captured Alipay notice carries no time and can be replayed
// for ever; the audit grows by one row a window.
func (p *Payments) auditReplay(ctx context.Context, tx *sql.Tx, e AuditEvent) error {
	write, suppressed, err := p.note(ctx, tx, p.cfg.Clock(), refusalKey{kind: e.Kind, notification: e.NotificationID}, "")
	if err != nil || !write {
		return err
	}
	e.Suppressed = suppressed
	return p.audit(ctx, tx, e)
}

// FlushRefusals writes the counts of refusals not audited one by one whose
// window has ended, and forgets the keys whose window ended quietly. Sweep
// runs it; it is safe to run at any time, on every replica at once: each
// step is conditional on the count it read.
func (p *Payments) FlushRefusals(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	now := p.cfg.Clock()
	type due struct {
		k      refusalKey
		end, n int64
		ip     string
	}
	rows, err := p.db.QueryContext(ctx, `SELECT kind, provider, source, reason, notification, window_end, suppressed, ip
		FROM payment_refusal_windows WHERE window_end <= $1`, now.UnixMicro())
	if err != nil {
		return fmt.Errorf("flush refusals: %w", err)
	}
	var ds []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.k.kind, &d.k.provider, &d.k.source, &d.k.reason, &d.k.notification, &d.end, &d.n, &d.ip); err != nil {
			rows.Close()
			return fmt.Errorf("flush refusals: %w", err)
		}
		ds = append(ds, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("flush refusals: %w", err)
	}
	const where = `WHERE kind = $1 AND provider = $2 AND source = $3 AND reason = $4 AND notification = $5 AND window_end = $6 AND suppressed = $7`
	var errs []error
	for _, d := range ds {
		pk := []any{d.k.kind, d.k.provider, d.k.source, d.k.reason, d.k.notification, d.end, d.n}
		if d.n == 0 {
			if _, err := p.db.ExecContext(ctx, `DELETE FROM payment_refusal_windows `+where, pk...); err != nil {
				errs = append(errs, fmt.Errorf("flush refusals: %w", err))
			}
			continue
		}
		errs = append(errs, p.inTx(ctx, func(tx *sql.Tx) error {
			// The row opens a window of its own, as a refusal's row does.
			res, err := tx.ExecContext(ctx, `UPDATE payment_refusal_windows SET suppressed = 0, window_end = $8 `+where,
				append(pk, now.Add(RefusalWindow).UnixMicro())...)
			if err != nil {
				return fmt.Errorf("flush refusals: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // counted into a row meanwhile, here or on another replica
			}
			e := AuditEvent{At: now, Kind: d.k.kind, IP: d.ip, NotificationID: d.k.notification, Suppressed: d.n,
				Detail: fmt.Sprintf("%s %s: %d more of this kind from this source", d.k.provider, d.k.reason, d.n)}
			switch {
			case d.k.source == overflowSource:
				e.Detail = fmt.Sprintf("%s: %d refusals from sources beyond the %d tracked at once", d.k.provider, d.n, MaxRefusalKeys)
			case d.k.provider == "": // a repeated signed notification (auditReplay)
				e.Detail = fmt.Sprintf("%d more repeats of this notification; nothing credited", d.n)
			}
			return p.audit(ctx, tx, e)
		}))
	}
	return errors.Join(errs...)
}

// quoted is a text a caller sent, for an error message: quoted, at most
// maxQuoted bytes of it, and only if it is UTF-8; else its length.
func quoted(s string) string {
	if !utf8.ValidString(s) {
		return "(" + strconv.Itoa(len(s)) + " bytes, not UTF-8)"
	}
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(cutUTF8(s, maxQuoted)) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// clip cuts s to at most n bytes of valid UTF-8 (invalid bytes replaced
// by '?'), marking a cut with "…".
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	return cutUTF8(s, n-len("…")) + "…"
}

// cutUTF8 is the longest prefix of the valid UTF-8 s of at most n bytes
// that ends on a character boundary.
func cutUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
