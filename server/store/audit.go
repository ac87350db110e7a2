package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// GenesisHash is the prev_hash of the first audit row.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Audit record versions: how a row's hash is computed.
const (
	// AuditRecordV1 rows (written before workstation ids were recorded)
	// hash without one.
	AuditRecordV1 = 1
	// AuditRecordV2 rows hash the workstation id too; new rows are V2.
	AuditRecordV2 = 2
)

// Limits on audit fields.
const (
	MaxAuditFieldBytes    = 1024    // actor, action, target, ip, workstation id
	MaxAuditSnapshotBytes = 1 << 20 // before/after JSON
)

type pendingAudit struct {
	ch            Change
	target        string
	before, after []byte
}

// Audit queues an audit entry for target with before/after snapshots (any
// value json.Marshal accepts; nil for none). It is appended when the
// transaction commits.
func (tx *Tx) Audit(ch Change, target string, before, after any) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	if err := ch.valid(); err != nil {
		return err
	}
	b, err := snapshot(before)
	if err != nil {
		return fmt.Errorf("audit before: %w", err)
	}
	a, err := snapshot(after)
	if err != nil {
		return fmt.Errorf("audit after: %w", err)
	}
	for _, f := range []string{ch.Actor, ch.Action, ch.IP, target, ch.WorkstationID} {
		if len(f) > MaxAuditFieldBytes {
			return fmt.Errorf("audit field of %d bytes: %w", len(f), ErrLimit)
		}
	}
	tx.pending = append(tx.pending, pendingAudit{ch: ch, target: target, before: b, after: a})
	return nil
}

// snapshot encodes v as compact JSON ("" for nil) so the stored text, and
// therefore the hash, does not depend on how a backend formats JSON.
func snapshot(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	default:
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	if string(raw) == "null" {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	if buf.Len() > MaxAuditSnapshotBytes {
		return nil, fmt.Errorf("snapshot of %d bytes: %w", buf.Len(), ErrLimit)
	}
	return buf.Bytes(), nil
}

// flushAudit appends the queued entries under the chain head's row lock.
func (tx *Tx) flushAudit(ctx context.Context) error {
	if len(tx.pending) == 0 {
		return nil
	}
	var seq int64
	var prev string
	// Taking the next sequence number locks the head row until commit: appends
	// from concurrent transactions queue here, one after the other.
	err := tx.q.QueryRowContext(ctx,
		`UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash`, len(tx.pending)).Scan(&seq, &prev)
	if err != nil {
		return fmt.Errorf("audit head: %w", mapErr(err))
	}
	seq -= int64(len(tx.pending))
	for _, p := range tx.pending {
		seq++
		e := renewal.AuditEntry{
			Seq: seq, Time: tx.now, Actor: p.ch.Actor, Action: p.ch.Action, Target: p.target,
			Before: p.before, After: p.after, IP: p.ch.IP, PrevHash: prev,
			WorkstationID: p.ch.WorkstationID, RecordVersion: AuditRecordV2,
		}
		e.Hash = AuditHash(e)
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO audit_log
			(seq, at, actor, action, target, before, after, ip, prev_hash, hash, workstation_id, record_version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			e.Seq, micros(e.Time), e.Actor, e.Action, e.Target, string(e.Before), string(e.After),
			e.IP, e.PrevHash, e.Hash, e.WorkstationID, e.RecordVersion); err != nil {
			return fmt.Errorf("audit append: %w", mapErr(err))
		}
		prev = e.Hash
	}
	if _, err := tx.q.ExecContext(ctx, `UPDATE audit_head SET hash = $1 WHERE id = 1`, prev); err != nil {
		return fmt.Errorf("audit head: %w", mapErr(err))
	}
	tx.pending = nil
	return nil
}

// AuditHash is the hash of an entry: SHA-256 over a domain tag naming the
// record version and every field (Hash excluded) as a 4-byte big-endian
// length and its bytes; the time as Unix microseconds in decimal. Lengths
// keep "ab"+"c" apart from "a"+"bc". A version 1 row (RecordVersion 1 or 0)
// is hashed as before workstation ids were recorded; from version 2 the
// workstation id follows the other fields, and the tag keeps a row from
// passing for another version.
func AuditHash(e renewal.AuditEntry) string {
	h := sha256.New()
	put := func(s []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write(s)
	}
	v := max(e.RecordVersion, AuditRecordV1)
	put([]byte("ukeyrenew audit v" + strconv.Itoa(v)))
	put([]byte(strconv.FormatInt(e.Seq, 10)))
	put([]byte(strconv.FormatInt(e.Time.UnixMicro(), 10)))
	put([]byte(e.Actor))
	put([]byte(e.Action))
	put([]byte(e.Target))
	put(e.Before)
	put(e.After)
	put([]byte(e.IP))
	put([]byte(e.PrevHash))
	if v >= AuditRecordV2 {
		put([]byte(e.WorkstationID))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AppendAudit records an event that changes no row (a sign-in, a failed
// attempt, an e-mail sent) in its own transaction.
func (s *Store) AppendAudit(ctx context.Context, ch Change, target string, before, after any) error {
	return s.Write(ctx, func(tx *Tx) error { return tx.Audit(ch, target, before, after) })
}

const auditColumns = `seq, at, actor, action, target, before, after, ip, prev_hash, hash, workstation_id, record_version`

type rowScanner interface{ Scan(dest ...any) error }

func scanAudit(r rowScanner) (renewal.AuditEntry, error) {
	var e renewal.AuditEntry
	var at int64
	var before, after string
	if err := r.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &before, &after, &e.IP, &e.PrevHash, &e.Hash,
		&e.WorkstationID, &e.RecordVersion); err != nil {
		return e, err
	}
	e.Time = fromMicros(at)
	if before != "" {
		e.Before = json.RawMessage(before)
	}
	if after != "" {
		e.After = json.RawMessage(after)
	}
	return e, nil
}

// ListAudit returns entries matching q in sequence order. Validate q first
// (renewal.AuditQuery.Validate fills in the page size).
func (s *Store) ListAudit(ctx context.Context, q renewal.AuditQuery) ([]renewal.AuditEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	where = append(where, "seq > "+arg(q.AfterSeq))
	if q.Target != "" {
		where = append(where, "target = "+arg(q.Target))
	}
	if q.Actor != "" {
		where = append(where, "actor = "+arg(q.Actor))
	}
	if q.WorkstationID != "" {
		where = append(where, "workstation_id = "+arg(q.WorkstationID))
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= "+arg(micros(q.Since)))
	}
	if !q.Until.IsZero() {
		where = append(where, "at < "+arg(micros(q.Until)))
	}
	n := q.PageSize
	if n <= 0 || n > renewal.MaxAuditPageSize {
		n = renewal.DefaultPageSize
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE `+
		strings.Join(where, " AND ")+` ORDER BY seq LIMIT `+arg(n), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var out []renewal.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// AuditHead returns the chain head: the last sequence number and its hash.
// Publishing it elsewhere anchors the chain against a rewrite of the tail.
func (s *Store) AuditHead(ctx context.Context) (seq int64, hash string, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	if err != nil {
		return 0, "", fmt.Errorf("audit head: %w", mapErr(err))
	}
	return seq, hash, nil
}

// AuditRange limits an export to the entries at or after Since and before
// Until; a zero time is no limit.
type AuditRange struct{ Since, Until time.Time }

// where is the range as SQL conditions on at.
func (r AuditRange) where() (string, []any) {
	var conds []string
	var args []any
	if !r.Since.IsZero() {
		args = append(args, micros(r.Since))
		conds = append(conds, "at >= $"+strconv.Itoa(len(args)))
	}
	if !r.Until.IsZero() {
		args = append(args, micros(r.Until))
		conds = append(conds, "at < $"+strconv.Itoa(len(args)))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// eachAudit streams the log (the entries of rng) in sequence order inside
// one snapshot, row by row as the database returns them (memory does not
// grow with the log), then hands fn the head row of that same snapshot.
func (s *Store) eachAudit(ctx context.Context, rng AuditRange, fn func(renewal.AuditEntry) error, head func(seq int64, hash string) error) error {
	return s.Read(ctx, func(tx *Tx) error {
		var hseq int64
		var hhash string
		if err := tx.q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&hseq, &hhash); err != nil {
			return fmt.Errorf("audit head: %w", mapErr(err))
		}
		where, args := rng.where()
		rows, err := tx.q.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log`+where+` ORDER BY seq`, args...)
		if err != nil {
			return fmt.Errorf("read audit: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				return fmt.Errorf("read audit: %w", err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read audit: %w", err)
		}
		if head != nil {
			return head(hseq, hhash)
		}
		return nil
	})
}

// VerifyAudit walks the chain: sequence numbers run 1, 2, 3… without gaps,
// each row links to the previous row's hash, each hash matches the row's
// content as its record version hashes it (a version 1 row, which does not
// hash a workstation id, has none), and the last row is the head. The first failure is reported in
// the result; the error is for a database that cannot be read.
func (s *Store) VerifyAudit(ctx context.Context) (renewal.AuditVerification, error) {
	var v renewal.AuditVerification
	prev := GenesisHash
	var want int64 = 1
	fail := func(seq int64, format string, args ...any) {
		if v.Problem == "" {
			v.BadSeq, v.Problem = seq, fmt.Sprintf(format, args...)
		}
	}
	err := s.eachAudit(ctx, AuditRange{}, func(e renewal.AuditEntry) error {
		v.Entries++
		switch {
		case e.Seq != want:
			fail(e.Seq, "row %d found where %d was expected: a row was deleted or renumbered", e.Seq, want)
		case e.PrevHash != prev:
			fail(e.Seq, "row %d does not link to the row before it", e.Seq)
		case e.RecordVersion != AuditRecordV1 && e.RecordVersion != AuditRecordV2:
			fail(e.Seq, "row %d has record version %d, which this build does not know", e.Seq, e.RecordVersion)
		case e.RecordVersion == AuditRecordV1 && e.WorkstationID != "":
			fail(e.Seq, "row %d was changed after it was written: a workstation id was added to a row of record version 1", e.Seq)
		case subtle.ConstantTimeCompare([]byte(AuditHash(e)), []byte(e.Hash)) != 1:
			fail(e.Seq, "row %d was changed after it was written", e.Seq)
		}
		want = e.Seq + 1
		prev = e.Hash
		return nil
	}, func(hseq int64, hhash string) error {
		if hseq != want-1 || hhash != prev {
			fail(want, "the log ends at row %d but the head says %d: rows were removed from the end", want-1, hseq)
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	v.OK = v.Problem == ""
	return v, nil
}

// ExportAuditJSON writes the log (the entries of rng) as a JSON array, one
// entry a line, each as soon as it is read.
func (s *Store) ExportAuditJSON(ctx context.Context, w io.Writer, rng AuditRange) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	first := true
	err := s.eachAudit(ctx, rng, func(e renewal.AuditEntry) error {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		sep := ",\n"
		if first {
			sep, first = "\n", false
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("export audit: %w", err)
	}
	_, err = io.WriteString(w, "\n]\n")
	return err
}

// AuditCSVHeader returns the header row of ExportAuditCSV.
func AuditCSVHeader() []string {
	return []string{"seq", "time", "actor", "action", "target", "before", "after", "ip", "prev_hash", "hash", "workstation_id", "record_version"}
}

// ExportAuditCSV writes the log (the entries of rng) as CSV with a header
// row, each row as soon as it is read; times are RFC 3339 UTC with
// microseconds, so every row can be re-hashed from the file (the
// workstation id and record version are the last two columns).
func (s *Store) ExportAuditCSV(ctx context.Context, w io.Writer, rng AuditRange) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(AuditCSVHeader()); err != nil {
		return err
	}
	err := s.eachAudit(ctx, rng, func(e renewal.AuditEntry) error {
		return cw.Write([]string{strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
			e.Actor, e.Action, e.Target, string(e.Before), string(e.After), e.IP, e.PrevHash, e.Hash,
			e.WorkstationID, strconv.Itoa(e.RecordVersion)})
	}, nil)
	if err != nil {
		return fmt.Errorf("export audit: %w", err)
	}
	cw.Flush()
	return cw.Error()
}

// ParseAuditCSVTime reads a time as ExportAuditCSV writes it.
func ParseAuditCSVTime(s string) (time.Time, error) {
	return time.Parse("2006-01-02T15:04:05.000000Z07:00", s)
}
