package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// AddDocument stores a document of application appID (as sc sees it); the
// size, hash and time are computed here. At most MaxDocumentsPerApp
// documents an application (ErrLimit), each at most
// renewal.MaxDocumentBytes. The content type is the caller's sniffed one.
func (tx *Tx) AddDocument(ctx context.Context, sc Scope, d *renewal.Document, data []byte, ch Change) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	if len(data) > renewal.MaxDocumentBytes {
		return fmt.Errorf("document of %d bytes: %w", len(data), ErrLimit)
	}
	if _, err := tx.Application(ctx, sc, d.ApplicationID); err != nil {
		return err
	}
	var n int
	if err := tx.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM documents WHERE application_id = $1`, d.ApplicationID).Scan(&n); err != nil {
		return fmt.Errorf("count documents: %w", mapErr(err))
	}
	if n >= MaxDocumentsPerApp {
		return fmt.Errorf("%d documents: %w", n, ErrLimit)
	}
	sum := sha256.Sum256(data)
	d.ID, d.Size, d.SHA256, d.CreatedAt = newID(), int64(len(data)), hex.EncodeToString(sum[:]), tx.now
	if _, err := tx.q.ExecContext(ctx, `INSERT INTO documents (id, application_id, kind, name, content_type, size, sha256, data, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, d.ID, d.ApplicationID, string(d.Kind), d.Name, d.ContentType,
		d.Size, d.SHA256, []byte{}, micros(d.CreatedAt)); err != nil {
		return fmt.Errorf("add document: %w", mapErr(err))
	}
	for seq := 0; seq*DocumentChunk < len(data); seq++ {
		chunk := data[seq*DocumentChunk : min(len(data), (seq+1)*DocumentChunk)]
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO document_chunks (document_id, seq, data) VALUES ($1, $2, $3)`,
			d.ID, seq, chunk); err != nil {
			return fmt.Errorf("add document chunk %d: %w", seq, mapErr(err))
		}
	}
	return tx.Audit(ch, "application/"+d.ApplicationID, nil, map[string]any{"document": d})
}

// AddDocument runs Tx.AddDocument in its own transaction.
func (s *Store) AddDocument(ctx context.Context, sc Scope, d *renewal.Document, data []byte, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.AddDocument(ctx, sc, d, data, ch) })
}

const docColumns = `id, application_id, kind, name, content_type, size, sha256, created_at`

func scanDoc(r rowScanner, extra any) (*renewal.Document, error) {
	var d renewal.Document
	var kind string
	var at int64
	dest := []any{&d.ID, &d.ApplicationID, &kind, &d.Name, &d.ContentType, &d.Size, &d.SHA256, &at}
	if extra != nil {
		dest = append(dest, extra)
	}
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	d.Kind, d.CreatedAt = renewal.DocumentKind(kind), fromMicros(at)
	return &d, nil
}

// Documents lists an application's documents (metadata only), oldest first.
func (s *Store) Documents(ctx context.Context, sc Scope, appID string) ([]*renewal.Document, error) {
	var out []*renewal.Document
	err := s.Read(ctx, func(tx *Tx) error {
		if _, err := tx.Application(ctx, sc, appID); err != nil {
			return err
		}
		rows, err := tx.q.QueryContext(ctx, `SELECT `+docColumns+` FROM documents WHERE application_id = $1 ORDER BY created_at, id`, appID)
		if err != nil {
			return fmt.Errorf("documents: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDoc(rows, nil)
			if err != nil {
				return fmt.Errorf("documents: %w", err)
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// Document returns a document and its bytes, checking them against the
// stored hash (a download uses OpenDocument, which holds one chunk).
func (s *Store) Document(ctx context.Context, sc Scope, appID, docID string) (*renewal.Document, []byte, error) {
	d, r, err := s.OpenDocument(ctx, sc, appID, docID)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	return d, data, nil
}

// DocumentChunk is how many bytes of a document OpenDocument's reader
// fetches at a time: what one download holds in memory.
const DocumentChunk = 256 << 10

// OpenDocument returns a document's metadata and a reader of its bytes,
// fetched DocumentChunk at a time, so a download holds one chunk, not the
// document. The reader checks the bytes against the stored hash: at the
// end it returns ErrMismatch instead of io.EOF if they differ, and an
// error if the document was deleted meanwhile.
func (s *Store) OpenDocument(ctx context.Context, sc Scope, appID, docID string) (*renewal.Document, io.Reader, error) {
	var d *renewal.Document
	var inline int64
	err := s.Read(ctx, func(tx *Tx) error {
		if _, err := tx.Application(ctx, sc, appID); err != nil {
			return err
		}
		var err error
		d, err = scanDoc(tx.q.QueryRowContext(ctx, `SELECT `+docColumns+`, length(data) FROM documents WHERE id = $1 AND application_id = $2`,
			docID, appID), &inline)
		if err != nil {
			return fmt.Errorf("document %s: %w", docID, mapErr(err))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return d, &docReader{ctx: ctx, s: s, d: d, inline: inline > 0, hash: sha256.New()}, nil
}

type docReader struct {
	ctx    context.Context
	s      *Store
	d      *renewal.Document
	inline bool // stored before chunks: the bytes are documents.data
	seq    int
	off    int64
	buf    []byte
	hash   hash.Hash
	err    error
}

func (r *docReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 && r.err == nil {
		r.fetch()
	}
	if len(r.buf) == 0 {
		return 0, r.err
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fetch reads the next chunk, or sets r.err at the end.
func (r *docReader) fetch() {
	if r.off >= r.d.Size {
		r.err = io.EOF
		if hex.EncodeToString(r.hash.Sum(nil)) != r.d.SHA256 {
			r.err = fmt.Errorf("document %s: content does not match its hash: %w", r.d.ID, ErrMismatch)
		}
		return
	}
	var chunk []byte
	err := r.s.Read(r.ctx, func(tx *Tx) error {
		if r.inline {
			return tx.q.QueryRowContext(r.ctx, `SELECT data FROM documents WHERE id = $1`, r.d.ID).Scan(&chunk)
		}
		return tx.q.QueryRowContext(r.ctx, `SELECT data FROM document_chunks WHERE document_id = $1 AND seq = $2`,
			r.d.ID, r.seq).Scan(&chunk)
	})
	r.seq++
	switch {
	case err != nil:
		r.err = fmt.Errorf("document %s at %d: %w", r.d.ID, r.off, mapErr(err))
	case len(chunk) == 0:
		r.err = fmt.Errorf("document %s: %d bytes stored, %d expected: %w", r.d.ID, r.off, r.d.Size, ErrMismatch)
	default:
		r.off += int64(len(chunk))
		r.hash.Write(chunk)
		r.buf = chunk
	}
}

// DeleteDocument removes a document in this transaction (the caller checks
// the application's state in the same transaction: tx.Application holds the
// row on PostgreSQL, and SQLite has one writer).
func (tx *Tx) DeleteDocument(ctx context.Context, sc Scope, appID, docID string, ch Change) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	if _, err := tx.Application(ctx, sc, appID); err != nil {
		return err
	}
	d, err := scanDoc(tx.q.QueryRowContext(ctx, `SELECT `+docColumns+` FROM documents WHERE id = $1 AND application_id = $2`, docID, appID), nil)
	if err != nil {
		return fmt.Errorf("document %s: %w", docID, mapErr(err))
	}
	if _, err := tx.q.ExecContext(ctx, `DELETE FROM documents WHERE id = $1`, docID); err != nil {
		return fmt.Errorf("delete document: %w", mapErr(err))
	}
	return tx.Audit(ch, "application/"+appID, map[string]any{"document": d}, nil)
}

// DeleteDocument removes a document in its own transaction.
func (s *Store) DeleteDocument(ctx context.Context, sc Scope, appID, docID string, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.DeleteDocument(ctx, sc, appID, docID, ch) })
}

// FinVerifyAttempt is one 0.01 CNY transfer with its code (stored hashed).
type FinVerifyAttempt struct {
	ID            string
	ApplicationID string
	CodeHash      string
	No            int // 1, 2, … in the order the transfers were sent
	Tries         int
	MaxTries      int
	Bank          renewal.BankAccount // snapshot of the account the transfer went to
	AmountFen     int64
	SentAt        time.Time
	VerifiedAt    *time.Time
	FailedAt      *time.Time
}

// AddFinVerifyAttempt records a transfer just sent (ID and SentAt filled in).
// Call it in the transaction that moves the application, so both commit.
func (tx *Tx) AddFinVerifyAttempt(ctx context.Context, f *FinVerifyAttempt, ch Change) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	bank, err := json.Marshal(f.Bank)
	if err != nil {
		return fmt.Errorf("finverify: %w", err)
	}
	n, err := tx.CountFinVerifyAttempts(ctx, f.ApplicationID)
	if err != nil {
		return err
	}
	// The unique (application_id, attempt_no) index refuses a second
	// writer that counted the same number (ErrConflict).
	f.ID, f.SentAt, f.Tries, f.No = newID(), tx.now, 0, n+1
	if _, err := tx.q.ExecContext(ctx, `INSERT INTO finverify_attempts (id, application_id, attempt_no, code_hash, tries, max_tries, bank, amount_fen, sent_at)
		VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8)`, f.ID, f.ApplicationID, f.No, f.CodeHash, f.MaxTries, string(bank), f.AmountFen, micros(f.SentAt)); err != nil {
		return fmt.Errorf("finverify: %w", mapErr(err))
	}
	return tx.Audit(ch, "application/"+f.ApplicationID, nil, map[string]any{"finverify_sent": f.Bank.Masked(), "amount_fen": f.AmountFen})
}

// LatestFinVerifyAttempt returns an application's latest transfer (the
// highest number).
func (tx *Tx) LatestFinVerifyAttempt(ctx context.Context, appID string) (*FinVerifyAttempt, error) {
	var f FinVerifyAttempt
	var bank string
	var sent int64
	var verified, failed sql.NullInt64
	err := tx.q.QueryRowContext(ctx, `SELECT id, application_id, attempt_no, code_hash, tries, max_tries, bank, amount_fen, sent_at, verified_at, failed_at
		FROM finverify_attempts WHERE application_id = $1 ORDER BY attempt_no DESC LIMIT 1`, appID).
		Scan(&f.ID, &f.ApplicationID, &f.No, &f.CodeHash, &f.Tries, &f.MaxTries, &bank, &f.AmountFen, &sent, &verified, &failed)
	if err != nil {
		return nil, fmt.Errorf("finverify: %w", mapErr(err))
	}
	if err := json.Unmarshal([]byte(bank), &f.Bank); err != nil {
		return nil, fmt.Errorf("finverify bank: %w", err)
	}
	f.SentAt, f.VerifiedAt, f.FailedAt = fromMicros(sent), fromNullMicros(verified), fromNullMicros(failed)
	return &f, nil
}

// CountFinVerifyAttempts counts the transfers sent for an application.
func (tx *Tx) CountFinVerifyAttempts(ctx context.Context, appID string) (int, error) {
	var n int
	if err := tx.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM finverify_attempts WHERE application_id = $1`, appID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count finverify: %w", mapErr(err))
	}
	return n, nil
}

// CountFinVerifyAttempts counts an application's transfers, if sc sees it.
func (s *Store) CountFinVerifyAttempts(ctx context.Context, sc Scope, appID string) (int, error) {
	var n int
	err := s.Read(ctx, func(tx *Tx) error {
		if _, err := tx.Application(ctx, sc, appID); err != nil {
			return err
		}
		var err error
		n, err = tx.CountFinVerifyAttempts(ctx, appID)
		return err
	})
	return n, err
}

// LatestFinVerifyAttempt returns an application's latest transfer, if sc sees it.
func (s *Store) LatestFinVerifyAttempt(ctx context.Context, sc Scope, appID string) (*FinVerifyAttempt, error) {
	var f *FinVerifyAttempt
	err := s.Read(ctx, func(tx *Tx) error {
		if _, err := tx.Application(ctx, sc, appID); err != nil {
			return err
		}
		var err error
		f, err = tx.LatestFinVerifyAttempt(ctx, appID)
		return err
	})
	return f, err
}

// CheckFinVerifyCode compares codeHash with the latest transfer's code,
// counting the try. It returns nil (and marks the attempt verified),
// ErrMismatch, or ErrTooManyTries (and marks it failed) when this was the
// last try or tries were already used up; ErrNotFound if no transfer was sent.
// The counted try is written even when the code is wrong: run it in its own
// Write and move the application in a second step, or use the result inside
// one Write and return nil so the try is kept.
func (tx *Tx) CheckFinVerifyCode(ctx context.Context, appID, codeHash string) (*FinVerifyAttempt, error) {
	if err := tx.mustWrite(); err != nil {
		return nil, err
	}
	f, err := tx.LatestFinVerifyAttempt(ctx, appID)
	if err != nil {
		return nil, err
	}
	if f.VerifiedAt != nil {
		return f, fmt.Errorf("finverify: %w", ErrUsed)
	}
	if f.FailedAt != nil || f.Tries >= f.MaxTries {
		return f, fmt.Errorf("finverify: %w", ErrTooManyTries)
	}
	f.Tries++
	now := micros(tx.now)
	if subtle.ConstantTimeCompare([]byte(f.CodeHash), []byte(codeHash)) == 1 {
		t := tx.now
		f.VerifiedAt = &t
		_, err := tx.q.ExecContext(ctx, `UPDATE finverify_attempts SET tries = $1, verified_at = $2 WHERE id = $3`, f.Tries, now, f.ID)
		return f, mapErr(err)
	}
	result := ErrMismatch
	var failed sql.NullInt64
	if f.Tries >= f.MaxTries {
		result = ErrTooManyTries
		failed = sql.NullInt64{Int64: now, Valid: true}
		f.FailedAt = fromNullMicros(failed)
	}
	if _, err := tx.q.ExecContext(ctx, `UPDATE finverify_attempts SET tries = $1, failed_at = $2 WHERE id = $3`, f.Tries, failed, f.ID); err != nil {
		return f, mapErr(err)
	}
	return f, fmt.Errorf("finverify: %w", result)
}

// PutIssuance stores the certificate issued for an application (once: a
// second one is ErrConflict).
func (tx *Tx) PutIssuance(ctx context.Context, is *renewal.Issuance, ch Change) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	chain, err := json.Marshal(is.Chain)
	if err != nil {
		return fmt.Errorf("issuance: %w", err)
	}
	is.IssuedAt = tx.now
	if _, err := tx.q.ExecContext(ctx, `INSERT INTO issuances (application_id, mode, serial, der, chain, not_before, not_after, issued_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, is.ApplicationID, string(is.Mode), is.Serial, is.Certificate, chain,
		micros(is.NotBefore), micros(is.NotAfter), micros(is.IssuedAt)); err != nil {
		return fmt.Errorf("issuance: %w", mapErr(err))
	}
	return tx.Audit(ch, "application/"+is.ApplicationID, nil, map[string]any{"issued": is.Serial, "mode": is.Mode,
		"not_before": is.NotBefore, "not_after": is.NotAfter})
}

// Issuance returns the certificate issued for an application.
func (tx *Tx) Issuance(ctx context.Context, sc Scope, appID string) (*renewal.Issuance, error) {
	if _, err := tx.Application(ctx, sc, appID); err != nil {
		return nil, err
	}
	var is renewal.Issuance
	var mode string
	var chain []byte
	var nb, na, at int64
	err := tx.q.QueryRowContext(ctx, `SELECT application_id, mode, serial, der, chain, not_before, not_after, issued_at
		FROM issuances WHERE application_id = $1`, appID).Scan(&is.ApplicationID, &mode, &is.Serial, &is.Certificate, &chain, &nb, &na, &at)
	if err != nil {
		return nil, fmt.Errorf("issuance: %w", mapErr(err))
	}
	if err := json.Unmarshal(chain, &is.Chain); err != nil {
		return nil, fmt.Errorf("issuance chain: %w", err)
	}
	is.Mode, is.NotBefore, is.NotAfter, is.IssuedAt = renewal.IssueMode(mode), fromMicros(nb), fromMicros(na), fromMicros(at)
	return &is, nil
}

// Issuance returns the certificate issued for an application, if sc sees it.
func (s *Store) Issuance(ctx context.Context, sc Scope, appID string) (*renewal.Issuance, error) {
	return s.read().Issuance(ctx, sc, appID)
}

// NonceHash is how challenges are stored: only the hash of the nonce.
func NonceHash(nonce []byte) string {
	h := sha256.Sum256(nonce)
	return hex.EncodeToString(h[:])
}

// AddChallenge stores a nonce for an application's proof of possession.
func (s *Store) AddChallenge(ctx context.Context, sc Scope, appID string, nonce []byte, ttl time.Duration) (time.Time, error) {
	var expires time.Time
	err := s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.Application(ctx, sc, appID); err != nil {
			return err
		}
		expires = tx.now.Add(ttl)
		_, err := tx.q.ExecContext(ctx, `INSERT INTO challenges (nonce_hash, application_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			NonceHash(nonce), appID, micros(tx.now), micros(expires))
		return mapErr(err)
	})
	return expires, err
}

// ConsumeChallenge uses up a nonce: ErrNotFound if it was never given for
// this application, ErrUsed if used before, ErrExpired if too old. Run it
// inside the issuing transaction so a failed issuance leaves it unused.
func (tx *Tx) ConsumeChallenge(ctx context.Context, appID string, nonce []byte) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	var app string
	var expires int64
	var used sql.NullInt64
	h := NonceHash(nonce)
	err := tx.q.QueryRowContext(ctx, `SELECT application_id, expires_at, used_at FROM challenges WHERE nonce_hash = $1`, h).Scan(&app, &expires, &used)
	if err != nil {
		return fmt.Errorf("challenge: %w", mapErr(err))
	}
	switch {
	case app != appID:
		return fmt.Errorf("challenge: %w", ErrNotFound)
	case used.Valid:
		return fmt.Errorf("challenge: %w", ErrUsed)
	case !tx.now.Before(fromMicros(expires)):
		return fmt.Errorf("challenge: %w", ErrExpired)
	}
	res, err := tx.q.ExecContext(ctx, `UPDATE challenges SET used_at = $1 WHERE nonce_hash = $2 AND used_at IS NULL`, micros(tx.now), h)
	if err := oneRow(res, err, "challenge"); err != nil {
		return fmt.Errorf("challenge: %w", ErrUsed)
	}
	return nil
}

// SubmitFinVerifyCode checks a transfer code for application appID at
// version in one transaction. The try is counted and audited whatever the
// outcome. When the code is right (result nil) or the tries are used up
// (result ErrTooManyTries), apply(a, result) moves the application (the
// service applies renewal.ActionSubmitFinVerify or ActionFailFinVerify) and
// it is saved at version+1. A wrong code with tries left (ErrMismatch)
// leaves the application and its version alone. The result is returned
// after the commit, with the application as it now is.
func (s *Store) SubmitFinVerifyCode(ctx context.Context, sc Scope, appID string, version int64, codeHash string, ch Change,
	apply func(a *renewal.Application, result error) error) (*renewal.Application, error) {
	var out *renewal.Application
	var result error
	err := s.Write(ctx, func(tx *Tx) error {
		a, err := tx.Application(ctx, sc, appID)
		if err != nil {
			return err
		}
		if a.Version != version {
			return fmt.Errorf("application %s at version %d, not %d: %w", appID, a.Version, version, ErrStaleVersion)
		}
		prior, err := tx.LatestFinVerifyAttempt(ctx, appID)
		if err != nil {
			return err
		}
		if prior.FailedAt != nil {
			// Failed by an earlier try: the application has moved already.
			return fmt.Errorf("finverify: %w", ErrTooManyTries)
		}
		f, err := tx.CheckFinVerifyCode(ctx, appID, codeHash)
		switch {
		case err == nil, errors.Is(err, ErrTooManyTries) && f != nil && f.FailedAt != nil:
			result = err
			if err != nil {
				result = ErrTooManyTries
			}
			out, err = tx.UpdateApplication(ctx, sc, appID, version, ch, func(a *renewal.Application) error { return apply(a, result) })
			return err
		case errors.Is(err, ErrMismatch):
			result = ErrMismatch
			out = a
			return tx.Audit(ch, "application/"+appID, nil, map[string]any{"finverify_try": f.Tries, "of": f.MaxTries, "ok": false})
		default:
			return err
		}
	})
	if err != nil {
		return nil, err
	}
	return out, result
}
