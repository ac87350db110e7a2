package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"time"
)

// Rate-limit buckets shared by every replica of the service: one row per
// (limiter, key), a token bucket of rate tokens a second up to burst.
// TakeToken refills and takes in one statement (an upsert), so takes on
// any number of connections and replicas at once are counted exactly.
//
// Time is the store's clock. A bucket's stamp never moves back: a replica
// whose clock is behind refills nothing until its clock passes the stamp,
// so a skew of d between replicas gives a bucket at most d×rate tokens
// more, once, never again by going back and forth.

// Bucket is a rate limit: Rate tokens a second, Burst at most.
type Bucket struct {
	Limiter string // the limiter's name, e.g. "ip"
	Rate    float64
	Burst   int
}

// bucketExpr is the SQL of the bucket's tokens now (before a take),
// refilled from the row's stamp: $3 is burst, $4 now, $5 rate per µs.
func (s *Store) bucketExpr() string {
	least, greatest := "LEAST", "GREATEST"
	if s.dialect == SQLite {
		least, greatest = "MIN", "MAX"
	}
	return fmt.Sprintf("%s(CAST($3 AS DOUBLE PRECISION), rate_buckets.tokens + %s(CAST($4 AS BIGINT) - rate_buckets.at, 0) * CAST($5 AS DOUBLE PRECISION))",
		least, greatest)
}

// takeSQL is the upsert of TakeToken, made once per store.
func (s *Store) takeSQL() string {
	greatest := "GREATEST"
	if s.dialect == SQLite {
		greatest = "MAX"
	}
	r := s.bucketExpr()
	after := "CASE WHEN " + r + " >= 1 THEN " + r + " - 1 ELSE " + r + " END"
	at := greatest + "(rate_buckets.at, CAST($4 AS BIGINT))"
	return `INSERT INTO rate_buckets (limiter, bucket_key, tokens, at, full_at, granted)
		VALUES ($1, $2, CAST($3 AS DOUBLE PRECISION) - 1, CAST($4 AS BIGINT), CAST($4 AS BIGINT) + CAST(1 / CAST($5 AS DOUBLE PRECISION) AS BIGINT), 1)
		ON CONFLICT (limiter, bucket_key) DO UPDATE SET
		tokens = ` + after + `,
		granted = CASE WHEN ` + r + ` >= 1 THEN 1 ELSE 0 END,
		full_at = ` + at + ` + CAST((CAST($3 AS DOUBLE PRECISION) - (` + after + `)) / CAST($5 AS DOUBLE PRECISION) AS BIGINT),
		at = ` + at + `
		RETURNING tokens, granted`
}

// TakeToken takes one token of key's bucket b, if it holds one; else it
// says how long until it does. A new bucket starts full.
func (s *Store) TakeToken(ctx context.Context, b Bucket, key string) (bool, time.Duration, error) {
	if b.Rate <= 0 || math.IsInf(b.Rate, 1) {
		return true, 0, nil
	}
	now := micros(s.now())
	perMicro := b.Rate / 1e6
	var tokens float64
	var granted int
	err := s.ephemeral(ctx, func(q queryer) error {
		return q.QueryRowContext(ctx, s.sql.take, b.Limiter, key, float64(b.Burst), now, perMicro).Scan(&tokens, &granted)
	})
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", b.Limiter, mapErr(err))
	}
	if granted == 1 {
		return true, 0, nil
	}
	return false, wait(tokens, b.Rate), nil
}

// PeekToken says whether key's bucket b holds a token, taking none, and if
// not how long until it does.
func (s *Store) PeekToken(ctx context.Context, b Bucket, key string) (bool, time.Duration, error) {
	if b.Rate <= 0 || math.IsInf(b.Rate, 1) {
		return true, 0, nil
	}
	var tokens float64
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT tokens, at FROM rate_buckets WHERE limiter = $1 AND bucket_key = $2`, b.Limiter, key).Scan(&tokens, &at)
	if err == sql.ErrNoRows {
		return true, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", b.Limiter, mapErr(err))
	}
	now := s.now()
	tokens = math.Min(float64(b.Burst), tokens+math.Max(float64(micros(now)-at), 0)*b.Rate/1e6)
	if tokens >= 1 {
		return true, 0, nil
	}
	return false, wait(tokens, b.Rate), nil
}

// wait is how long a bucket of tokens needs to hold one at rate.
func wait(tokens, rate float64) time.Duration {
	return time.Duration((1 - tokens) / rate * float64(time.Second))
}

// PostgresEphemeralConns are the connections, beside PostgresConns, that
// write state not worth a disk flush of its own: rate-limit buckets (lost
// in a crash of PostgreSQL, they are a little fuller) and idempotency keys
// (see idempotency.go); synchronous_commit off, they are still written in
// order, and the next flush carries them.
const PostgresEphemeralConns = 8

// ephemeral runs fn's statements (single statements, no transaction) on
// the connections for state not worth a disk flush of its own: on
// PostgreSQL the pool with synchronous_commit off; on SQLite the writer,
// with synchronous=NORMAL for fn's statements (in WAL mode a commit then
// waits for no fsync; the next commit with one carries it, and a power
// loss can lose it but never corrupts the database).
func (s *Store) ephemeral(ctx context.Context, fn func(q queryer) error) error {
	if s.dialect == Postgres {
		return fn(s.eph)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return mapErr(err)
	}
	ferr := fn(conn)
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`); err != nil {
		// Never hand the writer back without its flushes: drop it.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		return errors.Join(ferr, mapErr(err))
	}
	return ferr
}

// CleanupBatch is the most rows one statement of CleanupShared deletes;
// it deletes batch after batch until none is left.
const CleanupBatch = 1000

// deleteBatches runs a DELETE of at most CleanupBatch rows (where picks
// them from table by key columns) until it deletes fewer, and says how many.
func (s *Store) deleteBatches(ctx context.Context, table, keys, where string, args ...any) (int64, error) {
	var total int64
	q := fmt.Sprintf(`DELETE FROM %s WHERE (%s) IN (SELECT %s FROM %s WHERE %s LIMIT %d)`, table, keys, keys, table, where, CleanupBatch)
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res, err := s.w.ExecContext(ctx, q, args...)
		if err != nil {
			return total, fmt.Errorf("clean %s: %w", table, mapErr(err))
		}
		n, _ := res.RowsAffected()
		total += n
		if n < CleanupBatch {
			return total, nil
		}
	}
}

// cleanBuckets deletes the buckets that are full again: a missing row is
// a full bucket.
func (s *Store) cleanBuckets(ctx context.Context, now time.Time) (int64, error) {
	return s.deleteBatches(ctx, "rate_buckets", "limiter, bucket_key", "full_at <= $1", micros(now))
}

// sqlText holds statements made once per store.
type sqlText struct {
	take string
}

func (s *Store) prepareSQL() {
	s.sql.take = s.takeSQL()
}
