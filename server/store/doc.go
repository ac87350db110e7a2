// Package store keeps the renewal service's data in a real SQL database:
// SQLite (modernc.org/sqlite, pure Go, the default) or PostgreSQL (pgx). One
// concrete *Store serves both; the SQL is shared, with $N placeholders that
// both drivers accept, and so is the schema: one set of embedded goose
// migrations (migrations/*.sql, bytes as BYTEA) that Open applies on either
// backend.
//
// Times are stored as microseconds since the Unix epoch, so both backends
// round-trip them identically. The application form is stored as JSON next to
// the columns that are searched and listed (years, organisation name, credit
// code, the three state columns); the form is validated by package renewal
// before it gets here.
//
// Writes go through Write, which runs one transaction: every state change and
// the audit entries it records commit together or not at all. Tx methods that
// change something take a Change (who, from where, what) and queue an audit
// entry. On SQLite, whose one writer is serial anyway, Write appends the
// queued entries to the chain last, just before commit. On PostgreSQL a
// write's entries go to audit_queue in its transaction, without a lock, and
// after the commit a link (one at a time in a process, shared by the writers
// that committed meanwhile) moves every committed entry into the chain under
// the chain head's row lock: writers commit side by side (one WAL flush
// serves many), and any number of processes on one database append to one
// chain; Write returns once its entries are in it. Entries a killed process
// left queued are linked by the next write or the next Open. A module with
// its own tables (payments) can run store changes inside its own transaction
// with Join, which appends to the chain in that transaction (the head's lock
// is then held until the module commits).
//
// Reads and writes have connection pools of their own (WithPools); writes
// take their turn first come first served.
//
// Optimistic concurrency: applications carry a version; a change names the
// version it was based on and is refused with ErrStaleVersion if the row moved
// on. Scope limits a clerk to their organisation: another organisation's row
// answers ErrNotFound, exactly as a row that does not exist.
//
// The audit log is append-only and hash-chained: each row's hash is SHA-256
// over a length-prefixed encoding of its fields and the previous row's hash.
// VerifyAudit detects an edited, deleted or reordered row, and a truncated
// tail (against the head row). Someone able to rewrite the whole database can
// rewrite the whole chain: publish AuditHead somewhere else to anchor it.
//
// SQLite runs in WAL mode with synchronous=FULL, foreign keys on, a busy
// timeout, and one writer connection (BEGIN IMMEDIATE) beside a pool of
// readers; an acknowledged write survives a crash of the process. Its
// connections keep each statement prepared (sqlitestmt.go).
//
// Counter workstations (workstations.go, migration 00004): enrolled public
// keys (at most MaxWorkstations), their single-use challenges (nonce hash,
// origin, expiry), counter session tokens (hashes), and the clerk token
// families a counter signed in. OpenCounterSession spends the nonce, checks
// the workstation and the caller's signature check in one transaction and
// audits a grant; a refusal it returns, for the caller to audit collapsed.
package store
