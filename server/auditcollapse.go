package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Some audited events can be caused by anyone at the rate of the request
// limiter: a refused counter session (anonymous), an invoice download
// (anyone holding a link). A row each would let one source grow the
// hash-chained log by millions of rows a day. They are collapsed as the
// payment module collapses refused notifications: an event is audited at
// most once a window per key (action, target, source, reason); the events
// in between are counted and the count is written with the key's next row
// ("suppressed"), or by FlushCollapsedAudit once the window has ended.
// At most maxCollapseKeys keys are tracked at once; events of keys beyond
// them are counted per action and written as one row a window.
const (
	counterRefusalWindow  = time.Minute
	invoiceDownloadWindow = time.Hour
	maxCollapseKeys       = 10_000
)

type collapseKey struct{ action, target, source, reason string }

type collapseEntry struct {
	until      time.Time // end of the window opened by the key's last row
	window     time.Duration
	ch         store.Change // of that row: actor, address, workstation
	after      map[string]any
	suppressed int64 // events since that row, not written
}

type auditCollapser struct {
	mu       sync.Mutex
	keys     map[collapseKey]*collapseEntry
	overflow map[string]int64 // by action: events beyond maxCollapseKeys
	overEnd  time.Time        // end of the window of the last overflow row
	cleaned  time.Time        // when a full map was last cleaned of quiet keys
}

// note says whether an event of key k is audited now (its window is over or
// it is the first), and how many of its kind were counted since its key's
// last row; else it is counted.
func (c *auditCollapser) note(now time.Time, k collapseKey, window time.Duration, ch store.Change, after map[string]any) (bool, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys, c.overflow = map[collapseKey]*collapseEntry{}, map[string]int64{}
	}
	ent := c.keys[k]
	if ent == nil && len(c.keys) >= maxCollapseKeys && !now.Before(c.cleaned.Add(time.Second)) {
		c.cleaned = now
		for k, ent := range c.keys {
			if !now.Before(ent.until) && ent.suppressed == 0 {
				delete(c.keys, k)
			}
		}
	}
	switch {
	case ent != nil && now.Before(ent.until):
		ent.suppressed++
		return false, 0
	case ent == nil && len(c.keys) >= maxCollapseKeys:
		c.overflow[k.action]++
		return false, 0
	}
	var suppressed int64
	if ent != nil {
		suppressed = ent.suppressed
	}
	c.keys[k] = &collapseEntry{until: now.Add(window), window: window, ch: ch, after: after}
	return true, suppressed
}

type collapsedRow struct {
	ch     store.Change
	target string
	after  map[string]any
}

// due takes the counts of keys whose window has ended (each row opens a
// window of its own) and forgets the keys whose window ended quietly.
func (c *auditCollapser) due(now time.Time) []collapsedRow {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rows []collapsedRow
	for k, ent := range c.keys {
		if now.Before(ent.until) {
			continue
		}
		if ent.suppressed == 0 {
			delete(c.keys, k)
			continue
		}
		after := map[string]any{"suppressed": ent.suppressed,
			"detail": fmt.Sprintf("%d more of this kind from this source", ent.suppressed)}
		for f, v := range ent.after {
			if _, ok := after[f]; !ok {
				after[f] = v
			}
		}
		rows = append(rows, collapsedRow{ch: ent.ch, target: k.target, after: after})
		c.keys[k] = &collapseEntry{until: now.Add(ent.window), window: ent.window, ch: ent.ch, after: ent.after}
	}
	if len(c.overflow) > 0 && !now.Before(c.overEnd) {
		for action, n := range c.overflow {
			target, _, _ := strings.Cut(action, ".")
			rows = append(rows, collapsedRow{ch: store.Change{Actor: "system", Action: action}, target: target,
				after: map[string]any{"suppressed": n,
					"detail": fmt.Sprintf("%d events from sources beyond the %d tracked at once", n, maxCollapseKeys)}})
			delete(c.overflow, action)
		}
		c.overEnd = now.Add(time.Minute)
	}
	return rows
}

// auditCollapsed audits an event of key k unless one of its key was audited
// within window (then it is counted, for the key's next row). The write is
// deadline-free of the request, so that a client hang-up does not lose it.
func (s *Server) auditCollapsed(ctx context.Context, k collapseKey, window time.Duration, ch store.Change, after map[string]any) error {
	write, suppressed := s.collapsed.note(s.now(), k, window, ch, after)
	if !write {
		return nil
	}
	if suppressed != 0 {
		a := map[string]any{"suppressed": suppressed}
		for f, v := range after {
			a[f] = v
		}
		after = a
	}
	return s.store.AppendAudit(context.WithoutCancel(ctx), ch, k.target, nil, after)
}

// FlushCollapsedAudit writes the counts of collapsed events (refused
// counter sessions, invoice downloads) whose window has ended. renewd runs
// it every minute; it is safe to run at any time.
func (s *Server) FlushCollapsedAudit(ctx context.Context) error {
	var errs []error
	for _, r := range s.collapsed.due(s.now()) {
		errs = append(errs, s.store.AppendAudit(context.WithoutCancel(ctx), r.ch, r.target, nil, r.after))
	}
	return errors.Join(errs...)
}
