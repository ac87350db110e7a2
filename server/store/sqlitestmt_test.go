package store

import (
	"path/filepath"
	"testing"
)

// SQLite connections prepare a statement once and use it again; a query
// run inside the loop over its own rows runs unprepared beside it; a
// statement that does not parse is an error, not kept.
func TestSQLiteStatementsArePreparedOnce(t *testing.T) {
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "renewd.db"), WithPools(1, 1))
	must(t, err)
	defer s.Close()
	f := seed(t, s, newClock())
	kept := func() (n int, q map[string]bool) {
		q = map[string]bool{}
		conn, err := s.r.Conn(ctx)
		must(t, err)
		defer conn.Close()
		must(t, conn.Raw(func(dc any) error {
			for k := range dc.(*stmtCacheConn).stmts {
				q[k] = true
			}
			return nil
		}))
		return len(q), q
	}
	const q = `SELECT serial FROM certificates WHERE organisation_id = $1 ORDER BY serial`
	for range 3 {
		if _, err := s.Certificate(ctx, AllScope(), f.certA.Serial); err != nil {
			t.Fatal(err)
		}
	}
	n0, _ := kept()
	for range 3 {
		if _, err := s.Certificate(ctx, AllScope(), f.certA.Serial); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := kept(); n != n0 || n == 0 {
		t.Fatalf("%d statements kept after the same reads again, %d before", n, n0)
	}
	// One connection (a transaction): the same text again while its rows
	// are open runs unprepared beside them.
	sqlTx, err := s.r.BeginTx(ctx, nil)
	must(t, err)
	rows, err := sqlTx.QueryContext(ctx, q, f.orgA.ID)
	must(t, err)
	var outer, inner int
	for rows.Next() {
		outer++
		var serial string
		must(t, rows.Scan(&serial))
		in, err := sqlTx.QueryContext(ctx, q, f.orgA.ID)
		must(t, err)
		for in.Next() {
			inner++
		}
		must(t, in.Err())
		in.Close()
		var n int
		must(t, sqlTx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+q+`)`, f.orgA.ID).Scan(&n))
		inner += n
	}
	must(t, rows.Err())
	rows.Close()
	must(t, sqlTx.Rollback())
	if outer != 1 || inner != 2 {
		t.Fatalf("outer %d rows, inner %d, want 1 and 2", outer, inner)
	}
	if _, got := kept(); !got[q] {
		t.Fatalf("%q not kept", q)
	}
	if _, err := s.r.ExecContext(ctx, `SELEKT 1`); err == nil {
		t.Fatal("a statement that does not parse ran")
	}
	if _, got := kept(); got[`SELEKT 1`] {
		t.Fatal("a statement that does not parse was kept")
	}
}
