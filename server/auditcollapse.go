package server

import (
	"context"
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
// them are counted per action and written as one row a minute. The keys
// are rows of the store (store.AuditCollapsed): every replica counts into
// the same ones.
const (
	counterRefusalWindow  = time.Minute
	invoiceDownloadWindow = time.Hour
	maxCollapseKeys       = 10_000
)

type collapseKey = store.CollapseKey

// auditCollapsed audits an event of key k unless one of its key was audited
// within window (then it is counted, for the key's next row). The write is
// deadline-free of the request, so that a client hang-up does not lose it.
func (s *Server) auditCollapsed(ctx context.Context, k collapseKey, window time.Duration, ch store.Change, after map[string]any) error {
	_, err := s.store.AuditCollapsed(context.WithoutCancel(ctx), k, window, maxCollapseKeys, ch, after)
	return err
}

// FlushCollapsedAudit writes the counts of collapsed events (refused
// counter sessions, invoice downloads) whose window has ended. renewd runs
// it every minute; it is safe to run at any time, on every replica.
func (s *Server) FlushCollapsedAudit(ctx context.Context) error {
	return s.store.FlushCollapsedAudit(context.WithoutCancel(ctx), maxCollapseKeys)
}

// CleanSharedState forgets the rate-limit buckets that are full again and
// the idempotency keys past their time or bounds. renewd runs it every
// minute; it is safe to run at any time, on every replica.
func (s *Server) CleanSharedState(ctx context.Context) error {
	return s.store.CleanSharedState(ctx, IdempotencyTTL, IdempotencyMaxKeys, IdempotencyMaxBytes)
}
