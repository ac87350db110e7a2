// Package jobs runs the service's background work as durable jobs on River,
// in the service's own database: SQLite (riversqlite) or PostgreSQL
// (riverdatabasesql, with riverpgxv5 listening for new jobs). Both drivers
// work on database/sql, so a job is enqueued with InsertTx on the same
// *sql.Tx as the state change that causes it (an outbox: committed
// together or not at all), and one Queue type serves both databases.
//
// A job is retried with backoff when its work fails and, after its last
// attempt, stays in the table as discarded: Counts and Failed show it to
// operators (/metrics, renewd jobs). Periodic jobs are enqueued by the
// elected leader only, so a periodic job runs once per cluster however
// many replicas run.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// Dialect names the database: goose's names, as the store uses them.
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite3"
	Postgres Dialect = "postgres"
)

// Limits and defaults.
const (
	DefaultWorkers      = 10              // jobs worked at once per process
	DefaultMaxAttempts  = 14              // tries before a job is discarded (about 3 hours with Backoff)
	DefaultPollInterval = time.Second     // how often a process looks for jobs when nothing tells it
	DefaultJobTimeout   = 2 * time.Minute // one attempt's limit: every job talks to an outside service
	// FetchCooldown is the shortest time between two fetches of jobs by
	// one process (River's default is 100 ms, which holds a process to
	// 10 fetches of at most Concurrency jobs a second, and a job to wait
	// up to 100 ms after the one before it).
	FetchCooldown      = 20 * time.Millisecond
	DefaultStopTimeout = 25 * time.Second // Stop's wait for running jobs before cancelling them
	MaxBackoff         = time.Hour        // longest wait between two attempts
	MaxListed          = 1000             // most jobs Failed returns
	// CompletedRetention is how long a completed job stays in the table
	// (a unique job cannot be inserted again meanwhile; the sweep's 17,280
	// a day are then deleted).
	CompletedRetention = 24 * time.Hour
	// DiscardedRetention keeps failed jobs long enough for an operator to
	// see and act on them.
	DiscardedRetention = 30 * 24 * time.Hour
	// migrationLockID is the PostgreSQL advisory lock River's migrations
	// run under, so that replicas starting together migrate once.
	migrationLockID int64 = 0x756b65795f726976 // "ukey_riv"
)

// Config configures a Queue.
type Config struct {
	// Workers holds a worker for every kind of job this process may see.
	Workers *river.Workers
	// Periodic jobs are enqueued on their schedule by the leader.
	Periodic []*river.PeriodicJob
	// Concurrency is how many jobs this process works at once (default DefaultWorkers).
	Concurrency int
	// MaxAttempts before a job is discarded (default DefaultMaxAttempts).
	MaxAttempts int
	// PollInterval (default DefaultPollInterval; on PostgreSQL with
	// ListenDSN a notification starts new jobs sooner).
	PollInterval time.Duration
	// JobTimeout limits one attempt (default DefaultJobTimeout).
	JobTimeout time.Duration
	// Retry decides when a failed job is tried again (default Backoff).
	Retry river.ClientRetryPolicy
	// ListenDSN, on PostgreSQL, is the pgx connection string one extra
	// connection LISTENs on, so that a committed job starts at once
	// instead of at the next poll. Empty: poll only.
	ListenDSN string
	Log       *slog.Logger
}

// Backoff is the retry policy: 2^attempt seconds after the failed attempt
// (2 s, 4 s, 8 s, …), at most MaxBackoff; with DefaultMaxAttempts a job is
// tried for about 3 hours before it is discarded.
type Backoff struct{}

// NextRetry implements river.ClientRetryPolicy.
func (Backoff) NextRetry(job *rivertype.JobRow) time.Time {
	return job.AttemptedAt.Add(BackoffFor(job.Attempt))
}

// BackoffFor is the wait after the attempt-th failed attempt.
func BackoffFor(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := time.Duration(math.Pow(2, float64(min(attempt, 30)))) * time.Second
	return min(d, MaxBackoff)
}

// Queue is the service's River client.
type Queue struct {
	client   *river.Client[*sql.Tx]
	db       *sql.DB
	dialect  Dialect
	listener *pgxpool.Pool
}

// driver is River's driver for the database.
func driver(db *sql.DB, d Dialect, listener *pgxpool.Pool) (riverdriver.Driver[*sql.Tx], error) {
	switch d {
	case SQLite:
		return riversqlite.New(db), nil
	case Postgres:
		if listener != nil {
			return riverdatabasesql.NewWithPgxListener(db, listener), nil
		}
		return riverdatabasesql.New(db), nil
	}
	return nil, fmt.Errorf("jobs: unknown database %q", d)
}

// New makes the Queue on db, whose River tables Migrate has made. With
// workers it works jobs once started; without, it only inserts.
func New(ctx context.Context, db *sql.DB, d Dialect, cfg Config) (*Queue, error) {
	q := &Queue{db: db, dialect: d}
	if d == Postgres && cfg.ListenDSN != "" && cfg.Workers != nil {
		pc, err := pgxpool.ParseConfig(cfg.ListenDSN)
		if err != nil {
			return nil, fmt.Errorf("jobs: listener: %w", err)
		}
		pc.MaxConns, pc.MinConns = 1, 0
		if q.listener, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return nil, fmt.Errorf("jobs: listener: %w", err)
		}
	}
	drv, err := driver(db, d, q.listener)
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rc := &river.Config{
		Logger:                      log,
		MaxAttempts:                 cmpOr(cfg.MaxAttempts, DefaultMaxAttempts),
		RetryPolicy:                 cfg.Retry,
		JobTimeout:                  cmpOr(cfg.JobTimeout, DefaultJobTimeout),
		CompletedJobRetentionPeriod: CompletedRetention,
		DiscardedJobRetentionPeriod: DiscardedRetention,
		CancelledJobRetentionPeriod: DiscardedRetention,
	}
	if rc.RetryPolicy == nil {
		rc.RetryPolicy = Backoff{}
	}
	if cfg.Workers != nil {
		rc.Workers = cfg.Workers
		rc.PeriodicJobs = cfg.Periodic
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cmpOr(cfg.Concurrency, DefaultWorkers)}}
		rc.FetchPollInterval = cmpOr(cfg.PollInterval, DefaultPollInterval)
		rc.FetchCooldown = min(rc.FetchPollInterval, FetchCooldown)
	}
	if q.client, err = river.NewClient(drv, rc); err != nil {
		q.closeListener()
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return q, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (q *Queue) closeListener() {
	if q.listener != nil {
		q.listener.Close()
	}
}

// Start works jobs until Stop.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop stops fetching jobs, waits for the running ones until ctx ends, then
// cancels what still runs (each cancelled job is retried later, by this or
// another process) and returns.
func (q *Queue) Stop(ctx context.Context) error {
	defer q.closeListener()
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return errors.Join(fmt.Errorf("jobs: running jobs outlived the drain deadline, cancelled: %w", err), q.client.StopAndCancel(cctx))
	}
	return err
}

// Client is the River client, for what this package does not wrap
// (subscriptions in tests, JobGet).
func (q *Queue) Client() *river.Client[*sql.Tx] { return q.client }

// InsertTx enqueues a job on tx: it exists once tx commits, and not at all
// if tx rolls back. A unique job already there is not inserted again
// (UniqueSkippedAsDuplicate in the answer).
func (q *Queue) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return q.client.InsertTx(ctx, tx, args, opts)
}

// Insert enqueues a job on its own.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return q.client.Insert(ctx, args, opts)
}

// States are River's job states, in the order Counts reports them.
var States = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateCompleted, rivertype.JobStateDiscarded, rivertype.JobStateCancelled,
}

// Count is the number of jobs of one kind in one state.
type Count struct {
	Kind  string
	State rivertype.JobState
	N     int64
}

// Counts counts the jobs by kind and state (one indexed scan of river_job).
func Counts(ctx context.Context, db *sql.DB) ([]Count, error) {
	rows, err := db.QueryContext(ctx, `SELECT kind, state, COUNT(*) FROM river_job GROUP BY kind, state ORDER BY kind, state`)
	if err != nil {
		return nil, fmt.Errorf("jobs: count: %w", err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		var st string
		if err := rows.Scan(&c.Kind, &st, &c.N); err != nil {
			return nil, fmt.Errorf("jobs: count: %w", err)
		}
		c.State = rivertype.JobState(st)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Counts counts the queue's jobs by kind and state.
func (q *Queue) Counts(ctx context.Context) ([]Count, error) { return Counts(ctx, q.db) }

// Failed lists the jobs an operator must look at: discarded after their
// last attempt, cancelled, and those failing now and waiting to be retried
// (retryable), newest first, at most limit (1..MaxListed).
func (q *Queue) Failed(ctx context.Context, limit int) ([]*rivertype.JobRow, error) {
	if limit < 1 || limit > MaxListed {
		return nil, fmt.Errorf("jobs: list %d jobs: want 1..%d", limit, MaxListed)
	}
	res, err := q.client.JobList(ctx, river.NewJobListParams().
		States(rivertype.JobStateDiscarded, rivertype.JobStateCancelled, rivertype.JobStateRetryable).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit))
	if err != nil {
		return nil, fmt.Errorf("jobs: list: %w", err)
	}
	return res.Jobs, nil
}

// Migrate brings River's tables up to date. On PostgreSQL it holds an
// advisory lock meanwhile (goose's session locker, with a lock id of its
// own), so replicas starting at once migrate one after the other: the
// first applies, the others find nothing to do.
func Migrate(ctx context.Context, db *sql.DB, d Dialect) error {
	drv, err := driver(db, d, nil)
	if err != nil {
		return err
	}
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	return withMigrationLock(ctx, db, d, func() error {
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("jobs: migrate: %w", err)
		}
		return nil
	})
}

// Current reports whether River's tables are at the version this build
// needs (for /readyz: one small query; db may be a reader pool).
func Current(ctx context.Context, db *sql.DB, d Dialect) error {
	want, err := latestVersion(d)
	if err != nil {
		return err
	}
	var have sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM river_migration`).Scan(&have); err != nil {
		return fmt.Errorf("jobs: read river_migration: %w", err)
	}
	if have.Int64 < int64(want) {
		return fmt.Errorf("jobs: river tables at version %d, this build needs %d: run the migrations", have.Int64, want)
	}
	return nil
}

// latestVersion is the last River migration this build carries for d.
func latestVersion(d Dialect) (int, error) {
	latestOnce.Do(func() {
		latest = map[Dialect]int{}
		for _, d := range []Dialect{SQLite, Postgres} {
			drv, err := driver(nil, d, nil)
			if err != nil {
				latestErr = err
				return
			}
			m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				latestErr = fmt.Errorf("jobs: %w", err)
				return
			}
			all := m.AllVersions()
			latest[d] = all[len(all)-1].Version
		}
	})
	if latestErr != nil {
		return 0, latestErr
	}
	v, ok := latest[d]
	if !ok {
		return 0, fmt.Errorf("jobs: unknown database %q", d)
	}
	return v, nil
}

var (
	latestOnce sync.Once
	latest     map[Dialect]int
	latestErr  error
)

// Current is Current on the queue's database.
func (q *Queue) Current(ctx context.Context) error { return Current(ctx, q.db, q.dialect) }

// withMigrationLock runs fn holding, on PostgreSQL, the advisory lock of
// River's migrations on a connection of its own.
func withMigrationLock(ctx context.Context, db *sql.DB, d Dialect, fn func() error) error {
	if d != Postgres {
		return fn()
	}
	l, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	defer conn.Close()
	if err := l.SessionLock(ctx, conn); err != nil {
		return fmt.Errorf("jobs: migrate: lock: %w", err)
	}
	ferr := fn()
	uerr := l.SessionUnlock(context.WithoutCancel(ctx), conn)
	return errors.Join(ferr, uerr)
}
