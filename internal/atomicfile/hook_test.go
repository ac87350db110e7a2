package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// The temporary file is beside the target, matches name + TempGlob, and is
// complete before it gets the name.
func TestTemporaryFileBesideTheTarget(t *testing.T) {
	dir := t.TempDir()
	for _, write := range []func(string, []byte, os.FileMode) error{WriteFile, WriteNew} {
		name := filepath.Join(dir, "42.json")
		calls := 0
		testHookBeforePlace = func(tmp string) {
			calls++
			if m, _ := filepath.Glob(name + TempGlob); len(m) != 1 || m[0] != tmp {
				t.Errorf("%s + TempGlob matches %q, want %s", name, m, tmp)
			}
			if b, err := os.ReadFile(tmp); err != nil || string(b) != "data" {
				t.Errorf("temporary file holds %q, %v", b, err)
			}
		}
		if err := write(name, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
		testHookBeforePlace = nil
		if calls != 1 {
			t.Fatalf("hook called %d times", calls)
		}
		if m, _ := filepath.Glob(name + TempGlob); len(m) != 0 {
			t.Fatalf("temporary files left: %q", m)
		}
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
}
