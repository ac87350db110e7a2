package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Record version 1 rows hash exactly as before workstation ids were
// recorded: this hash was computed by the code of that time.
func TestAuditHashOfVersion1RowsUnchanged(t *testing.T) {
	e := renewal.AuditEntry{Seq: 7, Time: time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC), Actor: "u1", Action: "application.submit",
		Target: "application/abc", Before: json.RawMessage(`{"v":1}`), After: json.RawMessage(`{"v":2}`), IP: "192.0.2.1", PrevHash: GenesisHash}
	const old = "a015c7e4a182e248154ae7f2770b360f06832b589b7fd6c4022b810e4e97693d"
	for _, v := range []int{0, AuditRecordV1} {
		e.RecordVersion = v
		if got := AuditHash(e); got != old {
			t.Errorf("record version %d hashes to %s, the old code to %s", v, got, old)
		}
	}
	// Version 2 hashes the workstation id, and differs even without one.
	e.RecordVersion = AuditRecordV2
	v2 := AuditHash(e)
	e.WorkstationID = "ws1"
	if v2 == old || AuditHash(e) == v2 {
		t.Error("a version 2 hash does not cover the version or the workstation id")
	}
}

// lastOldMigration is the last migration before audit rows carried a
// workstation id.
const lastOldMigration = 5

// oldDatabase makes a database of backend name with the schema as it was
// before workstation ids were audited, holding n audit rows inserted as the
// code of that time wrote them, and returns a function that opens it with
// today's store (which migrates it).
func oldDatabase(t *testing.T, name string, n int, clk func() time.Time) (*sql.DB, func() *Store) {
	t.Helper()
	var db *sql.DB
	var dialect goose.Dialect
	var open func() (*Store, error)
	switch name {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "renewd.db")
		var err error
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
		must(t, err)
		dialect = goose.DialectSQLite3
		open = func() (*Store, error) { return OpenSQLite(ctx, path, WithClock(clk)) }
	default:
		dsn := pgtest.Schema(t, "t_")
		var err error
		db, err = sql.Open("pgx", dsn)
		must(t, err)
		dialect = goose.DialectPostgres
		open = func() (*Store, error) { return OpenPostgres(ctx, dsn, WithClock(clk)) }
	}
	t.Cleanup(func() { db.Close() })
	sub, err := fs.Sub(migrations, "migrations")
	must(t, err)
	p, err := goose.NewProvider(dialect, db, sub, goose.WithTableName(VersionTable), goose.WithDisableGlobalRegistry(true))
	must(t, err)
	_, err = p.UpTo(context.Background(), lastOldMigration)
	must(t, err)

	prev := GenesisHash
	at := clk().UTC().Truncate(time.Microsecond)
	for i := 1; i <= n; i++ {
		e := renewal.AuditEntry{Seq: int64(i), Time: at, Actor: "u" + strconv.Itoa(i), Action: "test.old", Target: "thing/" + strconv.Itoa(i),
			After: json.RawMessage(`{"v":` + strconv.Itoa(i) + `}`), IP: "10.0.0.1", PrevHash: prev}
		e.Hash = AuditHash(e)
		_, err := db.Exec(`INSERT INTO audit_log (seq, at, actor, action, target, before, after, ip, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.Seq, micros(e.Time), e.Actor, e.Action, e.Target, "", string(e.After), e.IP, e.PrevHash, e.Hash)
		must(t, err)
		prev = e.Hash
	}
	_, err = db.Exec(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, n, prev)
	must(t, err)
	return db, func() *Store {
		s, err := open()
		must(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// A chain begun before workstation ids were audited goes on after the
// upgrade: the old rows verify as they were written, new rows carry the
// workstation id in their hash, and a change to either is found.
func TestAuditChainOfOldAndNewRows(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			db, open := oldDatabase(t, b.name, 3, clk.Now)
			s := open()
			if v := verifyOK(t, s); v.Entries != 3 {
				t.Fatalf("old chain after the upgrade: %+v", v)
			}
			clk.Advance(time.Minute)
			must(t, s.AppendAudit(ctx, Change{Actor: "clerk1", Action: "application.create", IP: "10.0.0.2", WorkstationID: "ws1"}, "application/a", nil, map[string]int{"v": 4}))
			must(t, s.AppendAudit(ctx, Change{Actor: "clerk2", Action: "application.create", IP: "10.0.0.3"}, "application/b", nil, map[string]int{"v": 5}))
			if v := verifyOK(t, s); v.Entries != 5 {
				t.Fatalf("mixed chain: %+v", v)
			}
			all, err := s.ListAudit(ctx, renewal.AuditQuery{})
			must(t, err)
			for _, e := range all {
				wantV, wantWS := AuditRecordV1, ""
				switch e.Seq {
				case 4:
					wantV, wantWS = AuditRecordV2, "ws1"
				case 5:
					wantV = AuditRecordV2
				}
				if e.RecordVersion != wantV || e.WorkstationID != wantWS {
					t.Errorf("row %d: record version %d, workstation %q; want %d, %q", e.Seq, e.RecordVersion, e.WorkstationID, wantV, wantWS)
				}
			}
			at, err := s.ListAudit(ctx, renewal.AuditQuery{WorkstationID: "ws1"})
			must(t, err)
			if len(at) != 1 || at[0].Seq != 4 {
				t.Fatalf("entries of workstation ws1: %+v", at)
			}

			for _, c := range []struct {
				name, sql, undo string
				bad             int64
			}{
				{"workstation of a new row changed", `UPDATE audit_log SET workstation_id = 'ws2' WHERE seq = 4`, `UPDATE audit_log SET workstation_id = 'ws1' WHERE seq = 4`, 4},
				{"workstation of a new row removed", `UPDATE audit_log SET workstation_id = '' WHERE seq = 4`, `UPDATE audit_log SET workstation_id = 'ws1' WHERE seq = 4`, 4},
				{"workstation added to an old row", `UPDATE audit_log SET workstation_id = 'ws1' WHERE seq = 2`, `UPDATE audit_log SET workstation_id = '' WHERE seq = 2`, 2},
				{"new row passed off as old", `UPDATE audit_log SET record_version = 1 WHERE seq = 5`, `UPDATE audit_log SET record_version = 2 WHERE seq = 5`, 5},
				{"old row passed off as new", `UPDATE audit_log SET record_version = 2 WHERE seq = 1`, `UPDATE audit_log SET record_version = 1 WHERE seq = 1`, 1},
				{"unknown record version", `UPDATE audit_log SET record_version = 3 WHERE seq = 5`, `UPDATE audit_log SET record_version = 2 WHERE seq = 5`, 5},
			} {
				_, err := db.Exec(c.sql)
				must(t, err)
				v, err := s.VerifyAudit(ctx)
				must(t, err)
				if v.OK || v.BadSeq != c.bad {
					t.Errorf("%s: %+v, want bad seq %d", c.name, v, c.bad)
				}
				_, err = db.Exec(c.undo)
				must(t, err)
				verifyOK(t, s)
			}
		})
	}
}
