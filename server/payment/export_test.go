package payment

import (
	"context"
	"database/sql"
)

// MigrateUpTo brings the payment tables to the given version only, to make a
// database as an older renewd left it.
func MigrateUpTo(ctx context.Context, db *sql.DB, d Dialect, version int64) error {
	p, err := migrations(db, d)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// Quoted and Clip are the error-text bounds.
var Quoted, Clip = quoted, clip
