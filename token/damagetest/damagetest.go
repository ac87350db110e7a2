// Package damagetest damages objects of a SoftHSM2 token (file backend) the
// way real failures do, for tests of the code that must list the rest of
// the token and say plainly what it could not read. It works on the token
// directory of a softhsmtest.Env; the loaded module is told that the token
// changed (its generation file is bumped), as another process would tell it.
package damagetest

import (
	"bytes"
	"encoding/binary"
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

// DropClass removes the CKA_CLASS record from the object file that holds
// der (an object written to the token), as a torn write of the file does.
// SoftHSM2 still lists the object, in a running module and in a fresh
// process alike, and every attribute of it answers
// CKR_ATTRIBUTE_VALUE_INVALID. (PlantRemains is seen only by a module that
// was running when the file appeared.)
func DropClass(t testing.TB, tokenDir, serial string, der []byte) {
	t.Helper()
	f, b := objectHolding(t, tokenDir, serial, der)
	out := append([]byte(nil), b[:8]...)
	rest := b[8:]
	dropped := false
	for len(rest) > 0 {
		n := recordLen(t, f, rest)
		if binary.BigEndian.Uint64(rest) == 0 { // CKA_CLASS
			dropped = true
		} else {
			out = append(out, rest[:n]...)
		}
		rest = rest[n:]
	}
	if !dropped {
		t.Fatalf("%s has no CKA_CLASS record", f)
	}
	bumpObject(out)
	if err := os.WriteFile(f, out, 0o600); err != nil {
		t.Fatal(err)
	}
	Changed(t, filepath.Dir(f))
}

// recordLen is the length of the attribute record at the start of b:
// type and kind (8 bytes each), then a boolean (1 byte), an unsigned long
// (8 bytes) or a byte string (8-byte length, then the bytes).
func recordLen(t testing.TB, f string, b []byte) int {
	t.Helper()
	if len(b) < 16 {
		t.Fatalf("%s: a record of %d bytes", f, len(b))
	}
	n := 16
	switch kind := binary.BigEndian.Uint64(b[8:]); kind {
	case 1:
		n++
	case 2:
		n += 8
	case 3:
		if len(b) < 24 {
			t.Fatalf("%s: a byte string record of %d bytes", f, len(b))
		}
		n += 8 + int(binary.BigEndian.Uint64(b[16:]))
	default:
		t.Fatalf("%s: attribute kind %d is not one this helper knows", f, kind)
	}
	if n > len(b) {
		t.Fatalf("%s: a record of %d bytes, %d left", f, n, len(b))
	}
	return n
}

// objectHolding returns the path and contents of the object file of the
// token with serial that holds der.
func objectHolding(t testing.TB, tokenDir, serial string, der []byte) (string, []byte) {
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
		if bytes.Contains(b, der) && filepath.Base(f) != "token.object" {
			return f, b
		}
	}
	t.Fatalf("no object of token %s holds the %d bytes", serial, len(der))
	return "", nil
}

// CorruptValue overwrites the value of the object that holds der (a
// certificate written to the token) with bytes of the same length that are
// no DER, as a worn-out flash cell or a faulty vendor tool leaves it: the
// object still reads, but its value does not parse.
func CorruptValue(t testing.TB, tokenDir, serial string, der []byte) {
	t.Helper()
	f, b := objectHolding(t, tokenDir, serial, der)
	i := bytes.Index(b, der)
	for j := range der {
		b[i+j] = 0xA5
	}
	bumpObject(b)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	Changed(t, filepath.Dir(f))
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
