package payment_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/jobs"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// fastRetry tries a failed job again at once, so a test sees its attempts
// without waiting for the backoff.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now() }

// jobDialect is the queue's name for the test's database.
func jobDialect(d payment.Dialect) jobs.Dialect {
	if d == payment.DialectPostgres {
		return jobs.Postgres
	}
	return jobs.SQLite
}

// startJobs makes pay enqueue its side effects and starts a queue (one
// replica's) working them on the env's database.
func (e *env) startJobs(dbc dbCase, pay *payment.Payments, sweepEvery time.Duration) *jobs.Queue {
	e.t.Helper()
	d := jobDialect(dbc.dialect)
	if err := jobs.Migrate(e.ctx, e.db, d); err != nil {
		e.t.Fatal(err)
	}
	w := river.NewWorkers()
	pay.AddWorkers(w)
	var periodic []*river.PeriodicJob
	if sweepEvery > 0 {
		periodic = pay.PeriodicJobs(sweepEvery)
	}
	q, err := jobs.New(e.ctx, e.db, d, jobs.Config{Workers: w, Periodic: periodic, PollInterval: 50 * time.Millisecond,
		Retry: fastRetry{}})
	if err != nil {
		e.t.Fatal(err)
	}
	pay.UseJobs(q)
	if err := q.Start(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			e.t.Error(err)
		}
	})
	return q
}

// payments is another Payments on the env's database, with the given
// provider and application side (the env's simulator and tables by default).
func (e *env) payments(pr payment.Provider, apps payment.ApplicationPayments) *payment.Payments {
	e.t.Helper()
	if pr == nil {
		pr = e.prov
	}
	if apps == nil {
		apps = appTable{}
	}
	p, err := payment.New(e.db, payment.Config{Provider: pr, Applications: apps, Audit: auditTable{}, Prices: renewal.DefaultPolicy(),
		NotifyURL: e.recv.URL + "/v1/payments/notify", Clock: e.clock.Now, RefundCheckAfter: -1})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) jobRows(kind string) []string {
	e.t.Helper()
	rows, err := e.db.QueryContext(e.ctx, `SELECT state FROM river_job WHERE kind = $1 ORDER BY id`, kind)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestSweepJobClosesExpiredOrdersOnce: two replicas' queues on one
// database, each with the periodic sweep: the expired order is closed by
// one job, once, and sweeping again enqueues nothing.
func TestSweepJobClosesExpiredOrdersOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		o, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		replicas := []*payment.Payments{e.payments(nil, nil), e.payments(nil, nil)}
		for _, p := range replicas {
			e.startJobs(dbc, p, payment.MinSweepInterval)
		}
		if n, err := replicas[0].EnqueueDue(e.ctx); err != nil || n != 0 {
			t.Fatalf("enqueued %d, %v before the window is over, want 0", n, err)
		}
		e.clock.Set(o.ExpiresAt)
		e.waitFor("the order closed", func() bool {
			got, err := e.pay.Order(e.ctx, o.OutTradeNo)
			return err == nil && got.State == payment.OrderClosed
		})
		e.waitFor("its job completed", func() bool {
			s := e.jobRows("payment.expire")
			return len(s) == 1 && s[0] == "completed"
		})
		for _, p := range replicas {
			if n, err := p.EnqueueDue(e.ctx); err != nil || n != 0 {
				t.Errorf("sweeping a closed order enqueued %d, %v", n, err)
			}
		}
		if n := e.auditCount("payment.qr_closed"); n != 1 {
			t.Errorf("payment.qr_closed audited %d times, want 1", n)
		}
		if s := e.jobRows("payment.expire"); len(s) != 1 {
			t.Errorf("expire jobs %v, want one", s)
		}
		if len(e.jobRows("payment.sweep")) == 0 {
			t.Error("no sweep job ran")
		}
	})
}

// TestEnqueueDueNeedsAQueue: without UseJobs the sweep says why it cannot
// run.
func TestEnqueueDueNeedsAQueue(t *testing.T) {
	e := newEnv(t, dbCases[0], envOpts{})
	if _, err := e.pay.EnqueueDue(e.ctx); err == nil || !strings.Contains(err.Error(), "UseJobs") {
		t.Fatalf("EnqueueDue without a queue: %v", err)
	}
}

// failingApps fails to move application LOST to refunding: the refund's
// transaction rolls back after its job was inserted.
type failingApps struct{ appTable }

func (f failingApps) SetPaymentState(ctx context.Context, tx *sql.Tx, id string, s renewal.Payment) error {
	if id == "LOST" && s == renewal.PaymentRefunding {
		return errors.New("database went away")
	}
	return f.appTable.SetPaymentState(ctx, tx, id, s)
}

// flakyProvider loses the first refund calls on the way (a network error:
// the provider never hears of them).
type flakyProvider struct {
	payment.Provider
	lose  atomic.Int32
	calls atomic.Int32
}

func (f *flakyProvider) Refund(ctx context.Context, r payment.RefundRequest) (payment.RefundResult, error) {
	f.calls.Add(1)
	if f.lose.Add(-1) >= 0 {
		return payment.RefundResult{}, fmt.Errorf("refund %s: connection reset by peer", r.OutRefundNo)
	}
	return f.Provider.Refund(ctx, r)
}

// TestRefundOutbox: a refund rolled back leaves no job; a committed refund
// whose call to the provider is lost is asked again by its job, which is
// retried while the provider still processes it and completes once the
// refund succeeded.
func TestRefundOutbox(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.paid("LOST")
		e.paid("A1")
		e.sim.HoldNotifications(true) // only the job can learn the refund's outcome

		flaky := &flakyProvider{Provider: e.prov}
		pay := e.payments(flaky, failingApps{})
		e.startJobs(dbc, pay, 0)
		if _, err := pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "LOST", Role: renewal.RoleClerk, Actor: "u1", Reason: "x"}); err == nil {
			t.Fatal("cancel with a failing application table succeeded")
		}
		if s := e.jobRows("payment.refund"); len(s) != 0 {
			t.Fatalf("a rolled back refund left jobs %v", s)
		}

		flaky.lose.Store(2) // Cancel's own call and the job's first
		_, err := pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "A1", Role: renewal.RoleClerk, Actor: "u1", Reason: "不再需要"})
		if err == nil || !strings.Contains(err.Error(), "answer unknown") {
			t.Fatalf("cancel with the refund call lost: %v", err)
		}
		var rf payment.Refund
		e.waitFor("the job to reach the provider and be retried while it processes", func() bool {
			rfs, err := e.pay.Refunds(e.ctx, "A1")
			if err != nil || len(rfs) != 1 || rfs[0].RefundID == "" {
				return false
			}
			rf = rfs[0]
			var attempt int
			err = e.db.QueryRowContext(e.ctx, `SELECT attempt FROM river_job WHERE kind = 'payment.refund'`).Scan(&attempt)
			return err == nil && attempt >= 3
		})
		if n := flaky.calls.Load(); n != 3 {
			t.Errorf("the provider was asked %d times, want 3 (two lost, then one that arrived)", n)
		}
		if err := e.sim.SettleRefund(rf.OutRefundNo); err != nil {
			t.Fatal(err)
		}
		e.waitFor("the job to complete", func() bool {
			s := e.jobRows("payment.refund")
			return len(s) == 1 && s[0] == "completed"
		})
		if state, _ := e.app("A1"); state != string(renewal.PaymentRefunded) {
			t.Errorf("application is %s, want refunded", state)
		}
		if n := e.auditCount("refund.success"); n != 1 {
			t.Errorf("refund.success audited %d times", n)
		}
		if n := flaky.calls.Load(); n != 3 {
			t.Errorf("the provider was asked %d times in all, want 3", n)
		}
	})
}
