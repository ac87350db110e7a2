package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// flushAudit appends the queued entries to the chain in the transaction,
// under the chain head's row lock, which it holds until the commit: call it
// last. Write does on SQLite, Join on both backends.
func (tx *Tx) flushAudit(ctx context.Context) error {
	if len(tx.pending) == 0 {
		return nil
	}
	entries := make([]renewal.AuditEntry, len(tx.pending))
	for i, p := range tx.pending {
		entries[i] = p.entry(tx.now)
	}
	seq, prev, err := lockHead(ctx, tx.s.dialect, tx.q)
	if err != nil {
		return err
	}
	if err := appendChain(ctx, tx.q, seq, prev, entries); err != nil {
		return err
	}
	tx.pending = nil
	return nil
}

// entry is the audit entry p becomes at time at, before it has its place
// in the chain (sequence number and hashes).
func (p pendingAudit) entry(at time.Time) renewal.AuditEntry {
	return renewal.AuditEntry{Time: at, Actor: p.ch.Actor, Action: p.ch.Action, Target: p.target,
		Before: p.before, After: p.after, IP: p.ch.IP, WorkstationID: p.ch.WorkstationID, RecordVersion: AuditRecordV2}
}

// auditChainBatch is the most entries one INSERT adds to the chain, or
// one link takes from the queue (12 parameters each).
const auditChainBatch = 400

// lockHead reads the chain head and locks it until q's transaction ends.
func lockHead(ctx context.Context, dialect Dialect, q queryer) (seq int64, hash string, err error) {
	lock := ""
	if dialect == Postgres {
		lock = " FOR UPDATE" // SQLite: the one writer holds the database
	}
	if err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+lock).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("audit head: %w", mapErr(err))
	}
	return seq, hash, nil
}

// appendChain gives entries the sequence numbers after seq and their hashes
// (the first links to prev), in order, inserts them and moves the head, whose
// lock q's transaction holds (lockHead).
func appendChain(ctx context.Context, q queryer, seq int64, prev string, entries []renewal.AuditEntry) error {
	for i := range entries {
		seq++
		e := &entries[i]
		e.Seq, e.PrevHash = seq, prev
		e.Hash = AuditHash(*e)
		prev = e.Hash
	}
	for rest := entries; len(rest) > 0; {
		n := min(len(rest), auditChainBatch)
		var sb strings.Builder
		sb.WriteString(`INSERT INTO audit_log (` + auditColumns + `) VALUES `)
		args := make([]any, 0, 12*n)
		for i, e := range rest[:n] {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(placeholders(len(args), 12))
			args = append(args, e.Seq, micros(e.Time), e.Actor, e.Action, e.Target, string(e.Before), string(e.After),
				e.IP, e.PrevHash, e.Hash, e.WorkstationID, e.RecordVersion)
		}
		if _, err := q.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("audit append: %w", mapErr(err))
		}
		rest = rest[n:]
	}
	if _, err := q.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, prev); err != nil {
		return fmt.Errorf("audit head: %w", mapErr(err))
	}
	return nil
}

// placeholders is "($after+1, …, $after+n)".
func placeholders(after, n int) string {
	var sb strings.Builder
	sb.WriteByte('(')
	for i := 1; i <= n; i++ {
		if i > 1 {
			sb.WriteString(", ")
		}
		sb.WriteString("$" + strconv.Itoa(after+i))
	}
	sb.WriteByte(')')
	return sb.String()
}

const auditQueueColumns = `batch, pos, at, actor, action, target, before, after, ip, workstation_id`

// queueAudit writes the transaction's entries to audit_queue, to be linked
// into the chain once the transaction has committed (linkAudit). It takes
// no lock: concurrent writers queue side by side.
func (tx *Tx) queueAudit(ctx context.Context) error {
	batch := newID()
	var sb strings.Builder
	sb.WriteString(`INSERT INTO audit_queue (` + auditQueueColumns + `) VALUES `)
	args := make([]any, 0, 10*len(tx.pending))
	for i, p := range tx.pending {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(placeholders(len(args), 10))
		args = append(args, batch, i, micros(tx.now), p.ch.Actor, p.ch.Action, p.target, string(p.before), string(p.after),
			p.ch.IP, p.ch.WorkstationID)
	}
	if _, err := tx.q.ExecContext(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("audit queue: %w", mapErr(err))
	}
	tx.pending = nil
	return nil
}

// linkAudit moves every queued entry that has committed into the chain, in
// the order they were written (their transactions' times, then their order
// in the transaction), a batch a transaction: each batch locks the chain
// head, so links from any number of processes append one after the other.
// A process that ends between a write's commit and its link leaves the
// entries queued, durable, for the next link (the next write's, or the
// next start's).
func (s *Store) linkAudit(ctx context.Context) error {
	for {
		n, err := s.linkAuditBatch(ctx)
		if err != nil {
			return fmt.Errorf("link audit entries: %w", err)
		}
		if n < auditChainBatch {
			return nil
		}
	}
}

func (s *Store) linkAuditBatch(ctx context.Context) (int, error) {
	// An empty queue (another link took the entries) costs no lock.
	var waiting bool
	if err := s.w.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM audit_queue)`).Scan(&waiting); err != nil || !waiting {
		return 0, mapErr(err)
	}
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, mapErr(err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // after Commit: nothing to undo
	seq, prev, err := lockHead(ctx, s.dialect, sqlTx)
	if err != nil {
		return 0, err
	}
	// Under the head's lock: this statement sees what the links before
	// took, and the entries committed until now.
	rows, err := sqlTx.QueryContext(ctx, `DELETE FROM audit_queue WHERE (batch, pos) IN
		(SELECT batch, pos FROM audit_queue ORDER BY at, batch, pos LIMIT $1) RETURNING `+auditQueueColumns, auditChainBatch)
	if err != nil {
		return 0, mapErr(err)
	}
	type queued struct {
		batch string
		pos   int
		e     renewal.AuditEntry
	}
	var qs []queued
	for rows.Next() {
		var q queued
		var at int64
		var before, after string
		if err := rows.Scan(&q.batch, &q.pos, &at, &q.e.Actor, &q.e.Action, &q.e.Target, &before, &after, &q.e.IP,
			&q.e.WorkstationID); err != nil {
			rows.Close()
			return 0, err
		}
		q.e.Time, q.e.RecordVersion = fromMicros(at), AuditRecordV2
		if before != "" {
			q.e.Before = json.RawMessage(before)
		}
		if after != "" {
			q.e.After = json.RawMessage(after)
		}
		qs = append(qs, q)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(qs) == 0 {
		return 0, nil
	}
	slices.SortFunc(qs, func(a, b queued) int {
		return cmp.Or(a.e.Time.Compare(b.e.Time), strings.Compare(a.batch, b.batch), cmp.Compare(a.pos, b.pos))
	})
	entries := make([]renewal.AuditEntry, len(qs))
	for i, q := range qs {
		entries[i] = q.e
	}
	if err := appendChain(ctx, sqlTx, seq, prev, entries); err != nil {
		return 0, err
	}
	if err := sqlTx.Commit(); err != nil {
		return 0, mapErr(err)
	}
	return len(qs), nil
}

// linker runs a process's links one at a time. A writer that asks for one
// waits for a link that starts after it asked; every writer that asks while
// a link runs shares the next one, so a burst of commits is linked in a
// few transactions, not one each.
type linker struct {
	mu      sync.Mutex
	running bool
	next    chan struct{} // closed when the next link has run
	wg      sync.WaitGroup
}

// linkTimeout bounds one link, which may run on after the writer that
// started it has gone.
const linkTimeout = 30 * time.Second

// await has link run (after the one running, if any) and waits for it or
// for ctx. A link that fails leaves the entries queued for the next one:
// the write they belong to has committed either way.
func (l *linker) await(ctx context.Context, link func(context.Context) error) {
	l.mu.Lock()
	if l.next == nil {
		l.next = make(chan struct{})
	}
	done := l.next
	if !l.running {
		l.running = true
		l.wg.Add(1)
		go l.loop(link)
	}
	l.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (l *linker) loop(link func(context.Context) error) {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		done := l.next
		l.next = nil
		l.running = done != nil
		l.mu.Unlock()
		if done == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), linkTimeout)
		_ = link(ctx) // a failed link's entries wait for the next
		cancel()
		close(done)
	}
}

// wait waits for a running link to end.
func (l *linker) wait() { l.wg.Wait() }

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
