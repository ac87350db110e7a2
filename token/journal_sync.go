//go:build !windows

package token

import (
	"fmt"
	"os"
)

// journalSyncDir makes a rename or an unlink in dir durable.
func journalSyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync journal directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync journal directory: %w", err)
	}
	return nil
}
