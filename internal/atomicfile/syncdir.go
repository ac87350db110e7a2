//go:build !windows

package atomicfile

import "os"

// syncDir makes a rename, link or unlink in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
