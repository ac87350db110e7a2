package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Workstation is an enrolled counter workstation: the public half of the
// P-256 key its TPM holds. Revoked workstations stay listed, with RevokedAt.
type Workstation struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	PublicKey   []byte     `json:"-"` // PKIX DER
	Fingerprint string     `json:"fingerprint"`
	EnrolledBy  string     `json:"enrolled_by"`
	EnrolledAt  time.Time  `json:"enrolled_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// ErrUnknownChallenge is a counter nonce the service never gave.
var ErrUnknownChallenge = fmt.Errorf("counter challenge: %w", ErrNotFound)

// MaxWorkstations bounds how many an administrator can enrol (and list).
const MaxWorkstations = 1000

func wsAudit(w *Workstation) map[string]any {
	return map[string]any{"id": w.ID, "name": w.Name, "fingerprint": w.Fingerprint}
}

// EnrolWorkstation stores w (ID, Name, PublicKey, Fingerprint, EnrolledBy
// set by the caller); a key enrolled before is ErrConflict.
func (s *Store) EnrolWorkstation(ctx context.Context, w *Workstation, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error {
		var n int
		if err := tx.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM workstations`).Scan(&n); err != nil {
			return mapErr(err)
		}
		if n >= MaxWorkstations {
			return fmt.Errorf("%d workstations enrolled: %w", n, ErrConflict)
		}
		w.EnrolledAt = tx.now.UTC()
		_, err := tx.q.ExecContext(ctx, `INSERT INTO workstations (id, name, public_key, fingerprint, enrolled_by, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			w.ID, w.Name, w.PublicKey, w.Fingerprint, w.EnrolledBy, micros(w.EnrolledAt))
		if err != nil {
			return fmt.Errorf("workstation: %w", mapErr(err))
		}
		return tx.Audit(ch, "workstation/"+w.ID, nil, wsAudit(w))
	})
}

const wsCols = `id, name, public_key, fingerprint, enrolled_by, enrolled_at, revoked_at`

func scanWorkstation(sc interface{ Scan(...any) error }) (*Workstation, error) {
	var w Workstation
	var at int64
	var rev sql.NullInt64
	if err := sc.Scan(&w.ID, &w.Name, &w.PublicKey, &w.Fingerprint, &w.EnrolledBy, &at, &rev); err != nil {
		return nil, err
	}
	w.EnrolledAt = fromMicros(at)
	if rev.Valid {
		t := fromMicros(rev.Int64)
		w.RevokedAt = &t
	}
	return &w, nil
}

// Workstations lists the enrolled workstations, oldest first.
func (s *Store) Workstations(ctx context.Context) ([]*Workstation, error) {
	rows, err := s.read().q.QueryContext(ctx, `SELECT `+wsCols+` FROM workstations ORDER BY enrolled_at, id LIMIT $1`, MaxWorkstations)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	out := []*Workstation{}
	for rows.Next() {
		w, err := scanWorkstation(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, w)
	}
	return out, mapErr(rows.Err())
}

// WorkstationByFingerprint finds an enrolled (possibly revoked) key.
func (s *Store) WorkstationByFingerprint(ctx context.Context, fp string) (*Workstation, error) {
	w, err := scanWorkstation(s.read().q.QueryRowContext(ctx, `SELECT `+wsCols+` FROM workstations WHERE fingerprint = $1`, fp))
	if err != nil {
		return nil, fmt.Errorf("workstation: %w", mapErr(err))
	}
	return w, nil
}

// RevokeWorkstation marks it revoked and ends its counter sessions and
// the clerk sessions signed in through it:
// ErrNotFound if unknown, ErrRevoked if revoked before.
func (s *Store) RevokeWorkstation(ctx context.Context, id string, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error {
		w, err := scanWorkstation(tx.q.QueryRowContext(ctx, `SELECT `+wsCols+` FROM workstations WHERE id = $1`, id))
		if err != nil {
			return fmt.Errorf("workstation: %w", mapErr(err))
		}
		if w.RevokedAt != nil {
			return fmt.Errorf("workstation %s: %w", id, ErrRevoked)
		}
		res, err := tx.q.ExecContext(ctx, `UPDATE workstations SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, micros(tx.now), id)
		if err := oneRow(res, err, "workstation"); err != nil {
			return err
		}
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM counter_tokens WHERE workstation_id = $1`, id); err != nil {
			return mapErr(err)
		}
		// The clerk sessions the counter opened end with it.
		if _, err := tx.q.ExecContext(ctx, `UPDATE auth_tokens SET revoked_at = $1 WHERE revoked_at IS NULL
			AND family IN (SELECT family FROM counter_families WHERE workstation_id = $2)`, micros(tx.now), id); err != nil {
			return mapErr(err)
		}
		return tx.Audit(ch, "workstation/"+id, wsAudit(w), map[string]any{"revoked": true})
	})
}

// AddCounterChallenge stores the hash of a counter nonce for origin.
func (s *Store) AddCounterChallenge(ctx context.Context, nonce []byte, origin string, ttl time.Duration) (time.Time, error) {
	var expires time.Time
	err := s.Write(ctx, func(tx *Tx) error {
		expires = tx.now.Add(ttl).UTC()
		// Spent and expired challenges are swept as new ones come.
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM counter_challenges WHERE expires_at < $1`, micros(tx.now.Add(-time.Hour))); err != nil {
			return mapErr(err)
		}
		_, err := tx.q.ExecContext(ctx, `INSERT INTO counter_challenges (nonce_hash, origin, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			NonceHash(nonce), origin, micros(tx.now), micros(expires))
		return mapErr(err)
	})
	return expires, err
}

// CounterSession is the outcome of a signed challenge: the challenge is
// used up whatever happens next, then verify decides; on success the
// tokens are stored and the grant audited, on failure the refusal is
// audited (the refusal's error is returned after the commit).
type CounterSession struct {
	Nonce       []byte
	Fingerprint string
	Tokens      []*CounterToken
}

// CounterToken is a counter session's access or refresh token (its hash).
type CounterToken struct {
	Hash      string
	Kind      TokenKind
	ExpiresAt time.Time
}

// CounterRefusal is a refused counter session: Err says why (errors.Is
// finds ErrUnknownChallenge, ErrUsed, ErrExpired, ErrNotFound, ErrRevoked or
// the signature check's error), Reason names it in a word, Target and
// WorkstationID are what its audit row names.
type CounterRefusal struct {
	Err                           error
	Reason, Target, WorkstationID string
}

func (e *CounterRefusal) Error() string { return e.Err.Error() }
func (e *CounterRefusal) Unwrap() error { return e.Err }

// OpenCounterSession consumes the nonce (ErrNotFound, ErrUsed, ErrExpired),
// finds the workstation by fingerprint (ErrNotFound, ErrRevoked), and asks
// verify (origin, workstation) to check the signature. A grant is audited
// and its tokens stored; a refusal (the nonce spent all the same) comes
// back as a *CounterRefusal for the caller to audit: anyone can ask, so the
// caller collapses those rows.
func (s *Store) OpenCounterSession(ctx context.Context, cs CounterSession, ip string,
	verify func(origin string, w *Workstation) error) (*Workstation, error) {
	var result error
	var ws *Workstation
	err := s.Write(ctx, func(tx *Tx) error {
		result = nil
		refuse := func(word string, reason error, target, wsID string) error {
			result = &CounterRefusal{Err: reason, Reason: word, Target: target, WorkstationID: wsID}
			return nil
		}
		h := NonceHash(cs.Nonce)
		var origin string
		var expires int64
		var used sql.NullInt64
		err := tx.q.QueryRowContext(ctx, `SELECT origin, expires_at, used_at FROM counter_challenges WHERE nonce_hash = $1`, h).Scan(&origin, &expires, &used)
		switch {
		case err == sql.ErrNoRows:
			return refuse("unknown_challenge", ErrUnknownChallenge, "counter", "")
		case err != nil:
			return mapErr(err)
		case used.Valid:
			return refuse("challenge_used", fmt.Errorf("challenge: %w", ErrUsed), "counter", "")
		}
		res, err := tx.q.ExecContext(ctx, `UPDATE counter_challenges SET used_at = $1 WHERE nonce_hash = $2 AND used_at IS NULL`, micros(tx.now), h)
		if err := oneRow(res, err, "challenge"); err != nil {
			return refuse("challenge_used", fmt.Errorf("challenge: %w", ErrUsed), "counter", "")
		}
		if !tx.now.Before(fromMicros(expires)) {
			return refuse("challenge_expired", fmt.Errorf("challenge: %w", ErrExpired), "counter", "")
		}
		w, err := scanWorkstation(tx.q.QueryRowContext(ctx, `SELECT `+wsCols+` FROM workstations WHERE fingerprint = $1`, cs.Fingerprint))
		switch {
		case err == sql.ErrNoRows:
			return refuse("not_enrolled", fmt.Errorf("workstation: %w", ErrNotFound), "counter", "")
		case err != nil:
			return mapErr(err)
		case w.RevokedAt != nil:
			return refuse("revoked", fmt.Errorf("workstation: %w", ErrRevoked), "workstation/"+w.ID, w.ID)
		}
		if err := verify(origin, w); err != nil {
			return refuse("bad_signature", fmt.Errorf("signature: %w", err), "workstation/"+w.ID, w.ID)
		}
		family := newID()
		if err := tx.addCounterTokens(ctx, w.ID, family, cs.Tokens); err != nil {
			return err
		}
		ws = w
		return tx.Audit(Change{Actor: "workstation/" + w.ID, IP: ip, Action: "counter.session_granted", WorkstationID: w.ID}, "workstation/"+w.ID, nil,
			map[string]string{"fingerprint": w.Fingerprint, "family": family})
	})
	if err != nil {
		return nil, err
	}
	return ws, result
}

// addCounterTokens stores a counter session's tokens in family.
func (tx *Tx) addCounterTokens(ctx context.Context, wsID, family string, ts []*CounterToken) error {
	for _, t := range ts {
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO counter_tokens (hash, kind, workstation_id, expires_at, family) VALUES ($1, $2, $3, $4, $5)`,
			t.Hash, string(t.Kind), wsID, micros(t.ExpiresAt), family); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// ValidCounterToken returns the workstation of a live counter access
// token: ErrNotFound, ErrExpired, or ErrRevoked (workstation revoked).
func (s *Store) ValidCounterToken(ctx context.Context, hash string) (*Workstation, error) {
	tx := s.read()
	var kind, wsID string
	var expires int64
	err := tx.q.QueryRowContext(ctx, `SELECT kind, workstation_id, expires_at FROM counter_tokens WHERE hash = $1`, hash).Scan(&kind, &wsID, &expires)
	if err != nil {
		return nil, fmt.Errorf("counter token: %w", mapErr(err))
	}
	if kind != string(AccessToken) {
		return nil, fmt.Errorf("counter token: %w", ErrNotFound)
	}
	if !tx.now.Before(fromMicros(expires)) {
		return nil, fmt.Errorf("counter token: %w", ErrExpired)
	}
	w, err := scanWorkstation(tx.q.QueryRowContext(ctx, `SELECT `+wsCols+` FROM workstations WHERE id = $1`, wsID))
	if err != nil {
		return nil, fmt.Errorf("workstation: %w", mapErr(err))
	}
	if w.RevokedAt != nil {
		return nil, fmt.Errorf("workstation: %w", ErrRevoked)
	}
	return w, nil
}

// MarkCounterFamily records, in the sign-in's transaction, that a clerk
// session (token family) was opened at workstation wsID.
func (tx *Tx) MarkCounterFamily(ctx context.Context, family, wsID string) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	_, err := tx.q.ExecContext(ctx, `INSERT INTO counter_families (family, workstation_id) VALUES ($1, $2)`, family, wsID)
	return mapErr(err)
}

// RotateCounterRefresh spends counter refresh token oldHash (single use:
// it is kept, marked spent) and stores next in its family for the same
// workstation: ErrNotFound for an unknown token, ErrExpired, ErrRevoked
// (workstation revoked). A spent token presented again was copied: the
// whole family (the counter session and its refreshes) ends, the reuse is
// audited, and ErrTokenReused returned, as for a clerk's refresh token.
func (s *Store) RotateCounterRefresh(ctx context.Context, oldHash string, next ...*CounterToken) (*Workstation, error) {
	var ws *Workstation
	var reused bool
	err := s.Write(ctx, func(tx *Tx) error {
		var kind, wsID, family string
		var expires int64
		var spent sql.NullInt64
		err := tx.q.QueryRowContext(ctx, `SELECT kind, workstation_id, expires_at, family, spent_at FROM counter_tokens WHERE hash = $1`, oldHash).
			Scan(&kind, &wsID, &expires, &family, &spent)
		if err != nil {
			return fmt.Errorf("counter token: %w", mapErr(err))
		}
		if kind != string(RefreshToken) {
			return fmt.Errorf("counter token: %w", ErrNotFound)
		}
		if spent.Valid {
			reused = true
			if _, err := tx.q.ExecContext(ctx, `DELETE FROM counter_tokens WHERE family = $1`, family); err != nil {
				return fmt.Errorf("end counter session: %w", mapErr(err))
			}
			return tx.Audit(Change{Actor: "workstation/" + wsID, Action: "counter.refresh_reused", WorkstationID: wsID}, "workstation/"+wsID, nil,
				map[string]string{"family": family})
		}
		if !tx.now.Before(fromMicros(expires)) {
			return fmt.Errorf("counter token: %w", ErrExpired)
		}
		w, err := scanWorkstation(tx.q.QueryRowContext(ctx, `SELECT `+wsCols+` FROM workstations WHERE id = $1`, wsID))
		if err != nil {
			return fmt.Errorf("workstation: %w", mapErr(err))
		}
		if w.RevokedAt != nil {
			return fmt.Errorf("workstation: %w", ErrRevoked)
		}
		// The WHERE makes a concurrent second rotation of the same token lose.
		res, err := tx.q.ExecContext(ctx, `UPDATE counter_tokens SET spent_at = $1 WHERE hash = $2 AND spent_at IS NULL`, micros(tx.now), oldHash)
		if err := oneRow(res, err, "counter token"); err != nil {
			return fmt.Errorf("counter refresh raced: %w", ErrTokenReused)
		}
		if err := tx.addCounterTokens(ctx, w.ID, family, next); err != nil {
			return err
		}
		ws = w
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, ErrTokenReused
	}
	return ws, nil
}
