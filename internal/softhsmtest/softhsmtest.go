// Package softhsmtest gives a test its own SoftHSM2: a private token directory
// and configuration, tokens made with softhsm2-util, and helpers that write
// objects with independent tools (pkcs11-tool, openssl) so that what the
// product reads is not only what the product wrote.
//
// # One module context per process
//
// SoftHSM2 reads SOFTHSM2_CONF only in C_Initialize, and a process may
// initialise a module once. The token package therefore shares one context per
// module path, reference-counted, and finalises it when the last user closes
// it. A test that opens the module after New and closes everything it opened
// before it ends (t.Cleanup runs in reverse order, so register closes after
// New) gets a fresh C_Initialize that reads its own configuration. Because New
// uses t.Setenv, such tests cannot run in parallel with each other; tests that
// want to share tokens share one Env inside a single test function with
// sub-tests.
//
// Tokens created by another process (softhsm2-util, pkcs11-tool --init-token)
// after the module was initialised are not visible to it until it is
// initialised again: create tokens first, then open the module, or call
// token.Module.Reload (WatchOptions.ReloadEvery when watching). A token whose
// directory is removed disappears at once: that is how tests pull a token out.
package softhsmtest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

// DefaultModule is where Debian installs the SoftHSM2 PKCS#11 module.
const DefaultModule = "/usr/lib/softhsm/libsofthsm2.so"

// Env is one private SoftHSM2 installation.
type Env struct {
	Dir      string // private root directory
	TokenDir string // Dir/tokens: one sub-directory per token
	Conf     string // path of softhsm2.conf, exported as SOFTHSM2_CONF
	Module   string // path of libsofthsm2.so
}

// New makes a private SoftHSM2 configuration (file backend, removable slots)
// and points SOFTHSM2_CONF at it for the rest of the test.
func New(t testing.TB) *Env {
	t.Helper()
	mod := testenv.File(t, DefaultModule)
	testenv.LookPath(t, "softhsm2-util")
	// Not t.TempDir: its name comes from the test's, and SoftHSM2's
	// configuration parser cuts a path at '=' (as in "reload=1s").
	dir, err := os.MkdirTemp("", "softhsmtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &Env{Dir: dir, TokenDir: filepath.Join(dir, "tokens"), Conf: filepath.Join(dir, "softhsm2.conf"), Module: mod}
	if err := os.Mkdir(e.TokenDir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = true\n", e.TokenDir)
	if err := os.WriteFile(e.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", e.Conf)
	return e
}

// Environ returns the environment for a child process that must see this
// SoftHSM2 configuration.
func (e *Env) Environ() []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOFTHSM2_CONF=") {
			env = append(env, kv)
		}
	}
	return append(env, "SOFTHSM2_CONF="+e.Conf)
}

// Run runs a program with this environment and returns its standard output,
// failing the test with the program's standard error if it fails.
func (e *Env) Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := e.RunErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// RunErr is Run that returns the error instead of failing.
func (e *Env) RunErr(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = e.Environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// InitToken initialises a new token in the free slot with softhsm2-util and
// returns its serial number (the 16 hex digits SoftHSM2 reports). The label
// is passed as raw bytes, so a GBK label can be tested.
func (e *Env) InitToken(t testing.TB, label, soPIN, userPIN string) string {
	t.Helper()
	before := e.serials(t)
	e.Run(t, "softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", soPIN, "--pin", userPIN)
	for s := range e.serials(t) {
		if _, ok := before[s]; !ok {
			return s
		}
	}
	t.Fatalf("softhsm2-util made token %q but its serial was not found", label)
	return ""
}

// serials maps the serial numbers of the initialised tokens to their slots.
func (e *Env) serials(t testing.TB) map[string]string {
	t.Helper()
	out := e.Run(t, "softhsm2-util", "--show-slots")
	m := map[string]string{}
	slot := ""
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "Slot "); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			slot = rest
		}
		if rest, ok := strings.CutPrefix(line, "Serial number:"); ok {
			if rest = strings.TrimSpace(rest); rest != "" {
				m[rest] = slot
			}
		}
	}
	return m
}

// Slot returns the current slot ID of the token with the given serial, as
// pkcs11-tool --slot wants it.
func (e *Env) Slot(t testing.TB, serial string) string {
	t.Helper()
	slot, ok := e.serials(t)[serial]
	if !ok {
		t.Fatalf("no SoftHSM2 token with serial %s", serial)
	}
	return slot
}

// ImportCert writes a DER certificate to the token with pkcs11-tool, logged
// in as the user, with the given CKA_ID and label.
func (e *Env) ImportCert(t testing.TB, serial, userPIN string, der, id []byte, label string) {
	t.Helper()
	e.pkcs11Write(t, serial, userPIN, "cert", der, id, label)
}

// ImportKey writes a private key (DER, PKCS#8 or traditional) to the token
// with pkcs11-tool.
func (e *Env) ImportKey(t testing.TB, serial, userPIN string, der, id []byte, label string) {
	t.Helper()
	e.pkcs11Write(t, serial, userPIN, "privkey", der, id, label)
}

// ImportPubKey writes a public key (DER SubjectPublicKeyInfo) with pkcs11-tool.
func (e *Env) ImportPubKey(t testing.TB, serial, userPIN string, der, id []byte, label string) {
	t.Helper()
	e.pkcs11Write(t, serial, userPIN, "pubkey", der, id, label)
}

func (e *Env) pkcs11Write(t testing.TB, serial, userPIN, typ string, der, id []byte, label string) {
	t.Helper()
	tool := testenv.LookPath(t, "pkcs11-tool")
	f := filepath.Join(t.TempDir(), "obj.der")
	if err := os.WriteFile(f, der, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--module", e.Module, "--slot", e.Slot(t, serial), "--login", "--pin", userPIN,
		"--write-object", f, "--type", typ}
	if len(id) > 0 {
		args = append(args, "--id", hex.EncodeToString(id))
	}
	if label != "" {
		args = append(args, "--label", label)
	}
	e.Run(t, tool, args...)
}

// PKCS11Tool runs pkcs11-tool against the token with the given serial and
// returns its output.
func (e *Env) PKCS11Tool(t testing.TB, serial string, args ...string) string {
	t.Helper()
	tool := testenv.LookPath(t, "pkcs11-tool")
	all := []string{"--module", e.Module, "--slot", e.Slot(t, serial)}
	return string(e.Run(t, tool, append(all, args...)...))
}

// P11Tool runs GnuTLS's p11tool with this module as the provider.
func (e *Env) P11Tool(t testing.TB, args ...string) string {
	t.Helper()
	tool := testenv.LookPath(t, "p11tool")
	return string(e.Run(t, tool, append([]string{"--provider", e.Module}, args...)...))
}

// OpenSSL runs openssl with the given arguments in dir and returns its
// standard output.
func (e *Env) OpenSSL(t testing.TB, dir string, args ...string) string {
	t.Helper()
	tool := testenv.LookPath(t, "openssl")
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	cmd.Env = e.Environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String() + stderr.String()
}

// SM2Cert makes a self-signed SM2 certificate with openssl (as Chinese CAs
// issue them) for the subject, e.g. "/C=CN/O=测试机构/CN=张三", valid for
// days, and returns its DER.
func (e *Env) SM2Cert(t testing.TB, subject string, days int) []byte {
	t.Helper()
	dir := t.TempDir()
	e.OpenSSL(t, dir, "genpkey", "-algorithm", "SM2", "-out", "k.pem")
	e.OpenSSL(t, dir, "req", "-new", "-x509", "-utf8", "-key", "k.pem", "-sm3",
		"-sigopt", "distid:1234567812345678", "-subj", subject, "-days", fmt.Sprint(days), "-outform", "DER", "-out", "c.der")
	der, err := os.ReadFile(filepath.Join(dir, "c.der"))
	if err != nil {
		t.Fatal(err)
	}
	return der
}
