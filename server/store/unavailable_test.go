package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// A database that cannot be reached, or a connection that dies under a
// transaction, is Unavailable (the server answers 503 busy, to be retried);
// a conflict, a missing row or any other error is not.
func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Nothing listens on port 1.
	_, err := store.OpenPostgres(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5")
	if err == nil || !store.Unavailable(err) {
		t.Errorf("a closed port: Unavailable(%v) = false, want true", err)
	}

	dsn := pgtest.Schema(t, "unavail_")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE t (k int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// As when the primary fails over: the server ends the connection.
	if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
	if err == nil || !store.Unavailable(fmt.Errorf("create application: %w", err)) {
		t.Errorf("a connection ended under a transaction: Unavailable(%v) = false, want true", err)
	}
	_ = tx.Rollback()

	// A real unique violation is a conflict, not unavailability.
	if _, err := db.ExecContext(ctx, `CREATE TABLE u (k int PRIMARY KEY); INSERT INTO u VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO u VALUES (1)`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || store.Unavailable(err) {
		t.Errorf("a unique violation: Unavailable(%v) = true, want false", err)
	}
	for _, err := range []error{nil, sql.ErrNoRows, store.ErrConflict, errors.New("boom"), context.Canceled,
		&pgconn.PgError{Code: "23503"}} {
		if store.Unavailable(err) {
			t.Errorf("Unavailable(%v) = true, want false", err)
		}
	}
	for _, code := range []string{"08006", "57P01", "57P03", "40001", "40P01", "53300"} {
		if !store.Unavailable(fmt.Errorf("x: %w", &pgconn.PgError{Code: code})) {
			t.Errorf("Unavailable(SQLSTATE %s) = false, want true", code)
		}
	}
}
