package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"modernc.org/sqlite"
)

// Limits of the SQLite statement cache.
const (
	sqliteCachedStmts   = 256  // statements a connection keeps prepared
	sqliteCachedStmtLen = 4096 // longer statements (scripts, big batches) are not kept
)

// sqliteConnector opens modernc.org/sqlite connections that prepare each
// statement once: the driver parses the SQL text again on every
// ExecContext and QueryContext otherwise, which cost a quarter of renewd's
// CPU under load.
type sqliteConnector struct {
	dsn string
	d   sqlite.Driver
}

func (c *sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &stmtCacheConn{conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

func (c *sqliteConnector) Driver() driver.Driver { return &c.d }

// sqliteConn is what the driver's connections do.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stmtCacheConn is a connection with its statements kept prepared, by text.
// database/sql uses a connection from one goroutine at a time; a statement
// whose rows are still open is busy, and a second use of its text meanwhile
// (a query inside another's loop) runs unprepared.
type stmtCacheConn struct {
	conn  driver.Conn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	st   driver.Stmt
	busy atomic.Bool
}

func (c *stmtCacheConn) sc() (sqliteConn, error) {
	sc, ok := c.conn.(sqliteConn)
	if !ok {
		return nil, errors.New("sqlite connection lacks a context method")
	}
	return sc, nil
}

// take returns the prepared statement of query, marked busy, or nil when it
// is not to be kept or is busy.
func (c *stmtCacheConn) take(ctx context.Context, query string) (*cachedStmt, error) {
	s, ok := c.stmts[query]
	if !ok {
		if len(query) > sqliteCachedStmtLen || len(c.stmts) >= sqliteCachedStmts {
			return nil, nil
		}
		sc, err := c.sc()
		if err != nil {
			return nil, err
		}
		st, err := sc.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		s = &cachedStmt{st: st}
		c.stmts[query] = s
	}
	if !s.busy.CompareAndSwap(false, true) {
		return nil, nil
	}
	return s, nil
}

func (c *stmtCacheConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	sc, err := c.sc()
	if err != nil {
		return nil, err
	}
	s, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return sc.ExecContext(ctx, query, args)
	}
	defer s.busy.Store(false)
	return s.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *stmtCacheConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	sc, err := c.sc()
	if err != nil {
		return nil, err
	}
	s, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return sc.QueryContext(ctx, query, args)
	}
	rows, err := s.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		s.busy.Store(false)
		return nil, err
	}
	return &cachedRows{Rows: rows, s: s}, nil
}

// cachedRows frees its statement for the next use when closed (the driver
// resets the statement then).
type cachedRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.s.busy.Store(false)
	return err
}

func (c *stmtCacheConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }

func (c *stmtCacheConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	sc, err := c.sc()
	if err != nil {
		return nil, err
	}
	return sc.PrepareContext(ctx, query)
}

func (c *stmtCacheConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *stmtCacheConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	sc, err := c.sc()
	if err != nil {
		return nil, err
	}
	return sc.BeginTx(ctx, opts)
}

func (c *stmtCacheConn) Ping(ctx context.Context) error {
	sc, err := c.sc()
	if err != nil {
		return err
	}
	return sc.Ping(ctx)
}

func (c *stmtCacheConn) ResetSession(ctx context.Context) error {
	sc, err := c.sc()
	if err != nil {
		return err
	}
	return sc.ResetSession(ctx)
}

func (c *stmtCacheConn) IsValid() bool {
	sc, err := c.sc()
	return err == nil && sc.IsValid()
}

// Close finalizes the kept statements, then closes the connection.
func (c *stmtCacheConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.st.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.conn.Close())...)
}
