// Package pgtest gives a test its own place in the throw-away PostgreSQL
// server named by UKEY_TEST_PG_DSN (set by scripts/test.sh): a fresh schema or
// database, dropped when the test ends. Without the variable the test is skipped, or
// fails under UKEY_TEST_STRICT=1 (see internal/testenv).
package pgtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

// DSNVar is the environment variable naming the test server.
const DSNVar = "UKEY_TEST_PG_DSN"

// Schema creates an empty schema whose name starts with prefix (letters,
// digits and '_') and returns a DSN whose search_path is that schema, so
// everything the test creates lands there. The schema is dropped, with all
// it holds, when the test ends.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	base := testenv.Env(t, DSNVar)
	schema := create(t, base, "SCHEMA", prefix, "CASCADE")
	return WithSearchPath(base, schema)
}

// Database creates an empty database whose name starts with prefix and
// returns a DSN of it (the server's DSN must be a URL). The database is
// dropped when the test ends, connections still open to it or not.
func Database(t testing.TB, prefix string) string {
	t.Helper()
	base := testenv.Env(t, DSNVar)
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a URL to name another database: %q", DSNVar, base)
	}
	u.Path = "/" + create(t, base, "DATABASE", prefix, "WITH (FORCE)")
	return u.String()
}

// create runs CREATE kind on the server at base for a new name starting with
// prefix, and DROP kind ... dropOpts when the test ends.
func create(t testing.TB, base, kind, prefix, dropOpts string) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE ` + kind + ` ` + name); err != nil {
		t.Fatalf("create %s (is PostgreSQL at %s up?): %v", strings.ToLower(kind), DSNVar, err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			t.Error(err)
			return
		}
		defer a.Close()
		if _, err := a.Exec(`DROP ` + kind + ` IF EXISTS ` + name + ` ` + dropOpts); err != nil {
			t.Errorf("drop %s %s: %v", strings.ToLower(kind), name, err)
		}
	})
	return name
}

// WithSearchPath returns dsn (a URL or key=value pairs) with its
// search_path set to schema.
func WithSearchPath(dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn + " search_path=" + schema
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
