package softhsmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnvWritesWithIndependentTools: tokens made with softhsm2-util, and a
// key and certificate written by pkcs11-tool from openssl output, are seen
// by pkcs11-tool, and only in this Env.
func TestEnvWritesWithIndependentTools(t *testing.T) {
	e := New(t)
	if os.Getenv("SOFTHSM2_CONF") != e.Conf {
		t.Fatal("SOFTHSM2_CONF not set")
	}
	a := e.InitToken(t, "a", "12345678", "1111")
	b := e.InitToken(t, "b", "12345678", "2222")
	if a == b || len(a) != 16 {
		t.Fatalf("serials %q %q", a, b)
	}
	dir := t.TempDir()
	e.OpenSSL(t, dir, "req", "-new", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "k.pem", "-subj", "/CN=t", "-days", "1", "-outform", "DER", "-out", "c.der")
	e.OpenSSL(t, dir, "pkey", "-in", "k.pem", "-outform", "DER", "-out", "k.der")
	cert, _ := os.ReadFile(filepath.Join(dir, "c.der"))
	key, _ := os.ReadFile(filepath.Join(dir, "k.der"))
	e.ImportKey(t, b, "2222", key, []byte{1, 2}, "imported")
	e.ImportCert(t, b, "2222", cert, []byte{1, 2}, "imported")
	out := e.PKCS11Tool(t, b, "--login", "--pin", "2222", "--list-objects")
	if !strings.Contains(out, "Private Key Object") || !strings.Contains(out, "Certificate Object") || !strings.Contains(out, "ID:         0102") {
		t.Errorf("token b:\n%s", out)
	}
	if out := e.PKCS11Tool(t, a, "--login", "--pin", "1111", "--list-objects"); strings.Contains(out, "Object") {
		t.Errorf("token a should be empty:\n%s", out)
	}
	if sm2 := e.SM2Cert(t, "/C=CN/O=测试/CN=张三", 2); len(sm2) < 100 {
		t.Errorf("SM2 certificate of %d bytes", len(sm2))
	}
	found := false
	for _, kv := range e.Environ() {
		if kv == "SOFTHSM2_CONF="+e.Conf {
			found = true
		}
	}
	if !found {
		t.Error("Environ lacks SOFTHSM2_CONF")
	}
}
