package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// oldAuditDB makes the dev database in data as renewd left it before audit
// rows carried a workstation id: the migrations of that time, and n audit
// rows inserted as that code wrote them (record version 1, hashed without a
// workstation id).
func oldAuditDB(t *testing.T, data string, n int) {
	t.Helper()
	dir := filepath.Join("..", "..", "server", "store", "migrations")
	old := fstest.MapFS{}
	for _, name := range []string{"00001_init.sql", "00002_finverify_attempt_no.sql", "00003_invoices.sql", "00004_workstations.sql"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "renewd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, old, goose.WithTableName(store.VersionTable), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	prev := store.GenesisHash
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 1; i <= n; i++ {
		e := renewal.AuditEntry{Seq: int64(i), Time: at, Actor: "admin", Action: "user.create", Target: "user/" + strconv.Itoa(i),
			After: json.RawMessage(`{"n":` + strconv.Itoa(i) + `}`), PrevHash: prev}
		e.Hash = store.AuditHash(e)
		if _, err := db.Exec(`INSERT INTO audit_log (seq, at, actor, action, target, before, after, ip, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, '', $6, '', $7, $8)`, e.Seq, e.Time.UnixMicro(), e.Actor, e.Action, e.Target, string(e.After), e.PrevHash, e.Hash); err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	if _, err := db.Exec(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, n, prev); err != nil {
		t.Fatal(err)
	}
}

// renewd audit verify passes on a chain begun before workstation ids were
// audited and continued after; the export shows the workstation ids.
func TestAuditVerifyOfAChainOfOldAndNewRows(t *testing.T) {
	ctx := t.Context()
	data := t.TempDir()
	oldAuditDB(t, data, 3)
	noEnv := func(string) string { return "" }
	verify := func(entries int) {
		t.Helper()
		var out, errb bytes.Buffer
		if err := runAudit(ctx, []string{"verify", "--dev", "--data", data}, &out, &errb, noEnv); err != nil {
			t.Fatalf("audit verify: %v\n%s%s", err, out.String(), errb.String())
		}
		var v renewal.AuditVerification
		if err := json.Unmarshal(out.Bytes(), &v); err != nil || !v.OK || v.Entries != int64(entries) {
			t.Fatalf("audit verify: %s (%v), want ok with %d entries", out.String(), err, entries)
		}
	}
	verify(3)

	st, err := store.OpenSQLite(ctx, filepath.Join(data, "renewd.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = st.AppendAudit(ctx, store.Change{Actor: "clerk", Action: "application.create", WorkstationID: "ws-counter-1"}, "application/x", nil, map[string]int{"n": 4})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	verify(4)

	var out, errb bytes.Buffer
	if err := runAudit(ctx, []string{"export", "--format", "csv", "--dev", "--data", data}, &out, &errb, noEnv); err != nil {
		t.Fatalf("audit export: %v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.HasSuffix(lines[0], ",workstation_id,record_version") ||
		!strings.HasSuffix(lines[1], ",,1") || !strings.HasSuffix(lines[4], ",ws-counter-1,2") {
		t.Fatalf("csv export:\n%s", out.String())
	}
}
