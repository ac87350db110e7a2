package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/server/jobs"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// backend is one database a test runs on: the store's writer pool, as the
// service hands it to the queue.
type backend struct {
	name string
	open func(t testing.TB) (*sql.DB, jobs.Dialect, string)
}

var backends = []backend{
	{"sqlite", func(t testing.TB) (*sql.DB, jobs.Dialect, string) {
		st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "renewd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st.DB(), jobs.SQLite, ""
	}},
	{"postgres", func(t testing.TB) (*sql.DB, jobs.Dialect, string) {
		dsn := pgtest.Schema(t, "jobs_")
		st, err := store.OpenPostgres(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st.DB(), jobs.Postgres, dsn
	}},
}

func each(t *testing.T, fn func(t *testing.T, db *sql.DB, d jobs.Dialect, dsn string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db, d, dsn := b.open(t)
			if err := jobs.Migrate(context.Background(), db, d); err != nil {
				t.Fatal(err)
			}
			fn(t, db, d, dsn)
		})
	}
}

// echoArgs is a job that records its runs; it fails while fail says so.
type echoArgs struct {
	Key string `json:"key"`
}

func (echoArgs) Kind() string { return "test.echo" }

type echoWorker struct {
	river.WorkerDefaults[echoArgs]
	mu   sync.Mutex
	runs map[string]int
	fail func(key string, attempt int) error
}

func (w *echoWorker) Work(_ context.Context, j *river.Job[echoArgs]) error {
	w.mu.Lock()
	w.runs[j.Args.Key]++
	w.mu.Unlock()
	if w.fail != nil {
		return w.fail(j.Args.Key, j.Attempt)
	}
	return nil
}

func (w *echoWorker) count(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.runs[key]
}

// fastRetry retries at once, so a test sees every attempt without waiting.
type fastRetry struct{}

func (fastRetry) NextRetry(j *rivertype.JobRow) time.Time { return time.Now() }

func start(t *testing.T, db *sql.DB, d jobs.Dialect, dsn string, w *echoWorker, periodic ...*river.PeriodicJob) *jobs.Queue {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	q, err := jobs.New(context.Background(), db, d, jobs.Config{Workers: workers, Periodic: periodic,
		PollInterval: 50 * time.Millisecond, MaxAttempts: 3, Retry: fastRetry{}, ListenDSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return q
}

// waitState waits until the job is in state (River works on real time:
// the deadline only bounds a broken run).
func waitState(t *testing.T, q *jobs.Queue, id int64, want rivertype.JobState) *rivertype.JobRow {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := q.Client().JobGet(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s after 30 s, want %s (errors %v)", id, j.State, want, j.Errors)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func inTx(t *testing.T, db *sql.DB, fn func(tx *sql.Tx) error) error {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func TestOutbox(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, d jobs.Dialect, dsn string) {
		ctx := context.Background()
		w := &echoWorker{runs: map[string]int{}}
		q := start(t, db, d, dsn, w)
		// Rolled back: no job. The marker row rolls back with it.
		if _, err := db.ExecContext(ctx, `CREATE TABLE outbox_marker (k TEXT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("crash before commit")
		err := inTx(t, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox_marker (k) VALUES ('lost')`); err != nil {
				return err
			}
			if _, err := q.InsertTx(ctx, tx, echoArgs{Key: "lost"}, nil); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		// Committed: the job runs.
		var id int64
		if err := inTx(t, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox_marker (k) VALUES ('kept')`); err != nil {
				return err
			}
			res, err := q.InsertTx(ctx, tx, echoArgs{Key: "kept"}, nil)
			if err != nil {
				return err
			}
			id = res.Job.ID
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		waitState(t, q, id, rivertype.JobStateCompleted)
		if n := w.count("kept"); n != 1 {
			t.Errorf("committed job ran %d times, want 1", n)
		}
		counts, err := q.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 1 || counts[0].Kind != "test.echo" || counts[0].State != rivertype.JobStateCompleted || counts[0].N != 1 {
			t.Errorf("counts %+v, want one completed test.echo (the rolled back one must not exist)", counts)
		}
		if n := w.count("lost"); n != 0 {
			t.Errorf("rolled back job ran %d times", n)
		}
	})
}

func TestRetryThenDiscard(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, d jobs.Dialect, dsn string) {
		ctx := context.Background()
		w := &echoWorker{runs: map[string]int{}, fail: func(key string, attempt int) error {
			if key == "flaky" && attempt < 2 {
				return fmt.Errorf("provider down (attempt %d)", attempt)
			}
			if key == "broken" {
				return fmt.Errorf("provider refuses (attempt %d)", attempt)
			}
			return nil
		}}
		q := start(t, db, d, dsn, w)
		flaky, err := q.Insert(ctx, echoArgs{Key: "flaky"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		broken, err := q.Insert(ctx, echoArgs{Key: "broken"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		j := waitState(t, q, flaky.Job.ID, rivertype.JobStateCompleted)
		if j.Attempt != 2 || len(j.Errors) != 1 {
			t.Errorf("flaky job: attempt %d with %d errors, want completed on attempt 2 after 1 error", j.Attempt, len(j.Errors))
		}
		j = waitState(t, q, broken.Job.ID, rivertype.JobStateDiscarded)
		if j.Attempt != 3 || len(j.Errors) != 3 || w.count("broken") != 3 {
			t.Errorf("broken job: attempt %d, %d errors, %d runs; want discarded after 3", j.Attempt, len(j.Errors), w.count("broken"))
		}
		failed, err := q.Failed(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(failed) != 1 || failed[0].ID != broken.Job.ID || failed[0].Errors[2].Error != "provider refuses (attempt 3)" {
			t.Errorf("failed jobs %+v, want the broken one with its last error", failed)
		}
		for _, n := range []int{0, jobs.MaxListed + 1} {
			if _, err := q.Failed(ctx, n); err == nil {
				t.Errorf("Failed(%d) answered, want an error", n)
			}
		}
	})
}

func TestUnique(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, d jobs.Dialect, dsn string) {
		ctx := context.Background()
		w := &echoWorker{runs: map[string]int{}}
		q := start(t, db, d, dsn, w)
		opts := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
		var ids []int64
		var skipped atomic.Int32
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := q.Insert(ctx, echoArgs{Key: "once"}, opts)
				if err != nil {
					t.Error(err)
					return
				}
				if res.UniqueSkippedAsDuplicate {
					skipped.Add(1)
				}
				mu.Lock()
				ids = append(ids, res.Job.ID)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if skipped.Load() != 4 {
			t.Errorf("%d of 5 inserts skipped as duplicates, want 4", skipped.Load())
		}
		waitState(t, q, ids[0], rivertype.JobStateCompleted)
		// Completed jobs still hold the key: inserting again is skipped.
		res, err := q.Insert(ctx, echoArgs{Key: "once"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !res.UniqueSkippedAsDuplicate {
			t.Error("a unique job was inserted again after it completed")
		}
		if n := w.count("once"); n != 1 {
			t.Errorf("unique job ran %d times, want 1", n)
		}
	})
}

func TestPeriodic(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, d jobs.Dialect, dsn string) {
		w := &echoWorker{runs: map[string]int{}}
		ran := make(chan struct{}, 100)
		w.fail = func(key string, _ int) error {
			if key == "tick" {
				ran <- struct{}{}
			}
			return nil
		}
		start(t, db, d, dsn, w, river.NewPeriodicJob(river.PeriodicInterval(200*time.Millisecond),
			func() (river.JobArgs, *river.InsertOpts) { return echoArgs{Key: "tick"}, nil },
			&river.PeriodicJobOpts{ID: "tick", RunOnStart: true}))
		for i := range 2 {
			select {
			case <-ran:
			case <-time.After(30 * time.Second):
				t.Fatalf("periodic job ran %d times in 30 s, want 2", i)
			}
		}
	})
}

// blockArgs is a job that runs until released or cancelled.
type blockArgs struct{}

func (blockArgs) Kind() string { return "test.block" }

type blockWorker struct {
	river.WorkerDefaults[blockArgs]
	started chan struct{}
	release chan struct{}
}

func (w *blockWorker) Work(ctx context.Context, _ *river.Job[blockArgs]) error {
	w.started <- struct{}{}
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestStopWaitsForRunningJobs: Stop lets a running job finish; a job that
// outlives Stop's deadline is cancelled and left to be retried, and Stop
// says so.
func TestStopWaitsForRunningJobs(t *testing.T) {
	each(t, func(t *testing.T, db *sql.DB, d jobs.Dialect, dsn string) {
		ctx := context.Background()
		for _, finish := range []bool{true, false} {
			w := &blockWorker{started: make(chan struct{}, 1), release: make(chan struct{})}
			workers := river.NewWorkers()
			river.AddWorker(workers, w)
			q, err := jobs.New(ctx, db, d, jobs.Config{Workers: workers, PollInterval: 50 * time.Millisecond, ListenDSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := q.Insert(ctx, blockArgs{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-w.started:
			case <-time.After(30 * time.Second):
				t.Fatal("the job did not start in 30 s")
			}
			stopped := make(chan error, 1)
			timeout := time.Minute
			if !finish {
				timeout = 200 * time.Millisecond
			}
			go func() {
				sctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				stopped <- q.Stop(sctx)
			}()
			if finish {
				select {
				case err := <-stopped:
					t.Fatalf("Stop returned (%v) while a job ran", err)
				case <-time.After(100 * time.Millisecond):
				}
				close(w.release)
			}
			err = <-stopped
			j, gerr := q.Client().JobGet(ctx, res.Job.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if finish && (err != nil || j.State != rivertype.JobStateCompleted) {
				t.Errorf("Stop: %v, job %s; want nil and completed", err, j.State)
			}
			if !finish && (err == nil || !strings.Contains(err.Error(), "outlived the drain deadline") || j.State == rivertype.JobStateCompleted) {
				t.Errorf("Stop past the deadline: %v, job %s; want the cancellation reported and the job not completed", err, j.State)
			}
		}
	})
}

// TestBackoff: 2^attempt seconds after the failed attempt, at most an hour.
func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{0: 2 * time.Second, 1: 2 * time.Second, 2: 4 * time.Second, 10: 1024 * time.Second,
		11: 2048 * time.Second, 12: time.Hour, 95: time.Hour} {
		if got := jobs.BackoffFor(attempt); got != want {
			t.Errorf("BackoffFor(%d) = %s, want %s", attempt, got, want)
		}
	}
	at := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	if got := (jobs.Backoff{}).NextRetry(&rivertype.JobRow{Attempt: 3, AttemptedAt: &at}); !got.Equal(at.Add(8 * time.Second)) {
		t.Errorf("NextRetry after attempt 3 at %s: %s", at, got)
	}
	var total time.Duration
	for a := 1; a < jobs.DefaultMaxAttempts; a++ {
		total += jobs.BackoffFor(a)
	}
	if total < 3*time.Hour || total > 4*time.Hour {
		t.Errorf("a job is tried for %s before it is discarded; the documentation says about 3 hours", total)
	}
}
