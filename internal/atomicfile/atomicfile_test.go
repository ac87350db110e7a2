package atomicfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/atomicfile"
)

// onlyFiles fails unless dir holds exactly the names want: no temporary file is left.
func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(want) {
		t.Fatalf("directory holds %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("directory holds %q, want %q", got, want)
		}
	}
}

func content(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteFileCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a.pem")
	if err := atomicfile.WriteFile(name, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(name, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := content(t, name); got != "two" {
		t.Fatalf("content %q", got)
	}
	onlyFiles(t, dir, "a.pem")
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
		}
		// The permissions are the ones asked for, whatever the umask.
		if err := atomicfile.WriteFile(name, []byte("three"), 0o644); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o644 {
			t.Fatalf("mode %v, want 0644", fi.Mode().Perm())
		}
	}
}

func TestWriteNewNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "key.blob")
	if err := atomicfile.WriteNew(name, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := atomicfile.WriteNew(name, []byte("second"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteNew: %v, want fs.ErrExist", err)
	}
	if got := content(t, name); got != "first" {
		t.Fatalf("content %q after a refused WriteNew", got)
	}
	onlyFiles(t, dir, "key.blob")
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
		}
	}
}

func TestWriteNewOneWinner(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "j.json")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = atomicfile.WriteNew(name, []byte{byte('a' + i)}, 0o600) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			if got := content(t, name); got != string(rune('a'+i)) {
				t.Fatalf("winner %d, content %q", i, got)
			}
		case !errors.Is(err, fs.ErrExist):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won, want 1", won)
	}
	onlyFiles(t, dir, "j.json")
}

func TestFailedWriteLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	// A directory that is not empty cannot be replaced by a file.
	name := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(name, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(name, []byte("data"), 0o600); err == nil {
		t.Fatal("WriteFile replaced a directory")
	}
	onlyFiles(t, dir, "busy")
	if err := atomicfile.WriteFile(filepath.Join(dir, "missing", "f"), nil, 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("write into a missing directory: %v", err)
	}
}
