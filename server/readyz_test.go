package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestReadyz: ready with every migration applied; not ready when one of
// the store's, the payment module's or River's is missing (a database
// restored from an old backup), when draining, or when the database does
// not answer. /healthz stays 200 throughout: the process is alive.
func TestReadyz(t *testing.T) {
	eachDB(t, func(t *testing.T, pg bool) {
		r := renewdtest.New(t, renewdtest.Options{Postgres: pg, Payments: true, Jobs: true})
		ctx := context.Background()
		db := r.Store.DB()
		want := func(code int, body string) {
			t.Helper()
			if got, b := get(t, r.URL+"/readyz"); got != code || !strings.Contains(b, body) {
				t.Fatalf("/readyz: %d %q, want %d %q", got, b, code, body)
			}
			if got, _ := get(t, r.URL+"/healthz"); got != http.StatusOK {
				t.Fatalf("/healthz: %d", got)
			}
		}
		want(http.StatusOK, "ready")
		// A version row hidden (goose: negated; River: deleted) is a
		// migration not applied.
		for _, m := range []struct{ table, hide, restore string }{
			{store.VersionTable, `UPDATE ` + store.VersionTable + ` SET version_id = -version_id WHERE version_id = $1`,
				`UPDATE ` + store.VersionTable + ` SET version_id = -version_id WHERE version_id = 0 - $1`},
			{"payment_goose_version", `UPDATE payment_goose_version SET version_id = -version_id WHERE version_id = $1`,
				`UPDATE payment_goose_version SET version_id = -version_id WHERE version_id = 0 - $1`},
			{"river_migration", `DELETE FROM river_migration WHERE version = $1`,
				`INSERT INTO river_migration (line, version) VALUES ('main', $1)`},
		} {
			col := "version_id"
			if m.table == "river_migration" {
				col = "version"
			}
			var last int64
			if err := db.QueryRowContext(ctx, `SELECT MAX(`+col+`) FROM `+m.table).Scan(&last); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, m.hide, last); err != nil {
				t.Fatal(err)
			}
			want(http.StatusServiceUnavailable, "migrations not current")
			if _, err := db.ExecContext(ctx, m.restore, last); err != nil {
				t.Fatal(err)
			}
			want(http.StatusOK, "ready")
		}
		// Jobs are counted in /metrics: the sweep runs at start.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, m := get(t, r.URL+"/metrics")
			if strings.Contains(m, `renewd_jobs{kind="payment.sweep",state="completed"}`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no completed sweep in /metrics after 30 s:\n%s", grepLines(m, "renewd_jobs"))
			}
			time.Sleep(50 * time.Millisecond)
		}
		r.Server.Drain()
		want(http.StatusServiceUnavailable, "draining")
	})
}

// TestReadyzDatabaseUnreachable: a store whose database is gone answers 503.
func TestReadyzDatabaseUnreachable(t *testing.T) {
	r := renewdtest.New(t, renewdtest.Options{})
	if err := r.Store.Close(); err != nil {
		t.Fatal(err)
	}
	if got, b := get(t, r.URL+"/readyz"); got != http.StatusServiceUnavailable || !strings.Contains(b, "database unreachable") {
		t.Fatalf("/readyz with the database closed: %d %q", got, b)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
