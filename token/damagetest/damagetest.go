// Package damagetest damages objects of a SoftHSM2 token (file backend) the
// way real failures do, for tests of the code that must list the rest of
// the token and say plainly what it could not read. It works on the token
// directory of a softhsmtest.Env; the loaded module is told that the token
// changed (its generation file is bumped), as another process would tell it.
package damagetest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TokenDir returns the directory of the token with serial under tokenDir
// (softhsmtest.Env.TokenDir). SoftHSM2 keeps the serial in token.object.
func TokenDir(t testing.TB, tokenDir, serial string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(tokenDir, "*", "token.object"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(serial)) {
			return filepath.Dir(f)
		}
	}
	t.Fatalf("no SoftHSM2 token directory for serial %s under %s", serial, tokenDir)
	return ""
}

// PlantRemains writes what a process killed while SoftHSM2 creates an object
// file leaves behind: a file holding only its generation number. The module
// lists the object, and every attribute of it answers
// CKR_ATTRIBUTE_VALUE_INVALID. It returns the object file's path.
func PlantRemains(t testing.TB, tokenDir, serial string) string {
	t.Helper()
	dir := TokenDir(t, tokenDir, serial)
	name := filepath.Join(dir, "0badf11e-0000-0000-0000-000000000001")
	if err := os.WriteFile(name+".object", []byte{0, 0, 0, 0, 0, 0, 0, 1}, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	Changed(t, dir)
	return name + ".object"
}

// Changed bumps the generation of the token in dir (the same 8-byte
// counter as an object file's), so a module that has it loaded reads its
// objects again.
func Changed(t testing.TB, dir string) {
	t.Helper()
	p := filepath.Join(dir, "generation")
	gen, err := os.ReadFile(p)
	if err != nil || len(gen) != 8 {
		t.Fatalf("generation file %s: %x %v", p, gen, err)
	}
	bumpObject(gen)
	if err := os.WriteFile(p, gen, 0o600); err != nil {
		t.Fatal(err)
	}
}

// CorruptValue overwrites the value of the object that holds der (a
// certificate written to the token) with bytes of the same length that are
// no DER, as a worn-out flash cell or a faulty vendor tool leaves it: the
// object still reads, but its value does not parse.
func CorruptValue(t testing.TB, tokenDir, serial string, der []byte) {
	t.Helper()
	dir := TokenDir(t, tokenDir, serial)
	files, err := filepath.Glob(filepath.Join(dir, "*.object"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, der)
		if i < 0 {
			continue
		}
		for j := range der {
			b[i+j] = 0xA5
		}
		bumpObject(b)
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		Changed(t, dir)
		return
	}
	t.Fatalf("no object of token %s holds the %d bytes", serial, len(der))
}

// bumpObject raises an object file's generation (its first 8 bytes, big
// endian), which makes the module read the object again.
func bumpObject(b []byte) {
	for i := 7; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}
