package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Idempotency keys, shared by every replica: a request that carries a key
// is run by the one attempt that holds the key's row (its owner); its
// answer is kept in the row, so a retry sent to any replica gets it again.
//
// The rows are written without waiting for a disk flush (the ephemeral
// pool): the request's own changes commit with a flush, which carries the
// claim written before them; only a crash of PostgreSQL in the moment
// after an answer can lose it, and then a retry runs again and meets the
// store's own rules (a second application for a certificate is refused).

// IdemState is what BeginIdempotent found.
type IdemState int

// Outcomes of BeginIdempotent.
const (
	IdemLeader   IdemState = iota // the caller runs the request, as owner
	IdemRunning                   // another attempt is running it
	IdemDone                      // it was answered: the answer is returned
	IdemMismatch                  // the key was used for another request
)

// IdemKey is a user's idempotency key and the hash of the request it came with.
type IdemKey struct {
	User, Key string
	Hash      []byte
}

// IdemAnswer is a remembered answer.
type IdemAnswer struct {
	Status int
	Header []byte // the headers, as the caller encodes them
	Body   []byte
}

// IdemLimits bound the keys: a key is forgotten TTL after its request
// began; a request still running after StaleAfter is taken for dead (its
// replica stopped) and may be run again; a user keeps at most PerUser
// answered keys, the oldest going first.
type IdemLimits struct {
	TTL, StaleAfter time.Duration
	PerUser         int
}

// BeginIdempotent claims k for owner (a new id per attempt), or says who
// holds it: running, answered (with the answer) or used for another request.
func (s *Store) BeginIdempotent(ctx context.Context, k IdemKey, owner string, lim IdemLimits) (state IdemState, ans *IdemAnswer, err error) {
	err = s.ephemeral(ctx, func(q queryer) error {
		state, ans, err = s.beginIdempotent(ctx, q, k, owner, lim)
		return err
	})
	return state, ans, err
}

func (s *Store) beginIdempotent(ctx context.Context, q queryer, k IdemKey, owner string, lim IdemLimits) (IdemState, *IdemAnswer, error) {
	now := s.now()
	for range 3 {
		res, err := q.ExecContext(ctx, `INSERT INTO idempotency_keys (user_id, idem_key, seq, request_hash, owner, started_at)
			VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM idempotency_keys WHERE user_id = $1), $3, $4, $5)
			ON CONFLICT (user_id, idem_key) DO NOTHING`, k.User, k.Key, k.Hash, owner, micros(now))
		if err != nil {
			return 0, nil, fmt.Errorf("idempotency key: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n == 1 {
			// The user's oldest answered keys beyond the bound go; a request
			// still running is never forgotten.
			if _, err := q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND finished_at IS NOT NULL
				AND seq <= (SELECT MAX(seq) FROM idempotency_keys WHERE user_id = $1) - $2`, k.User, lim.PerUser); err != nil {
				return 0, nil, fmt.Errorf("idempotency key: %w", mapErr(err))
			}
			return IdemLeader, nil, nil
		}
		var hash []byte
		var oldOwner string
		var started int64
		var finished sql.NullInt64
		var a IdemAnswer
		err = q.QueryRowContext(ctx, `SELECT request_hash, owner, started_at, finished_at, status, header, body
			FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2`, k.User, k.Key).
			Scan(&hash, &oldOwner, &started, &finished, &a.Status, &a.Header, &a.Body)
		if err == sql.ErrNoRows {
			continue // forgotten meanwhile: claim it again
		}
		if err != nil {
			return 0, nil, fmt.Errorf("idempotency key: %w", mapErr(err))
		}
		age := now.Sub(fromMicros(started))
		if age >= lim.TTL || (!finished.Valid && age >= lim.StaleAfter) {
			res, err := q.ExecContext(ctx, `UPDATE idempotency_keys SET request_hash = $1, owner = $2, started_at = $3,
				finished_at = NULL, status = 0, header = NULL, body = NULL
				WHERE user_id = $4 AND idem_key = $5 AND owner = $6 AND started_at = $7`,
				k.Hash, owner, micros(now), k.User, k.Key, oldOwner, started)
			if err != nil {
				return 0, nil, fmt.Errorf("idempotency key: %w", mapErr(err))
			}
			if n, _ := res.RowsAffected(); n == 1 {
				return IdemLeader, nil, nil
			}
			continue // another attempt took it over first
		}
		switch {
		case !bytes.Equal(hash, k.Hash):
			return IdemMismatch, nil, nil
		case !finished.Valid:
			return IdemRunning, nil, nil
		}
		return IdemDone, &a, nil
	}
	return IdemRunning, nil, nil
}

// FinishIdempotent keeps owner's answer a to k (nil: forgets k, so that a
// retry runs for real). An owner whose key was taken over keeps nothing.
func (s *Store) FinishIdempotent(ctx context.Context, user, key, owner string, a *IdemAnswer) error {
	err := s.ephemeral(ctx, func(q queryer) error {
		var err error
		if a == nil {
			_, err = q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND owner = $3 AND finished_at IS NULL`,
				user, key, owner)
		} else {
			_, err = q.ExecContext(ctx, `UPDATE idempotency_keys SET finished_at = $1, status = $2, header = $3, body = $4
			WHERE user_id = $5 AND idem_key = $6 AND owner = $7 AND finished_at IS NULL`,
				micros(s.now()), a.Status, a.Header, a.Body, user, key, owner)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("idempotency key: %w", mapErr(err))
	}
	return nil
}

// IdempotentKnown says whether user's key is remembered within ttl (an
// answer, or a request running).
func (s *Store) IdempotentKnown(ctx context.Context, user, key string, ttl time.Duration) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND started_at > $3`,
		user, key, micros(s.now().Add(-ttl))).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("idempotency key: %w", mapErr(err))
	}
	return true, nil
}

// cleanIdempotency forgets the keys older than ttl, then, while more than
// maxKeys are kept or their answers hold more than maxBytes, the oldest
// answered ones.
func (s *Store) cleanIdempotency(ctx context.Context, now time.Time, ttl time.Duration, maxKeys int, maxBytes int64) (int64, error) {
	n, err := s.deleteBatches(ctx, "idempotency_keys", "user_id, idem_key", "started_at <= $1", micros(now.Add(-ttl)))
	if err != nil {
		return n, err
	}
	for {
		var keys int
		var size int64
		if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM idempotency_keys`).Scan(&keys, &size); err != nil {
			return n, fmt.Errorf("clean idempotency keys: %w", mapErr(err))
		}
		over := keys - maxKeys
		if over <= 0 && size <= maxBytes {
			return n, nil
		}
		// The oldest answered keys: the excess in number, or a batch while
		// the answers' bytes are over their bound.
		batch := min(max(over, 0), CleanupBatch)
		if size > maxBytes {
			batch = max(batch, 100)
		}
		res, err := s.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE (user_id, idem_key) IN (SELECT user_id, idem_key
			FROM idempotency_keys WHERE finished_at IS NOT NULL ORDER BY started_at LIMIT $1)`, batch)
		if err != nil {
			return n, fmt.Errorf("clean idempotency keys: %w", mapErr(err))
		}
		d, _ := res.RowsAffected()
		n += d
		if d == 0 {
			return n, nil // only running requests are left
		}
	}
}

// CleanSharedState deletes the rate-limit buckets that are full again and
// the idempotency keys past ttl or beyond the bounds (maxKeys in all,
// maxBytes of answers), CleanupBatch rows a statement. The service runs it
// every minute; it is safe at any time, on every replica at once.
func (s *Store) CleanSharedState(ctx context.Context, ttl time.Duration, maxKeys int, maxBytes int64) error {
	now := s.now()
	if _, err := s.cleanBuckets(ctx, now); err != nil {
		return err
	}
	_, err := s.cleanIdempotency(ctx, now, ttl, maxKeys, maxBytes)
	return err
}
