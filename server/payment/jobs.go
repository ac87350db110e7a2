package payment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// The payment module's background work runs as durable jobs (River, in the
// same database): the sweep of expired QR orders is a periodic job the
// cluster's leader enqueues, each expired order is closed by a job of its
// own, unique per order, and each refund is confirmed by a job enqueued in
// the transaction that records it (an outbox: the refund cannot be
// committed without it).

// Job policy numbers.
const (
	// SweepInterval is how often the sweep looks for expired QR orders.
	SweepInterval = 5 * time.Second
	// RefundCheckAfter is when a refund's job first makes sure the provider
	// has it and asks for its outcome, if no notification settled it before.
	RefundCheckAfter = time.Minute
	// RefundMaxAttempts: a refund is followed for about 3½ days (hourly
	// after the first hours) before its job is discarded for staff to act:
	// a refund to a bank card may take days.
	RefundMaxAttempts = 95
)

// Enqueuer inserts a job on a transaction; *jobs.Queue and
// *river.Client[*sql.Tx] are Enqueuers.
type Enqueuer interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// SweepArgs is the periodic sweep: find the open orders whose window is over
// and enqueue an ExpireArgs job for each.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "payment.sweep" }

// InsertOpts: one sweep waiting at a time; a sweep that fails is not
// retried (the next one comes in SweepInterval).
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateScheduled}}}
}

// ExpireArgs closes one open order whose window is over (or credits it if
// the provider says it was paid).
type ExpireArgs struct {
	OutTradeNo string `json:"out_trade_no"`
}

// Kind implements river.JobArgs.
func (ExpireArgs) Kind() string { return "payment.expire" }

// InsertOpts: once per order.
func (ExpireArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// RefundArgs makes sure one refund reached the provider and follows it to
// its outcome (success, or failed for staff to act).
type RefundArgs struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
}

// Kind implements river.JobArgs.
func (RefundArgs) Kind() string { return "payment.refund" }

// InsertOpts: once per refund.
func (RefundArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: RefundMaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// UseJobs makes the module enqueue its side effects on q (in the
// transaction of the change that causes them) instead of relying on a
// client's poll or Sweep. Call it before serving; AddWorkers must have
// registered the workers with the queue that works q's jobs.
func (p *Payments) UseJobs(q Enqueuer) { p.jobs = q }

// AddWorkers registers the module's job workers.
func (p *Payments) AddWorkers(w *river.Workers) {
	river.AddWorker(w, &sweepWorker{p: p})
	river.AddWorker(w, &expireWorker{p: p})
	river.AddWorker(w, &refundWorker{p: p})
}

// PeriodicJobs are the module's periodic jobs: the sweep, every interval
// (SweepInterval if 0, at least MinSweepInterval).
func (p *Payments) PeriodicJobs(interval time.Duration) []*river.PeriodicJob {
	if interval == 0 {
		interval = SweepInterval
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(max(interval, MinSweepInterval)),
		func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
		&river.PeriodicJobOpts{ID: "payment.sweep", RunOnStart: true})}
}

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	p *Payments
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := w.p.EnqueueDue(ctx)
	return err
}

// EnqueueDue enqueues an ExpireArgs job for every open order whose window is
// over, at most MaxSweep, in one transaction; an order that has its job
// already is skipped (unique per order). It returns how many it enqueued.
func (p *Payments) EnqueueDue(ctx context.Context) (int, error) {
	if p.jobs == nil {
		return 0, errors.New("payment: enqueue due orders: no job queue (UseJobs)")
	}
	n := 0
	err := p.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT out_trade_no FROM payment_orders WHERE state = 'open' AND expires_at <= $1
			ORDER BY expires_at LIMIT `+fmt.Sprint(MaxSweep), p.cfg.Clock().UnixMicro())
		if err != nil {
			return fmt.Errorf("due orders: %w", err)
		}
		var due []string
		for rows.Next() {
			var no string
			if err := rows.Scan(&no); err != nil {
				rows.Close()
				return fmt.Errorf("due orders: %w", err)
			}
			due = append(due, no)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("due orders: %w", err)
		}
		for _, no := range due {
			res, err := p.jobs.InsertTx(ctx, tx, ExpireArgs{OutTradeNo: no}, nil)
			if err != nil {
				return fmt.Errorf("enqueue expiry of %s: %w", no, err)
			}
			if !res.UniqueSkippedAsDuplicate {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("payment sweep: %w", err)
	}
	return n, nil
}

type expireWorker struct {
	river.WorkerDefaults[ExpireArgs]
	p *Payments
}

func (w *expireWorker) Work(ctx context.Context, j *river.Job[ExpireArgs]) error {
	o, err := w.p.Order(ctx, j.Args.OutTradeNo)
	if errors.Is(err, ErrUnknownOrder) {
		return river.JobCancel(err) // nothing to do, ever
	}
	if err != nil {
		return err
	}
	if o, err = w.p.expire(ctx, o); err != nil {
		return err
	}
	if o.State == OrderOpen {
		return fmt.Errorf("order %s is still open after closing it", o.OutTradeNo)
	}
	return nil
}

type refundWorker struct {
	river.WorkerDefaults[RefundArgs]
	p *Payments
}

// Work asks the provider for the refund's outcome (asking for the refund
// again, same number, if the provider never got it) and applies it; a
// refund still processing fails the attempt, so it is asked again later.
func (w *refundWorker) Work(ctx context.Context, j *river.Job[RefundArgs]) error {
	rf, err := w.p.refund(ctx, j.Args.OutRefundNo)
	if errors.Is(err, ErrUnknownOrder) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if rf.State != RefundStateProcessing {
		return nil
	}
	if err := w.p.syncRefund(ctx, j.Args.OutTradeNo); err != nil {
		return err
	}
	if rf, err = w.p.refund(ctx, j.Args.OutRefundNo); err != nil {
		return err
	}
	if rf.State == RefundStateProcessing {
		return fmt.Errorf("refund %s is still processing at the provider", rf.OutRefundNo)
	}
	return nil
}

// enqueueRefund is Cancel's outbox step, on the transaction that records
// the refund. The job's first run is RefundCheckAfter later on the
// queue's (real) clock.
func (p *Payments) enqueueRefund(ctx context.Context, tx *sql.Tx, rf Refund) error {
	if p.jobs == nil {
		return nil
	}
	opts := &river.InsertOpts{}
	switch after := p.cfg.RefundCheckAfter; {
	case after == 0:
		opts.ScheduledAt = time.Now().Add(RefundCheckAfter)
	case after > 0:
		opts.ScheduledAt = time.Now().Add(after)
	}
	if _, err := p.jobs.InsertTx(ctx, tx, RefundArgs{OutRefundNo: rf.OutRefundNo, OutTradeNo: rf.OutTradeNo}, opts); err != nil {
		return fmt.Errorf("enqueue refund job: %w", err)
	}
	return nil
}
