package payment

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable is the goose version table of this module, distinct from the
// main store's, so both migrate the same database independently.
const VersionTable = "payment_goose_version"

// Dialect names the database: DialectSQLite (modernc.org/sqlite) or
// DialectPostgres (pgx stdlib).
type Dialect string

// Dialects.
const (
	DialectSQLite   Dialect = "sqlite3"
	DialectPostgres Dialect = "postgres"
)

// migrationLockID is the PostgreSQL advisory lock the payment migrations
// run under.
const migrationLockID int64 = 0x756b65795f706179 // "ukey_pay"

// MigrationFiles are the module's migrations, migrations/*.sql (for a
// check that all are applied: store.MigrationsCurrent).
func MigrationFiles() fs.FS { return migrationFiles }

// Migrate brings the payment tables up to date.
func Migrate(ctx context.Context, db *sql.DB, d Dialect) error {
	p, err := migrations(db, d)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("payment migrate: %w", err)
	}
	return nil
}

// migrations is the goose provider of the payment tables on db. The goose
// dialect names the version table's SQL; the migrations are the same files
// on both databases.
func migrations(db *sql.DB, d Dialect) (*goose.Provider, error) {
	var gd goose.Dialect
	opts := []goose.ProviderOption{goose.WithTableName(VersionTable), goose.WithDisableGlobalRegistry(true)}
	switch d {
	case DialectSQLite:
		gd = goose.DialectSQLite3
	case DialectPostgres:
		gd = goose.DialectPostgres
		// Replicas starting at once migrate one after the other.
		l, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("payment migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(l))
	default:
		return nil, fmt.Errorf("payment migrate: unknown dialect %q: %w", d, ErrInvalid)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("payment migrate: %w", err)
	}
	p, err := goose.NewProvider(gd, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("payment migrate: %w", err)
	}
	return p, nil
}
