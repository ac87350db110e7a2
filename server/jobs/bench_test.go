package jobs_test

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/ukeyrenew/ukeyrenew/server/jobs"
)

// stampArgs carries when its transaction committed; the worker notes how
// long after that it started.
type stampArgs struct {
	Committed time.Time `json:"committed"`
}

func (stampArgs) Kind() string { return "bench.stamp" }

type stampWorker struct {
	river.WorkerDefaults[stampArgs]
	mu    sync.Mutex
	lat   []time.Duration
	done  chan struct{}
	total int
}

func (w *stampWorker) Work(_ context.Context, j *river.Job[stampArgs]) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !j.Args.Committed.IsZero() {
		w.lat = append(w.lat, time.Since(j.Args.Committed))
	}
	w.total++
	if w.total == cap(w.done) {
		close(w.done)
	}
	return nil
}

// BenchmarkJobs measures, on each database, how many no-op jobs a second
// one process works (inserted 100 a transaction, worked by DefaultWorkers)
// and the latency from an outbox transaction's commit to its job's start,
// polling every second (the default) and every 100 ms; on PostgreSQL also
// with the LISTEN connection (ListenDSN).
//
//	UKEY_TEST_PG_DSN=postgres://… go test ./server/jobs/ -run '^$' -bench BenchmarkJobs -benchtime 1x
func BenchmarkJobs(b *testing.B) {
	for _, be := range backends {
		for _, mode := range []struct {
			name   string
			poll   time.Duration
			listen bool
		}{{"poll1s", time.Second, false}, {"poll100ms", 100 * time.Millisecond, false}, {"listen", time.Second, true}} {
			b.Run(be.name+"/"+mode.name, func(b *testing.B) {
				if mode.listen && be.name != "postgres" {
					b.Skip("LISTEN is PostgreSQL's")
				}
				db, d, dsn := be.open(b)
				if err := jobs.Migrate(context.Background(), db, d); err != nil {
					b.Fatal(err)
				}
				if !mode.listen {
					dsn = ""
				}
				for range b.N {
					benchJobs(b, db, d, dsn, mode.poll)
				}
			})
		}
	}
}

func benchJobs(b *testing.B, db *sql.DB, d jobs.Dialect, dsn string, poll time.Duration) {
	ctx := context.Background()
	const n, batch, probes = 2000, 100, 50
	w := &stampWorker{done: make(chan struct{}, n)}
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	q, err := jobs.New(ctx, db, d, jobs.Config{Workers: workers, PollInterval: poll, ListenDSN: dsn})
	if err != nil {
		b.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_ = q.Stop(sctx)
		_, _ = db.ExecContext(ctx, `DELETE FROM river_job`)
	}()
	start := time.Now()
	for i := 0; i < n; i += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		params := make([]river.InsertManyParams, batch)
		for k := range params {
			params[k] = river.InsertManyParams{Args: stampArgs{}}
		}
		if _, err := q.Client().InsertManyTx(ctx, tx, params); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	<-w.done
	elapsed := time.Since(start)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "jobs/s")

	// Latency: one job per transaction, one at a time, as a request's
	// outbox step makes them; the committed time is taken just before the
	// commit, so the figure includes it.
	w.mu.Lock()
	w.total, w.done = 0, make(chan struct{}, probes)
	w.mu.Unlock()
	for range probes {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.InsertTx(ctx, tx, stampArgs{Committed: time.Now()}, nil); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		w.mu.Lock()
		before := w.total
		w.mu.Unlock()
		for {
			w.mu.Lock()
			got := w.total
			w.mu.Unlock()
			if got > before {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	w.mu.Lock()
	lat := slices.Clone(w.lat)
	w.mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
