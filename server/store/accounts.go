package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"fmt"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Organisation is a customer organisation of the CA.
type Organisation struct {
	ID         string
	Name       string
	CreditCode string
	CreatedAt  time.Time
}

// CreateOrganisation inserts o (ID and CreatedAt are filled in if empty).
func (tx *Tx) CreateOrganisation(ctx context.Context, o *Organisation, ch Change) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	if o.ID == "" {
		o.ID = newID()
	}
	o.CreatedAt = tx.now
	if _, err := tx.q.ExecContext(ctx, `INSERT INTO organisations (id, name, credit_code, created_at) VALUES ($1, $2, $3, $4)`,
		o.ID, o.Name, o.CreditCode, micros(o.CreatedAt)); err != nil {
		return fmt.Errorf("create organisation: %w", mapErr(err))
	}
	return tx.Audit(ch, "organisation/"+o.ID, nil, o)
}

// CreateOrganisation inserts o in its own transaction.
func (s *Store) CreateOrganisation(ctx context.Context, o *Organisation, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.CreateOrganisation(ctx, o, ch) })
}

// Organisation returns the organisation with id.
func (tx *Tx) Organisation(ctx context.Context, id string) (*Organisation, error) {
	var o Organisation
	var at int64
	err := tx.q.QueryRowContext(ctx, `SELECT id, name, credit_code, created_at FROM organisations WHERE id = $1`, id).
		Scan(&o.ID, &o.Name, &o.CreditCode, &at)
	if err != nil {
		return nil, fmt.Errorf("organisation %s: %w", id, mapErr(err))
	}
	o.CreatedAt = fromMicros(at)
	return &o, nil
}

// RenameOrganisation registers a new name for organisation id (a renamed
// company keeps its credit code): ErrNotFound if there is none. Forms name
// the organisation as registered, so a renamed one is renamed here first.
func (s *Store) RenameOrganisation(ctx context.Context, id, name string, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error {
		before, err := tx.Organisation(ctx, id)
		if err != nil {
			return err
		}
		res, err := tx.q.ExecContext(ctx, `UPDATE organisations SET name = $1 WHERE id = $2`, name, id)
		if err := oneRow(res, err, "rename organisation"); err != nil {
			return err
		}
		after := *before
		after.Name = name
		return tx.Audit(ch, "organisation/"+id, before, &after)
	})
}

// Organisation returns the organisation with id.
func (s *Store) Organisation(ctx context.Context, id string) (*Organisation, error) {
	return s.read().Organisation(ctx, id)
}

// OrganisationByCreditCode returns the organisation with a credit code.
func (s *Store) OrganisationByCreditCode(ctx context.Context, code string) (*Organisation, error) {
	var id string
	if err := s.r.QueryRowContext(ctx, `SELECT id FROM organisations WHERE credit_code = $1`, code).Scan(&id); err != nil {
		return nil, fmt.Errorf("organisation with credit code: %w", mapErr(err))
	}
	return s.Organisation(ctx, id)
}

// User is a clerk (of one organisation) or CA staff.
type User struct {
	ID             string
	Role           renewal.Role // clerk, reviewer, admin
	Name           string
	Mobile         string // normalised; "" if none
	Account        string // "" if none
	PasswordHash   string // argon2id, PHC string format; "" if none
	OrganisationID string // required for clerks
	Disabled       bool
	CreatedAt      time.Time
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// CreateUser inserts u (ID and CreatedAt are filled in). The password hash is
// never written to the audit log.
func (tx *Tx) CreateUser(ctx context.Context, u *User, ch Change) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	if u.Role != renewal.RoleClerk && !u.Role.IsStaff() {
		return fmt.Errorf("create user: role %q: %w", u.Role, ErrInvalid)
	}
	if u.ID == "" {
		u.ID = newID()
	}
	u.CreatedAt = tx.now
	_, err := tx.q.ExecContext(ctx, `INSERT INTO users (id, role, name, mobile, account, password_hash, organisation_id, disabled, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, string(u.Role), u.Name, nullString(u.Mobile), nullString(u.Account), nullString(u.PasswordHash),
		nullString(u.OrganisationID), boolInt(u.Disabled), micros(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("create user: %w", mapErr(err))
	}
	return tx.Audit(ch, "user/"+u.ID, nil, userAudit(u))
}

// CreateUser inserts u in its own transaction.
func (s *Store) CreateUser(ctx context.Context, u *User, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.CreateUser(ctx, u, ch) })
}

func userAudit(u *User) map[string]any {
	return map[string]any{"id": u.ID, "role": u.Role, "name": u.Name, "mobile": renewal.MaskMobile(u.Mobile),
		"account": u.Account, "organisation_id": u.OrganisationID, "disabled": u.Disabled, "has_password": u.PasswordHash != ""}
}

const userColumns = `id, role, name, mobile, account, password_hash, organisation_id, disabled, created_at`

func (tx *Tx) userWhere(ctx context.Context, where string, arg any) (*User, error) {
	var u User
	var mobile, account, hash, org sql.NullString
	var role string
	var disabled int
	var at int64
	err := tx.q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg).
		Scan(&u.ID, &role, &u.Name, &mobile, &account, &hash, &org, &disabled, &at)
	if err != nil {
		return nil, fmt.Errorf("user: %w", mapErr(err))
	}
	u.Role, u.Mobile, u.Account, u.PasswordHash, u.OrganisationID = renewal.Role(role), mobile.String, account.String, hash.String, org.String
	u.Disabled, u.CreatedAt = disabled != 0, fromMicros(at)
	return &u, nil
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id string) (*User, error) {
	return s.read().userWhere(ctx, "id = $1", id)
}

// UserByMobile returns the user with a normalised mobile number.
func (s *Store) UserByMobile(ctx context.Context, mobile string) (*User, error) {
	return s.read().userWhere(ctx, "mobile = $1", mobile)
}

// UserByAccount returns the user with an account name.
func (s *Store) UserByAccount(ctx context.Context, account string) (*User, error) {
	return s.read().userWhere(ctx, "account = $1", account)
}

// SetPassword replaces a user's password hash.
func (s *Store) SetPassword(ctx context.Context, userID, hash string, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, nullString(hash), userID)
		if err := oneRow(res, err, "set password"); err != nil {
			return err
		}
		return tx.Audit(ch, "user/"+userID, nil, map[string]any{"password": "changed"})
	})
}

// SetUserDisabled disables or re-enables a user; disabling revokes their tokens.
func (s *Store) SetUserDisabled(ctx context.Context, userID string, disabled bool, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE users SET disabled = $1 WHERE id = $2`, boolInt(disabled), userID)
		if err := oneRow(res, err, "disable user"); err != nil {
			return err
		}
		if disabled {
			if _, err := tx.q.ExecContext(ctx, `UPDATE auth_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`,
				micros(tx.now), userID); err != nil {
				return fmt.Errorf("revoke tokens: %w", mapErr(err))
			}
		}
		return tx.Audit(ch, "user/"+userID, nil, map[string]any{"disabled": disabled})
	})
}

func oneRow(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// SMSCode is a sign-in code sent by SMS; only its hash is stored.
type SMSCode struct {
	Mobile   string
	Purpose  string // "login", "phone_check"
	CodeHash string // e.g. HMAC-SHA-256 of the code under a server key, hex
	IP       string // the source that asked: an IPv4 address or an IPv6 /64
	TTL      time.Duration
}

// SMSLimits are the sending limits CreateSMSCode enforces atomically.
//
// A source is trusted with a number when the number signed in by SMS from
// it within SMSTrustFor, or when it is an office network (Office). Strangers
// asking for codes to a number then cannot lock its owner out where the
// owner signs in: the owner's requests meet only their own caps.
type SMSLimits struct {
	ResendAfter time.Duration // minimum time between two codes to one number
	// PerNumberPerIP caps the codes to a number asked from one source.
	PerNumberPerIP int
	// PerNumberPerDay caps the codes to a number (from all sources) that a
	// source not trusted with the number may still add to.
	PerNumberPerDay int
	// PerIPPerDay caps the codes a source asks for numbers it is not
	// trusted with (its requests for the others are not counted).
	PerIPPerDay int
	Office      bool
	DayStart    time.Time // start of the current day in the CA's time zone
}

// SMSTrustFor is how long a sign-in by SMS from a source trusts the source
// with the number (see SMSLimits).
const SMSTrustFor = 90 * 24 * time.Hour

// LimitError is a refusal by a limit: Err is ErrTooSoon or ErrDailyLimit,
// Until when the limit lifts.
type LimitError struct {
	Err   error
	Until time.Time
}

func (e *LimitError) Error() string { return e.Err.Error() }
func (e *LimitError) Unwrap() error { return e.Err }

// CreateSMSCode stores a new code if the limits allow, else a *LimitError:
// ErrTooSoon within ResendAfter of the last code to the number asked from
// the same source, ErrDailyLimit once a daily cap is reached (until the next
// day). A new code replaces the older unused ones for the same number and
// purpose asked from the same source: a stranger asking for a code to the
// number neither kills the live code of the one who asked elsewhere nor
// makes them wait. So a number has at most one live code per source, and
// the daily caps bound the sources.
func (s *Store) CreateSMSCode(ctx context.Context, c SMSCode, lim SMSLimits) error {
	return s.Write(ctx, func(tx *Tx) error {
		// The caps count rows: the number's and the source's codes are
		// counted and added to by one transaction at a time.
		if err := tx.lock(ctx, lockSMSNumber, c.Mobile); err != nil {
			return err
		}
		if err := tx.lock(ctx, lockSMSSource, c.IP); err != nil {
			return err
		}
		q := func(what, query string, dst []any, args ...any) error {
			if err := tx.q.QueryRowContext(ctx, query, args...).Scan(dst...); err != nil {
				return fmt.Errorf("sms limits: %s: %w", what, mapErr(err))
			}
			return nil
		}
		day, since := micros(lim.DayStart), micros(tx.now.Add(-SMSTrustFor))
		tomorrow := &LimitError{Err: ErrDailyLimit, Until: lim.DayStart.AddDate(0, 0, 1)}
		var last sql.NullInt64
		var perNumber, perPair, trusted int
		if err := q("number", `SELECT MAX(CASE WHEN ip = $3 THEN created_at END), COUNT(*), COALESCE(SUM(CASE WHEN ip = $3 THEN 1 ELSE 0 END), 0)
			FROM sms_codes WHERE mobile = $1 AND created_at >= $2`, []any{&last, &perNumber, &perPair}, c.Mobile, day, c.IP); err != nil {
			return err
		}
		if last.Valid && tx.now.Sub(fromMicros(last.Int64)) < lim.ResendAfter {
			return &LimitError{Err: ErrTooSoon, Until: fromMicros(last.Int64).Add(lim.ResendAfter)}
		}
		if perPair >= lim.PerNumberPerIP {
			return tomorrow
		}
		if err := q("trust", `SELECT COUNT(*) FROM sms_sources WHERE mobile = $1 AND source = $2 AND signed_in_at >= $3`,
			[]any{&trusted}, c.Mobile, c.IP, since); err != nil {
			return err
		}
		if trusted == 0 && !lim.Office && perNumber >= lim.PerNumberPerDay {
			return tomorrow
		}
		if trusted == 0 {
			var perIP int
			if err := q("source", `SELECT COUNT(*) FROM sms_codes c WHERE c.ip = $1 AND c.created_at >= $2
				AND NOT EXISTS (SELECT 1 FROM sms_sources t WHERE t.mobile = c.mobile AND t.source = c.ip AND t.signed_in_at >= $3)`,
				[]any{&perIP}, c.IP, day, since); err != nil {
				return err
			}
			if perIP >= lim.PerIPPerDay {
				return tomorrow
			}
		}
		if _, err := tx.q.ExecContext(ctx, `UPDATE sms_codes SET used_at = $1 WHERE mobile = $2 AND purpose = $3 AND ip = $4 AND used_at IS NULL`,
			micros(tx.now), c.Mobile, c.Purpose, c.IP); err != nil {
			return fmt.Errorf("sms code: %w", mapErr(err))
		}
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO sms_codes (id, mobile, purpose, code_hash, ip, tries, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, 0, $6, $7)`, newID(), c.Mobile, c.Purpose, c.CodeHash, c.IP,
			micros(tx.now), micros(tx.now.Add(c.TTL))); err != nil {
			return fmt.Errorf("sms code: %w", mapErr(err))
		}
		return nil
	})
}

// ConsumeSMSCode checks a code, given from source, against the number's
// live codes (one per source that asked, see CreateSMSCode): ErrNotFound if
// there is none, ErrExpired if all are expired, ErrTooManyTries once each
// has had maxTries wrong ones, ErrMismatch for a wrong one (counted on each
// live code). Wrong tries from the source that asked for a code and from
// all others are counted apart, maxTries each: others cannot kill the code
// for the one who asked. A right one is used up, and the source is trusted
// with the number since.
func (s *Store) ConsumeSMSCode(ctx context.Context, mobile, purpose, codeHash, source string, maxTries int) error {
	type live struct {
		id, hash, column string
		tries            int
	}
	var result error
	err := s.Write(ctx, func(tx *Tx) error {
		// Tries are counted before a code is compared: one try at a time.
		if err := tx.lock(ctx, lockSMSNumber, mobile); err != nil {
			return err
		}
		rows, err := tx.q.QueryContext(ctx, `SELECT id, code_hash, ip, tries, foreign_tries, expires_at FROM sms_codes
			WHERE mobile = $1 AND purpose = $2 AND used_at IS NULL ORDER BY created_at DESC`, mobile, purpose)
		if err != nil {
			return fmt.Errorf("sms code: %w", mapErr(err))
		}
		var codes []live
		var found, unexpired bool
		for rows.Next() {
			var c live
			var asker string
			var own, foreign int
			var expires int64
			if err := rows.Scan(&c.id, &c.hash, &asker, &own, &foreign, &expires); err != nil {
				rows.Close()
				return fmt.Errorf("sms code: %w", mapErr(err))
			}
			found = true
			if !tx.now.Before(fromMicros(expires)) {
				continue
			}
			unexpired = true
			c.tries, c.column = own, "tries"
			if source != asker {
				c.tries, c.column = foreign, "foreign_tries"
			}
			if c.tries < maxTries {
				codes = append(codes, c)
			}
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return fmt.Errorf("sms code: %w", mapErr(err))
		}
		rows.Close()
		switch {
		case !found:
			return fmt.Errorf("sms code: %w", ErrNotFound)
		case !unexpired:
			result = ErrExpired
			return nil
		case len(codes) == 0:
			result = ErrTooManyTries
			return nil
		}
		match := -1
		for i, c := range codes {
			if subtle.ConstantTimeCompare([]byte(c.hash), []byte(codeHash)) == 1 && match < 0 {
				match = i
			}
		}
		if match < 0 {
			// The wrong try is counted on each code it was tried against,
			// and committed; the caller still fails.
			result = ErrTooManyTries
			for _, c := range codes {
				if c.tries+1 < maxTries {
					result = ErrMismatch
				}
				if _, err := tx.q.ExecContext(ctx, `UPDATE sms_codes SET `+c.column+` = `+c.column+` + 1 WHERE id = $1`, c.id); err != nil {
					return mapErr(err)
				}
			}
			return nil
		}
		if _, err = tx.q.ExecContext(ctx, `UPDATE sms_codes SET used_at = $1 WHERE id = $2`, micros(tx.now), codes[match].id); err != nil {
			return mapErr(err)
		}
		_, err = tx.q.ExecContext(ctx, `INSERT INTO sms_sources (mobile, source, signed_in_at) VALUES ($1, $2, $3)
			ON CONFLICT (mobile, source) DO UPDATE SET signed_in_at = excluded.signed_in_at`, mobile, source, micros(tx.now))
		return mapErr(err)
	})
	if err != nil {
		return err
	}
	return result
}

// TokenKind is access or refresh.
type TokenKind string

// Token kinds.
const (
	AccessToken  TokenKind = "access"
	RefreshToken TokenKind = "refresh"
)

// Token is an issued access or refresh token; only its hash is stored.
type Token struct {
	Hash       string
	Kind       TokenKind
	UserID     string
	Family     string // all tokens from one sign-in and its refreshes
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	ReplacedBy string // for a spent refresh token: the hash of its successor
	// WorkstationID is the counter workstation the session was signed in
	// at ("" for a session of the clerk's own computer), read, not written.
	WorkstationID string
}

// CreateTokens stores tokens (CreatedAt is filled in).
func (s *Store) CreateTokens(ctx context.Context, ts ...*Token) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.createTokens(ctx, ts) })
}

// CreateTokens stores tokens (CreatedAt is filled in) in this transaction:
// a sign-in stores its tokens and its audit entry in one commit.
func (tx *Tx) CreateTokens(ctx context.Context, ts ...*Token) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	return tx.createTokens(ctx, ts)
}

func (tx *Tx) createTokens(ctx context.Context, ts []*Token) error {
	for _, t := range ts {
		t.CreatedAt = tx.now
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO auth_tokens (hash, kind, user_id, family, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.Hash, string(t.Kind), t.UserID, t.Family, micros(t.CreatedAt), micros(t.ExpiresAt)); err != nil {
			return fmt.Errorf("create token: %w", mapErr(err))
		}
	}
	return nil
}

func (tx *Tx) token(ctx context.Context, hash string) (*Token, error) {
	var t Token
	var kind string
	var created, expires int64
	var revoked sql.NullInt64
	var replaced, ws sql.NullString
	err := tx.q.QueryRowContext(ctx, `SELECT t.hash, t.kind, t.user_id, t.family, t.created_at, t.expires_at, t.revoked_at, t.replaced_by,
		c.workstation_id FROM auth_tokens t LEFT JOIN counter_families c ON c.family = t.family
		WHERE t.hash = $1`, hash).Scan(&t.Hash, &kind, &t.UserID, &t.Family, &created, &expires, &revoked, &replaced, &ws)
	if err != nil {
		return nil, fmt.Errorf("token: %w", mapErr(err))
	}
	t.Kind, t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.ReplacedBy = TokenKind(kind), fromMicros(created), fromMicros(expires), fromNullMicros(revoked), replaced.String
	t.WorkstationID = ws.String
	return &t, nil
}

// ValidToken returns the live token of a kind with hash: ErrNotFound,
// ErrRevoked or ErrExpired otherwise.
func (s *Store) ValidToken(ctx context.Context, kind TokenKind, hash string) (*Token, error) {
	tx := s.read()
	t, err := tx.token(ctx, hash)
	if err != nil {
		return nil, err
	}
	switch {
	case t.Kind != kind:
		return nil, fmt.Errorf("token: %w", ErrNotFound)
	case t.RevokedAt != nil || t.ReplacedBy != "":
		return nil, fmt.Errorf("token: %w", ErrRevoked)
	case !tx.now.Before(t.ExpiresAt):
		return nil, fmt.Errorf("token: %w", ErrExpired)
	}
	return t, nil
}

// RotateRefresh spends refresh token oldHash and stores next (a new access
// and refresh token of the same family). Presenting a spent refresh token
// again means it was stolen or replayed: the whole family is revoked and
// ErrTokenReused returned.
func (s *Store) RotateRefresh(ctx context.Context, oldHash string, next ...*Token) (*Token, error) {
	var old *Token
	var reused bool
	err := s.Write(ctx, func(tx *Tx) error {
		var err error
		if old, err = tx.token(ctx, oldHash); err != nil {
			return err
		}
		switch {
		case old.Kind != RefreshToken:
			return fmt.Errorf("refresh: %w", ErrNotFound)
		case old.ReplacedBy != "":
			reused = true
			_, err := tx.q.ExecContext(ctx, `UPDATE auth_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL`,
				micros(tx.now), old.Family)
			if err != nil {
				return fmt.Errorf("revoke family: %w", mapErr(err))
			}
			return tx.Audit(Change{Actor: old.UserID, Action: "auth.refresh_reused", WorkstationID: old.WorkstationID}, "user/"+old.UserID, nil, map[string]any{"family": old.Family})
		case old.RevokedAt != nil:
			return fmt.Errorf("refresh: %w", ErrRevoked)
		case !tx.now.Before(old.ExpiresAt):
			return fmt.Errorf("refresh: %w", ErrExpired)
		}
		var successor string
		for _, t := range next {
			if t.UserID != old.UserID || t.Family != old.Family {
				return fmt.Errorf("refresh: successor of another user or family: %w", ErrInvalid)
			}
			if t.Kind == RefreshToken {
				successor = t.Hash
			}
		}
		if successor == "" {
			return fmt.Errorf("refresh: no successor refresh token: %w", ErrInvalid)
		}
		// The WHERE makes a concurrent second rotation of the same token lose.
		res, err := tx.q.ExecContext(ctx, `UPDATE auth_tokens SET replaced_by = $1 WHERE hash = $2 AND replaced_by IS NULL`, successor, oldHash)
		if err := oneRow(res, err, "refresh"); err != nil {
			return fmt.Errorf("refresh raced: %w", ErrTokenReused)
		}
		return tx.createTokens(ctx, next)
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, ErrTokenReused
	}
	return old, nil
}

// RevokeFamily revokes every token of a sign-in (sign-out).
func (s *Store) RevokeFamily(ctx context.Context, family string, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE auth_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL`, micros(tx.now), family)
		if err != nil {
			return fmt.Errorf("revoke: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return tx.Audit(ch, "token_family/"+family, nil, map[string]any{"revoked": true})
	})
}

// PurgeExpired deletes SMS codes and tokens that expired before cutoff, and
// the SMS sign-in places older than SMSTrustFor before it. The daily SMS caps
// count stored codes: keep cutoff at least a day back.
func (s *Store) PurgeExpired(ctx context.Context, cutoff time.Time) error {
	return s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM sms_codes WHERE expires_at < $1`, micros(cutoff)); err != nil {
			return fmt.Errorf("purge sms codes: %w", mapErr(err))
		}
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM sms_sources WHERE signed_in_at < $1`, micros(cutoff.Add(-SMSTrustFor))); err != nil {
			return fmt.Errorf("purge sms sources: %w", mapErr(err))
		}
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM auth_tokens WHERE expires_at < $1`, micros(cutoff)); err != nil {
			return fmt.Errorf("purge tokens: %w", mapErr(err))
		}
		// Spent counter refresh tokens are kept until they expire, to see reuse.
		if _, err := tx.q.ExecContext(ctx, `DELETE FROM counter_tokens WHERE expires_at < $1`, micros(cutoff)); err != nil {
			return fmt.Errorf("purge counter tokens: %w", mapErr(err))
		}
		return nil
	})
}
