package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// dialectTypes finds a column (one a line, or after ADD COLUMN) of a type one
// backend has and the other lacks or reads differently, and SQLite's
// AUTOINCREMENT; the shared schema uses BIGINT, INTEGER, TEXT and BYTEA.
var dialectTypes = regexp.MustCompile(`(?i)((^\s*|ADD\s+COLUMN\s+)\w+\s+(BLOB|(BIG|SMALL)?SERIAL|JSONB?|TIMESTAMP(TZ)?|DATETIME|BOOLEAN|UUID)|AUTOINCREMENT)\b`)

// sqlComments matches "--" comments to the end of the line.
var sqlComments = regexp.MustCompile(`--[^\n]*`)

// checkOneSchema reports what keeps dir from being one schema for both
// backends: a subfolder (a per-dialect copy), a file that is not .sql, or a
// dialect-specific type.
func checkOneSchema(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var bad []string
	sqlFiles := 0
	for _, e := range entries {
		name := filepath.Join(dir, e.Name())
		if e.IsDir() {
			bad = append(bad, name+": a subfolder (both backends run the same files)")
			continue
		}
		if filepath.Ext(e.Name()) != ".sql" {
			bad = append(bad, name+": not a .sql migration")
			continue
		}
		sqlFiles++
		b, err := os.ReadFile(name)
		if err != nil {
			return append(bad, err.Error())
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := dialectTypes.FindString(sqlComments.ReplaceAllString(line, "")); m != "" {
				bad = append(bad, fmt.Sprintf("%s:%d: %q is not the same on SQLite and PostgreSQL", name, i+1, strings.TrimSpace(m)))
			}
		}
	}
	if sqlFiles == 0 {
		bad = append(bad, dir+": no migrations")
	}
	return bad
}

// The store and the payment module each keep one migrations folder that
// both SQLite and PostgreSQL run.
func TestOneSchemaForBothBackends(t *testing.T) {
	for _, dir := range []string{"migrations", filepath.Join("..", "payment", "migrations")} {
		for _, p := range checkOneSchema(dir) {
			t.Error(p)
		}
	}
	// The embedded files are the folder's files.
	embedded, err := fs.Glob(migrations, "migrations/*")
	must(t, err)
	onDisk, err := filepath.Glob(filepath.Join("migrations", "*"))
	must(t, err)
	if !slices.Equal(embedded, onDisk) {
		t.Errorf("embedded %v, folder holds %v", embedded, onDisk)
	}

	// The check itself finds what it guards against.
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "00001_x.sql"), []byte("-- a BLOB in a comment is fine\nCREATE TABLE x (\n"+
		"    serial TEXT PRIMARY KEY,\n    data   blob NOT NULL\n);\nALTER TABLE x ADD COLUMN id SERIAL;\n"), 0o600))
	must(t, os.Mkdir(filepath.Join(dir, "sqlite"), 0o700))
	got := checkOneSchema(dir)
	if len(got) != 3 || !strings.Contains(got[0], ":4: \"data   blob\"") || !strings.Contains(got[1], ":6: \"ADD COLUMN id SERIAL\"") ||
		!strings.Contains(got[2], "subfolder") {
		t.Errorf("check of a per-dialect layout: %q", got)
	}
}

// byteValues are byte strings SQLite would change if they were stored as text
// in a column of NUMERIC affinity (what BYTEA gets there), plus empty and NUL
// bytes.
var byteValues = [][]byte{
	[]byte("12345"), []byte("0x1"), {}, {0}, []byte("a\x00b"), []byte("1e3"), []byte(" 42 "),
	[]byte("007"), []byte("1.50"), []byte("-0"), []byte("9223372036854775808"), {0xff, 0xfe},
}

// byteColumns lists the database's byte columns as "table.column".
func byteColumns(t *testing.T, s *Store) []string {
	t.Helper()
	q := `SELECT m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
		WHERE m.type = 'table' AND upper(p.type) IN ('BYTEA', 'BLOB') ORDER BY 1`
	if s.Dialect() == Postgres {
		q = `SELECT table_name || '.' || column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND data_type = 'bytea' ORDER BY 1`
	}
	rows, err := s.DB().Query(q)
	must(t, err)
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		must(t, rows.Scan(&c))
		cols = append(cols, c)
	}
	must(t, rows.Err())
	return cols
}

// Bytes come back exactly as written, through the store's methods and
// through every byte column, also those that look like numbers.
func TestBytesRoundTripUnchanged(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		sc := OrgScope(f.orgA.ID)
		ch := sys("test")
		for i, v := range byteValues {
			c := *f.certA
			c.PublicKey, c.DER = v, append(bytes.Clone(v), '!')
			must(t, s.PutCertificate(ctx, &c, ch))
			got, err := s.Certificate(ctx, sc, c.Serial)
			must(t, err)
			if !bytes.Equal(got.PublicKey, c.PublicKey) || !bytes.Equal(got.DER, c.DER) {
				t.Errorf("certificate %q %q came back %q %q", c.PublicKey, c.DER, got.PublicKey, got.DER)
			}
			d := &renewal.Document{ApplicationID: a.ID, Kind: renewal.DocOther, Name: "x", ContentType: renewal.ContentPNG}
			must(t, s.AddDocument(ctx, sc, d, v, ch))
			if _, data, err := s.Document(ctx, sc, a.ID, d.ID); err != nil || !bytes.Equal(data, v) {
				t.Errorf("document %q came back %q (%v)", v, data, err)
			}
			k := IdemKey{User: "u", Key: fmt.Sprint("k", i), Hash: v}
			if st, _, err := s.BeginIdempotent(ctx, k, "o", testIdem); err != nil || st != IdemLeader {
				t.Fatalf("idempotency key %q: %v %v", v, st, err)
			}
			must(t, s.FinishIdempotent(ctx, k.User, k.Key, "o", &IdemAnswer{Status: 200, Header: v, Body: v}))
			if st, ans, err := s.BeginIdempotent(ctx, k, "o2", testIdem); err != nil || st != IdemDone || !bytes.Equal(ans.Header, v) || !bytes.Equal(ans.Body, v) {
				t.Errorf("idempotent answer %q came back %v %+v (%v)", v, st, ans, err)
			}
			w := &Workstation{ID: newID(), Name: "w", PublicKey: v, Fingerprint: fmt.Sprint("fp", i), EnrolledBy: "admin"}
			must(t, s.EnrolWorkstation(ctx, w, ch))
			if got, err := s.WorkstationByFingerprint(ctx, w.Fingerprint); err != nil || !bytes.Equal(got.PublicKey, v) {
				t.Errorf("workstation key %q came back %+v (%v)", v, got, err)
			}
		}
		is := &renewal.Issuance{ApplicationID: a.ID, Mode: renewal.IssueSameKey, Serial: "99", Certificate: []byte("12345"),
			Chain: [][]byte{[]byte("0x1")}, NotBefore: clk.Now(), NotAfter: clk.Now().AddDate(1, 0, 0)}
		must(t, s.Write(ctx, func(tx *Tx) error { return tx.PutIssuance(ctx, is, ch) }))
		if got, err := s.Issuance(ctx, sc, a.ID); err != nil || !bytes.Equal(got.Certificate, is.Certificate) || !bytes.Equal(got.Chain[0], is.Chain[0]) {
			t.Errorf("issuance came back %+v (%v)", got, err)
		}
		inv := &Invoice{ApplicationID: a.ID, AmountFen: 1,
			Details: renewal.InvoiceRequest{Title: "t", TaxID: "x", Email: "e@x.cn", Phone: "13800138000"}}
		must(t, s.Write(ctx, func(tx *Tx) error { return tx.RequestInvoice(ctx, sc, inv, clk.Now(), ch) }))
		must(t, s.FinishInvoice(ctx, a.ID, "1", []byte("12345"), clk.Now(), ch))
		if _, pdf, err := s.InvoicePDF(ctx, a.ID); err != nil || string(pdf) != "12345" {
			t.Errorf("invoice pdf came back %q (%v)", pdf, err)
		}

		// Every byte column of the schema, each holding rows from above.
		cols := byteColumns(t, s)
		want := []string{"certificates.der", "certificates.public_key", "document_chunks.data", "documents.data",
			"idempotency_keys.body", "idempotency_keys.header", "idempotency_keys.request_hash", "invoices.pdf",
			"issuances.chain", "issuances.der", "workstations.public_key"}
		if !slices.Equal(cols, want) {
			t.Fatalf("byte columns %v, want %v (a new one needs a row above)", cols, want)
		}
		for _, col := range cols {
			table, column, _ := strings.Cut(col, ".")
			for _, v := range byteValues {
				if _, err := s.DB().Exec(`UPDATE `+table+` SET `+column+` = $1`, v); err != nil {
					t.Fatalf("%s = %q: %v", col, v, err)
				}
				kind := `CASE WHEN ` + column + ` IS NULL THEN 'null' ELSE 'bytes' END`
				if s.Dialect() == SQLite {
					kind = `typeof(` + column + `)`
				}
				rows, err := s.DB().Query(`SELECT ` + column + `, ` + kind + ` FROM ` + table)
				must(t, err)
				n := 0
				for rows.Next() {
					var got []byte
					var k string
					must(t, rows.Scan(&got, &k))
					if !bytes.Equal(got, v) || (k != "blob" && k != "bytes") {
						t.Errorf("%s: wrote %q, read %q stored as %s", col, v, got, k)
					}
					n++
				}
				must(t, rows.Err())
				rows.Close()
				if n == 0 {
					t.Fatalf("%s: no rows to test", col)
				}
			}
		}
	})
}

// A SQLite database made by the per-dialect files this package shipped before
// (the same migrations with BLOB where these say BYTEA) opens without running
// any migration again, and keeps storing bytes.
func TestDatabaseOfThePerDialectSchemaOpens(t *testing.T) {
	old := fstest.MapFS{}
	entries, err := fs.ReadDir(migrations, "migrations")
	must(t, err)
	for _, e := range entries {
		b, err := fs.ReadFile(migrations, "migrations/"+e.Name())
		must(t, err)
		old[e.Name()] = &fstest.MapFile{Data: []byte(strings.ReplaceAll(string(b), "BYTEA", "BLOB"))}
	}
	path := filepath.Join(t.TempDir(), "renewd.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	must(t, err)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, old, goose.WithTableName(VersionTable), goose.WithDisableGlobalRegistry(true))
	must(t, err)
	_, err = p.Up(context.Background())
	must(t, err)
	versionRows := func() (n int, latest int64) {
		must(t, db.QueryRow(`SELECT COUNT(*), MAX(version_id) FROM `+VersionTable).Scan(&n, &latest))
		return n, latest
	}
	n0, v0 := versionRows()
	var declared string
	must(t, db.QueryRow(`SELECT type FROM pragma_table_info('certificates') WHERE name = 'der'`).Scan(&declared))
	// The newest migration's number (numbers may skip one, a migration
	// kept for another branch).
	newest, err := strconv.ParseInt(strings.SplitN(entries[len(entries)-1].Name(), "_", 2)[0], 10, 64)
	must(t, err)
	if declared != "BLOB" || v0 != newest {
		t.Fatalf("the old schema was not made: der is %s, version %d", declared, v0)
	}

	clk := newClock()
	s, err := OpenSQLite(ctx, path, WithClock(clk.Now))
	must(t, err)
	defer s.Close()
	if n, v := versionRows(); n != n0 || v != v0 {
		t.Fatalf("opening ran migrations: %d version rows (was %d), version %d (was %d)", n, n0, v, v0)
	}
	f := seed(t, s, clk)
	got, err := s.Certificate(ctx, AllScope(), f.certA.Serial)
	must(t, err)
	if !bytes.Equal(got.DER, f.certA.DER) {
		t.Errorf("der %x, want %x", got.DER, f.certA.DER)
	}
	clk.Advance(time.Second)
	verifyOK(t, s)
}
