package payment

import (
	"context"
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

type refusalEntry struct {
	until      time.Time // end of the window opened by the last row
	ip         string
	suppressed int64 // refusals since that row, not written
}

// RefusalCount is the number of refusals of one provider and reason since
// the service started.
type RefusalCount struct {
	Provider, Reason string
	N                int64
}

type refusals struct {
	mu       sync.Mutex
	keys     map[refusalKey]*refusalEntry
	counts   map[[2]string]int64
	overflow map[string]int64 // by provider: refusals beyond MaxRefusalKeys
	overEnd  time.Time        // end of the window of the last overflow row
	cleaned  time.Time        // when a full map was last cleaned of quiet keys
}

func newRefusals() *refusals {
	return &refusals{keys: map[refusalKey]*refusalEntry{}, counts: map[[2]string]int64{}, overflow: map[string]int64{}}
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
	now := p.cfg.Clock()
	k := refusalKey{kind: e.Kind, provider: provider, source: src.Key, reason: reason, notification: e.NotificationID}
	write, suppressed := p.refusals.note(now, k, src.IP)
	if !write {
		return nil
	}
	e.IP, e.Suppressed, e.At = src.IP, suppressed, now
	return p.audit(context.WithoutCancel(ctx), p.db, e)
}

// note says whether a row of key k is to be written now (the first in a
// window) and how many of its key were counted since the key's last row;
// else it counts it. Beyond MaxRefusalKeys live keys, an unsigned refusal
// (no notification id) is counted with its provider's overflow instead;
// a signed notification always gets its key: only the provider can make
// those.
func (rf *refusals) note(now time.Time, k refusalKey, ip string) (write bool, suppressed int64) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	ent := rf.keys[k]
	if ent == nil && len(rf.keys) >= MaxRefusalKeys && !now.Before(rf.cleaned.Add(time.Second)) {
		rf.cleaned = now
		for k, ent := range rf.keys {
			if !now.Before(ent.until) && ent.suppressed == 0 {
				delete(rf.keys, k)
			}
		}
	}
	switch {
	case ent != nil && now.Before(ent.until):
		ent.suppressed++
		return false, 0
	case ent == nil && len(rf.keys) >= MaxRefusalKeys && k.notification == "":
		rf.overflow[k.provider]++
		return false, 0
	}
	if ent != nil {
		suppressed = ent.suppressed
	}
	rf.keys[k] = &refusalEntry{until: now.Add(RefusalWindow), ip: ip}
	return true, suppressed
}

// replayRow says whether a row of kind (a signed notification repeated:
// "notification.replayed", "notification.duplicate") for notification id
// is to be written now: the first in a window is, the rest are counted and
// written by FlushRefusals as one row. A captured Alipay notice carries no
// time and can be replayed for ever; the audit grows by one row a window.
func (p *Payments) replayRow(kind, id string) (write bool, suppressed int64) {
	return p.refusals.note(p.cfg.Clock(), refusalKey{kind: kind, notification: id}, "")
}

// auditReplay writes e (a repeated signed notification, inside tx) unless
// one of its kind and notification id was written within the window.
func (p *Payments) auditReplay(ctx context.Context, tx Execer, e AuditEvent) error {
	write, suppressed := p.replayRow(e.Kind, e.NotificationID)
	if !write {
		return nil
	}
	e.Suppressed = suppressed
	return p.audit(ctx, tx, e)
}

// FlushRefusals writes the counts of refusals not audited one by one whose
// window has ended, and forgets the keys whose window ended quietly. Sweep
// runs it; it is safe to run at any time.
func (p *Payments) FlushRefusals(ctx context.Context) error {
	now := p.cfg.Clock()
	var rows []AuditEvent
	rf := p.refusals
	rf.mu.Lock()
	for k, ent := range rf.keys {
		if now.Before(ent.until) {
			continue
		}
		if ent.suppressed == 0 {
			delete(rf.keys, k)
			continue
		}
		detail := fmt.Sprintf("%s %s: %d more of this kind from this source", k.provider, k.reason, ent.suppressed)
		if k.provider == "" { // a repeated signed notification (replayRow)
			detail = fmt.Sprintf("%d more repeats of this notification; nothing credited", ent.suppressed)
		}
		rows = append(rows, AuditEvent{At: now, Kind: k.kind, IP: ent.ip, NotificationID: k.notification,
			Suppressed: ent.suppressed, Detail: detail})
		// The row opens a window of its own, as a refusal's row does.
		rf.keys[k] = &refusalEntry{until: now.Add(RefusalWindow), ip: ent.ip}
	}
	if len(rf.overflow) > 0 && !now.Before(rf.overEnd) {
		for provider, n := range rf.overflow {
			rows = append(rows, AuditEvent{At: now, Kind: "notification.refused", Suppressed: n,
				Detail: fmt.Sprintf("%s: %d refusals from sources beyond the %d tracked at once", provider, n, MaxRefusalKeys)})
			delete(rf.overflow, provider)
		}
		rf.overEnd = now.Add(RefusalWindow)
	}
	rf.mu.Unlock()
	var errs []error
	for _, e := range rows {
		errs = append(errs, p.audit(context.WithoutCancel(ctx), p.db, e))
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
