package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors. Wrapped with %w; test with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrStaleVersion = errors.New("stale version")
	ErrConflict     = errors.New("conflict with an existing row")
	ErrReference    = errors.New("refers to a row that does not exist")
	ErrExpired      = errors.New("expired")
	ErrUsed         = errors.New("already used")
	ErrTooManyTries = errors.New("too many tries")
	ErrMismatch     = errors.New("does not match")
	ErrInvalid      = errors.New("invalid value")
	ErrTooSoon      = errors.New("too soon")
	ErrDailyLimit   = errors.New("daily limit reached")
	ErrTokenReused  = errors.New("refresh token reused: family revoked")
	ErrRevoked      = errors.New("revoked")
	ErrLimit        = errors.New("limit reached")
)

// Dialect names a backend.
type Dialect string

// Dialects; the values are goose's dialect names.
const (
	SQLite   Dialect = "sqlite3"
	Postgres Dialect = "postgres"
)

// Limits.
const (
	SQLiteBusyTimeout = 10 * time.Second
	// Connection pools (WithPools changes them): readers serve reads only,
	// so a read never waits for a connection behind writes.
	SQLiteReaders       = 8   // reader connections beside SQLite's one writer
	PostgresReadConns   = 16  // PostgreSQL connections for reads
	PostgresWriteConns  = 8   // PostgreSQL connections for writes
	MaxPoolConns        = 500 // the most WithPools accepts for either pool
	MaxDocumentsPerApp  = 20
	VersionTable        = "store_goose_version"
	maxListPageSize     = 1000
	defaultListPageSize = 20
)

// migrations is the one schema both backends run: goose records only the
// version numbers (in VersionTable), never where the files came from.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Store is the service's database.
type Store struct {
	dialect Dialect
	w       *sql.DB // the writers (SQLite: one connection)
	r       *sql.DB // the readers
	eph     *sql.DB // writes of ephemeral state (SQLite: the writer)
	now     func() time.Time
	sql     sqlText
	// pool sizes asked for with WithPools (0: the default)
	readConns, writeConns int
	links                 linker // PostgreSQL: links queued audit entries
	writeGate             gate   // Write's turns, first come first served
}

// gate lets at most cap(g) in at a time, in the order they came: a
// channel's blocked senders are served first in, first out, while
// database/sql hands a freed connection to a random waiter, so that with
// many writers queued for few connections the unlucky ones waited many
// times the average.
type gate chan struct{}

func (g gate) enter(ctx context.Context) error {
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g gate) leave() { <-g }

// Option configures Open.
type Option func(*Store)

// WithClock sets the clock the store stamps rows with (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithPools sets how many connections the store keeps for reads and for
// writes; zero keeps the default (SQLiteReaders, or PostgresReadConns and
// PostgresWriteConns). SQLite has one writer: writers must be 0 or 1 there.
func WithPools(readers, writers int) Option {
	return func(s *Store) { s.readConns, s.writeConns = readers, writers }
}

// poolSizes checks the sizes WithPools asked for and fills in the defaults.
func (s *Store) poolSizes() (readers, writers int, err error) {
	readers, writers = s.readConns, s.writeConns
	if readers < 0 || readers > MaxPoolConns || writers < 0 || writers > MaxPoolConns {
		return 0, 0, fmt.Errorf("pool sizes %d readers, %d writers: each must be 0 (the default) to %d: %w",
			readers, writers, MaxPoolConns, ErrInvalid)
	}
	if s.dialect == SQLite {
		if writers > 1 {
			return 0, 0, fmt.Errorf("%d writer connections: SQLite has one writer (leave it 0 or 1): %w", writers, ErrInvalid)
		}
		return cmp.Or(readers, SQLiteReaders), 1, nil
	}
	return cmp.Or(readers, PostgresReadConns), cmp.Or(writers, PostgresWriteConns), nil
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// migrates it.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{"foreign_keys(1)", "journal_mode(WAL)", "synchronous(FULL)",
		fmt.Sprintf("busy_timeout(%d)", SQLiteBusyTimeout.Milliseconds())} {
		q.Add("_pragma", p)
	}
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	q.Set("_txlock", "immediate")
	w := sql.OpenDB(&sqliteConnector{dsn: base + "?" + q.Encode()})
	w.SetConnMaxLifetime(0)
	q.Set("_txlock", "deferred")
	q.Add("_pragma", "query_only(1)")
	r := sql.OpenDB(&sqliteConnector{dsn: base + "?" + q.Encode()})
	s := &Store{dialect: SQLite, w: w, r: r, eph: w, now: time.Now}
	return s.init(ctx, opts)
}

// OpenPostgres connects to PostgreSQL with a pgx connection string and
// migrates the database (in the schema the search_path names).
//
// Reads and writes have pools of their own (see WithPools): a write waits
// for its commit to be durable, reads should not wait for a connection
// behind writes.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	w, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	r, err := sql.Open("pgx", dsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	cfg.RuntimeParams["synchronous_commit"] = "off"
	eph := stdlib.OpenDB(*cfg)
	eph.SetMaxOpenConns(PostgresEphemeralConns)
	eph.SetMaxIdleConns(PostgresEphemeralConns)
	s := &Store{dialect: Postgres, w: w, r: r, eph: eph, now: time.Now}
	return s.init(ctx, opts)
}

// Open opens a store by dialect name, as a configuration file names it:
// "sqlite" (dsn is a file path) or "postgres" (dsn is a pgx connection string).
func Open(ctx context.Context, dialect, dsn string, opts ...Option) (*Store, error) {
	switch dialect {
	case "sqlite", "sqlite3":
		return OpenSQLite(ctx, dsn, opts...)
	case "postgres", "postgresql", "pgx":
		return OpenPostgres(ctx, dsn, opts...)
	}
	return nil, fmt.Errorf("open store: unknown database %q (want sqlite or postgres)", dialect)
}

func (s *Store) init(ctx context.Context, opts []Option) (*Store, error) {
	for _, o := range opts {
		o(s)
	}
	readers, writers, err := s.poolSizes()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", s.dialect, err)
	}
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	s.w.SetMaxOpenConns(writers)
	s.w.SetMaxIdleConns(writers)
	s.writeGate = make(gate, writers)
	s.prepareSQL()
	if err := s.w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect %s: %w", s.dialect, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// Entries a process queued but could not link before it ended.
	if err := s.linkAudit(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithTableName(VersionTable), goose.WithDisableGlobalRegistry(true)}
	if s.dialect == Postgres {
		l, err := MigrationLocker(storeMigrationLockID)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(l))
	}
	p, err := goose.NewProvider(goose.Dialect(s.dialect), s.w, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// storeMigrationLockID is the advisory lock the store's migrations run under.
const storeMigrationLockID int64 = 0x756b65795f737472 // "ukey_str"

// MigrationLocker is a PostgreSQL session advisory lock (goose's) for one
// set of migrations: replicas starting at once migrate one after the
// other, the later ones finding nothing to do. It waits up to
// MigrationLockWait for the lock, probing every second.
func MigrationLocker(id int64) (lock.SessionLocker, error) {
	return lock.NewPostgresSessionLocker(lock.WithLockID(id),
		lock.WithLockTimeout(1, uint64(MigrationLockWait/time.Second)))
}

// MigrationLockWait is how long a replica waits for another's migrations.
const MigrationLockWait = 5 * time.Minute

// MigrationsCurrent reports an error unless every migration this build
// carries is applied (for /readyz: a database restored from an old backup,
// or migrated by nobody, is not ready). It reads on the reader pool.
func (s *Store) MigrationsCurrent(ctx context.Context) error {
	return MigrationsCurrent(ctx, s.r, VersionTable, migrations, "migrations")
}

// MigrationsCurrent reports an error unless goose's version table holds
// every version of the *.sql files in dir of fsys (a module's migrations).
func MigrationsCurrent(ctx context.Context, db *sql.DB, table string, fsys fs.FS, dir string) error {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return err
	}
	var want []int64
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return fmt.Errorf("migration %s: %w", n, err)
		}
		want = append(want, v)
	}
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT version_id FROM `+table+` WHERE is_applied`)
	if err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	defer rows.Close()
	have := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		have[v] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", table, err)
	}
	for _, v := range want {
		if !have[v] {
			return fmt.Errorf("%s: migration %d is not applied", table, v)
		}
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.links.wait()
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	if s.eph != s.w {
		err = errors.Join(err, s.eph.Close())
	}
	return err
}

// Dialect reports the backend.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB returns the writers' pool, for modules that keep their own tables in
// the same database (payments; see Join). On SQLite it has a single
// connection: do not hold a transaction on it across slow work, and never
// call other Store methods while holding one (they would wait for it).
func (s *Store) DB() *sql.DB { return s.w }

// ReadDB is the readers' pool (separate from DB on both databases), for
// modules' read-only checks that must not wait for the writer.
func (s *Store) ReadDB() *sql.DB { return s.r }

// Ping checks the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// Scope limits what a caller sees: one organisation, or all for CA staff.
// The zero Scope sees nothing.
type Scope struct {
	organisationID string
	all            bool
}

// OrgScope sees one organisation's rows.
func OrgScope(organisationID string) Scope { return Scope{organisationID: organisationID} }

// AllScope sees every organisation's rows (CA staff, the system).
func AllScope() Scope { return Scope{all: true} }

// allows reports whether a row of organisation org is visible.
func (sc Scope) allows(org string) bool {
	return sc.all || (sc.organisationID != "" && sc.organisationID == org)
}

// Change says who changes something, from where, and what: it becomes the
// audit entry's actor, IP and action.
type Change struct {
	Actor  string // user id, or "system"
	IP     string
	Action string // e.g. "application.submit"
	// WorkstationID is the counter workstation the change was made at, if
	// any (a clerk signed in there, or the workstation itself).
	WorkstationID string
}

func (c Change) valid() error {
	if c.Actor == "" || c.Action == "" {
		return fmt.Errorf("change without actor or action: %w", ErrInvalid)
	}
	return nil
}

// queryer is what Tx runs statements on.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is one transaction. Its methods are valid only inside the function given
// to Write or Read.
type Tx struct {
	s       *Store
	q       queryer
	now     time.Time
	pending []pendingAudit
	write   bool
}

// Now is the time the transaction stamps rows with.
func (tx *Tx) Now() time.Time { return tx.now }

// Write runs fn in one write transaction and commits it with the audit
// entries fn's changes queued; if fn fails nothing is kept.
func (s *Store) Write(ctx context.Context, fn func(tx *Tx) error) error {
	queued, err := s.write(ctx, fn)
	if queued {
		s.links.await(ctx, s.linkAudit)
	}
	return err
}

// write is Write up to the commit; queued says the commit left audit
// entries to link.
func (s *Store) write(ctx context.Context, fn func(tx *Tx) error) (queued bool, err error) {
	if err := s.writeGate.enter(ctx); err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer s.writeGate.leave()
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", mapErr(err))
	}
	tx := &Tx{s: s, q: sqlTx, now: s.now().UTC().Truncate(time.Microsecond), write: true}
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return false, err
	}
	// On PostgreSQL the entries are queued, and linked into the chain after
	// the commit (linkAudit): holding the chain head's lock until the
	// commit is durable would make every write wait for the one before it.
	// SQLite's one writer is serial anyway: the entries join the chain here.
	queued = s.dialect == Postgres && len(tx.pending) > 0
	flush := tx.flushAudit
	if queued {
		flush = tx.queueAudit
	}
	if err := flush(ctx); err != nil {
		_ = sqlTx.Rollback()
		return false, err
	}
	if err := sqlTx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", mapErr(err))
	}
	return queued, nil
}

// Join runs fn on a transaction that the caller began on DB() and commits or
// rolls back itself: a module with its own tables (payments) moving an
// application and writing the audit entry in its own commit. The audit
// entries fn queues are appended to sqlTx before Join returns; that takes the
// audit head's lock, so call Join as the last step before committing. If fn
// or the append fails, the caller must roll back.
func (s *Store) Join(ctx context.Context, sqlTx *sql.Tx, fn func(tx *Tx) error) error {
	tx := &Tx{s: s, q: sqlTx, now: s.now().UTC().Truncate(time.Microsecond), write: true}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.flushAudit(ctx)
}

// Read runs fn in a read-only transaction (one consistent snapshot).
func (s *Store) Read(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == Postgres {
		// One snapshot for every statement (READ COMMITTED takes one per statement).
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", mapErr(err))
	}
	defer sqlTx.Rollback() //nolint:errcheck // read-only: nothing to keep
	tx := &Tx{s: s, q: sqlTx, now: s.now().UTC().Truncate(time.Microsecond)}
	return fn(tx)
}

// read runs fn on the reader pool without a transaction, for single queries.
func (s *Store) read() *Tx {
	return &Tx{s: s, q: s.r, now: s.now().UTC().Truncate(time.Microsecond)}
}

// Lock classes of Tx.lock. A transaction takes its locks in this order.
const (
	lockSMSNumber int32 = 1 + iota
	lockSMSSource
)

// lock holds key of class until the write transaction ends, for what a
// row lock cannot hold: rows counted, and added to, by concurrent
// transactions (PostgreSQL's transaction advisory lock; SQLite has one
// writer at a time, across processes too: BEGIN IMMEDIATE).
func (tx *Tx) lock(ctx context.Context, class int32, key string) error {
	if err := tx.mustWrite(); err != nil || tx.s.dialect != Postgres {
		return err
	}
	if _, err := tx.q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, class, key); err != nil {
		return fmt.Errorf("lock: %w", mapErr(err))
	}
	return nil
}

func (tx *Tx) mustWrite() error {
	if !tx.write {
		return errors.New("write in a read transaction")
	}
	return nil
}

// newID returns a random 128-bit id in hex.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// NewID returns a random 128-bit id in hex, as the store makes them.
func NewID() string { return newID() }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil || t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mapErr turns driver constraint errors into the package's sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %w", ErrReference, err)
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case "23503":
			return fmt.Errorf("%w: %w", ErrReference, err)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// escapeLike escapes % and _ for LIKE ... ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Unavailable reports whether err says the database could not be reached
// or dropped the connection, or rolled the transaction back to let another
// go first (serialization failure, deadlock): the request's transaction
// was rolled back, and the same request may succeed in a moment, on this
// replica or another (after a primary's failover, say). The server answers
// such errors 503 busy with Retry-After. The one case where the change may
// have landed is a connection lost during COMMIT itself: a retry then meets
// the Idempotency-Key it was sent with, or the store's own rules (one
// application per certificate, version checks).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"): // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutdown, crash, cannot connect now
			return true
		case pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock
			return true
		case pe.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
