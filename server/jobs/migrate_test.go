package jobs_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/server/jobs"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// TestMigrateConcurrently starts six replicas' migrations at once on one
// fresh PostgreSQL database, as a cluster does on its first start: each
// set of migrations (store, payment, River) runs once, under its advisory
// lock, and every replica starts. (Without the locks, six fail with
// duplicate catalogue rows on every run; three often happen to miss each
// other.)
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.Database(t, "migrate_")
	ctx := context.Background()
	const replicas = 6
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	start := make(chan struct{})
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, err := store.OpenPostgres(ctx, dsn)
			if err != nil {
				errs[i] = err
				return
			}
			defer st.Close()
			if errs[i] = payment.Migrate(ctx, st.DB(), payment.DialectPostgres); errs[i] != nil {
				return
			}
			if errs[i] = jobs.Migrate(ctx, st.DB(), jobs.Postgres); errs[i] != nil {
				return
			}
			errs[i] = st.MigrationsCurrent(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	st, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, q := range []string{
		`SELECT COUNT(*) - COUNT(DISTINCT version_id) FROM ` + store.VersionTable,
		`SELECT COUNT(*) - COUNT(DISTINCT version_id) FROM ` + payment.VersionTable,
		`SELECT COUNT(*) - COUNT(DISTINCT version) FROM river_migration`,
	} {
		var dup int
		if err := st.DB().QueryRowContext(ctx, q).Scan(&dup); err != nil {
			t.Fatal(err)
		}
		if dup != 0 {
			t.Errorf("%s: %d versions applied twice", q, dup)
		}
	}
	if err := jobs.Current(ctx, st.DB(), jobs.Postgres); err != nil {
		t.Error(err)
	}
	if err := store.MigrationsCurrent(ctx, st.DB(), payment.VersionTable, payment.MigrationFiles(), "migrations"); err != nil {
		t.Error(err)
	}
}
