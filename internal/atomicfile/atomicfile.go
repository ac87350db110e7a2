// Package atomicfile writes whole files so that a crash or a power cut
// leaves the old file or the new one, never part of one, and a written file
// is on disk when the call returns.
//
// The data goes to a temporary file beside the target (name + ".tmp-" and a
// random part, see TempGlob), which is given its permissions, written,
// synced and closed, then renamed (WriteFile) or hard-linked (WriteNew) to
// the name; last the directory is synced, so the new name survives a power
// cut too. On Windows the directory is not synced: a directory cannot be
// opened for FlushFileBuffers there, and NTFS journals the rename itself.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// TempGlob, appended to a target's name, matches the temporary files made
// beside it. One is left behind only by a process killed while writing.
const TempGlob = ".tmp-*"

// WriteFile replaces name with data, or creates it, with permissions perm
// (set as given: the umask does not apply).
func WriteFile(name string, data []byte, perm fs.FileMode) error {
	return write(name, data, perm, false)
}

// WriteNew creates name with data and permissions perm only if name does
// not exist yet; if it does, the error satisfies errors.Is(err, fs.ErrExist)
// and the file is left as it is. Of concurrent writers exactly one wins.
func WriteNew(name string, data []byte, perm fs.FileMode) error {
	return write(name, data, perm, true)
}

// testHookBeforePlace, if set, sees the complete temporary file.
var testHookBeforePlace func(tmp string)

func write(name string, data []byte, perm fs.FileMode, exclusive bool) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, filepath.Base(name)+TempGlob)
	if err != nil {
		return err
	}
	tmp := f.Name()
	placed := false
	defer func() {
		if !placed {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if testHookBeforePlace != nil {
		testHookBeforePlace(tmp)
	}
	if exclusive {
		// A link fails if name exists. The file keeps name alone after.
		if err := os.Link(tmp, name); err != nil {
			return err
		}
		_ = os.Remove(tmp)
	} else if err := os.Rename(tmp, name); err != nil {
		return err
	}
	placed = true
	return syncDir(dir)
}
