package pgtest_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

func TestWithSearchPath(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://u@localhost:5432/db?sslmode=disable", "postgres://u@localhost:5432/db?search_path=s1&sslmode=disable"},
		{"host=/tmp dbname=db", "host=/tmp dbname=db search_path=s1"},
	} {
		if got := pgtest.WithSearchPath(c.dsn, "s1"); got != c.want {
			t.Errorf("WithSearchPath(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
}

// A table made through the DSN lands in the new schema, and the schema is
// gone after the test.
func TestSchema(t *testing.T) {
	var schema string
	t.Run("use", func(t *testing.T) {
		db, err := sql.Open("pgx", pgtest.Schema(t, "pgtest_"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE TABLE t (x int)`); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT table_schema FROM information_schema.tables WHERE table_name = 't' AND table_schema LIKE 'pgtest_%'`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(schema, "pgtest_") {
			t.Fatalf("table in schema %q", schema)
		}
	})
	if schema == "" {
		t.Skip("no schema was made")
	}
	mustBeGone(t, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, schema)
}

// Database makes a database that is gone after its test, even with a
// connection to it left open.
func TestDatabase(t *testing.T) {
	var name string
	t.Run("use", func(t *testing.T) {
		db, err := sql.Open("pgx", pgtest.Database(t, "pgtest_"))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "pgtest_") {
			t.Fatalf("connected to %q", name)
		}
		// db is left open on purpose.
	})
	if name == "" {
		t.Skip("no database was made")
	}
	mustBeGone(t, `SELECT count(*) FROM pg_database WHERE datname = $1`, name)
}

// mustBeGone fails the test if query (a count of rows named $1) counts name.
func mustBeGone(t *testing.T, query, name string) {
	t.Helper()
	db, err := sql.Open("pgx", testenv.Env(t, pgtest.DSNVar))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%s is still there after its test", name)
	}
}
