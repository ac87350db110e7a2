package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/token"
)

const instPIN = "135790"

// instCLI is a SoftHSM2 token with a certificate about to expire, a CA that
// renews it, and the files the commands read.
type instCLI struct {
	env     *softhsmtest.Env
	serial  string
	dir     string
	caKey   crypto.Signer
	caCert  *x509.Certificate
	serialN int64
	oldID   []byte
	pub     crypto.PublicKey
	subject pkix.Name
}

func newInstCLI(t *testing.T) *instCLI {
	t.Helper()
	c := &instCLI{env: softhsmtest.New(t), dir: t.TempDir(), oldID: []byte{0xc1, 0x02}, serialN: 10}
	c.serial = c.env.InitToken(t, "ukeyctl install", "11223344", instPIN)
	c.subject = pkix.Name{Country: []string{"CN"}, Organization: []string{"测试机构"}, CommonName: "王五"}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.caKey = key
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ukeyctl test CA"},
		NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c.caCert, _ = x509.ParseCertificate(der)
	c.write(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	c.write(t, "pin", []byte(instPIN+"\n"))
	c.write(t, "wrong-pin", []byte("000000\n"))

	ctx := context.Background()
	tok, done := c.open(t)
	defer done()
	s, err := tok.GenerateKeyPair(ctx, token.KeySpec{Type: token.ECP256, ID: c.oldID, Label: "王五"})
	if err != nil {
		t.Fatal(err)
	}
	c.pub = s.Public()
	old := c.issue(t, c.pub, c.subject, time.Now().AddDate(0, 0, 5))
	if _, err := tok.WriteCertificate(ctx, token.CertificateSpec{DER: old, ID: c.oldID, Label: "王五"}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *instCLI) write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (c *instCLI) path(name string) string { return filepath.Join(c.dir, name) }

func (c *instCLI) open(t *testing.T) (*token.Token, func()) {
	t.Helper()
	m, err := token.OpenModule(c.env.Module)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Open(context.Background(), c.serial)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Login(context.Background(), []byte(instPIN)); err != nil {
		t.Fatal(err)
	}
	return tok, func() { tok.Close(); m.Close() }
}

func (c *instCLI) issue(t *testing.T, pub crypto.PublicKey, subject pkix.Name, notAfter time.Time) []byte {
	t.Helper()
	c.serialN++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(c.serialN), Subject: subject,
		NotBefore: time.Now().AddDate(0, 0, -1), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.caCert, pub, c.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// inventory returns the token's certificates and counts of keys, ghosts, orphans.
func (c *instCLI) inventory(t *testing.T) *token.Inventory {
	t.Helper()
	tok, done := c.open(t)
	defer done()
	inv, err := tok.Objects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// ukeyctl runs the command line in-process and returns its exit code and output.
func (c *instCLI) ukeyctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func (c *instCLI) common(cmd string) []string {
	return []string{cmd, "--module", c.env.Module, "--token", c.serial, "--journal", c.path("journal"), "--pin-file", c.path("pin")}
}

func TestCLIInstallSameKeyAndRekey(t *testing.T) {
	c := newInstCLI(t)
	renewed := c.issue(t, c.pub, c.subject, time.Now().AddDate(1, 0, 0))
	c.write(t, "renewed.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: renewed}))

	code, out, errOut := c.ukeyctl(t, append(c.common("install-cert"), "--cert", c.path("renewed.pem"), "--chain", c.path("ca.pem"), "--json")...)
	if code != exitOK {
		t.Fatalf("install-cert: exit %d: %s", code, errOut)
	}
	var res struct {
		Token, Status, Mode, Label string
		OldID                      string `json:"old_id"`
		NewID                      string `json:"new_id"`
		Installed                  struct{ SHA256 string }
		Replaced                   struct{ Serial string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("install-cert --json: %v\n%s", err, out)
	}
	if res.Status != "installed" || res.Mode != "same-key" || res.NewID != hex.EncodeToString(c.oldID) || res.Label != "王五" || res.Replaced.Serial != "0B" {
		t.Fatalf("install-cert --json: %s", out)
	}
	inv := c.inventory(t)
	if len(inv.Certificates) != 1 || !bytes.Equal(inv.Certificates[0].Info.Raw, renewed) || len(inv.Ghosts)+len(inv.OrphanKeys) != 0 {
		t.Fatalf("after install-cert the token holds %d certificates, %d ghosts, %d orphans", len(inv.Certificates), len(inv.Ghosts), len(inv.OrphanKeys))
	}

	// Re-key in two steps: the CSR goes out, the certificate comes back.
	code, out, errOut = c.ukeyctl(t, append(c.common("install-cert"), "--rekey", "--csr-out", c.path("req.pem"), "--key-type", "ec-p384")...)
	if code != exitOK || !strings.Contains(out, "CSR written to") {
		t.Fatalf("install-cert --rekey --csr-out: exit %d: %s%s", code, out, errOut)
	}
	csrPEM, err := os.ReadFile(c.path("req.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		t.Fatalf("CSR: %v", err)
	}
	if k, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P384() || csr.Subject.CommonName != "王五" {
		t.Fatalf("CSR for %T %s", csr.PublicKey, csr.Subject)
	}
	// Meanwhile recover keeps the pending key pair.
	code, out, errOut = c.ukeyctl(t, append(c.common("recover"), "--json")...)
	if code != exitOK || !strings.Contains(out, `"outcome": "pending"`) {
		t.Fatalf("recover with a pending re-key: exit %d: %s%s", code, out, errOut)
	}
	// A certificate for another key is refused; the re-key stays pending.
	wrong := c.issue(t, c.pub, c.subject, time.Now().AddDate(1, 1, 0))
	c.write(t, "wrong.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: wrong}))
	code, _, errOut = c.ukeyctl(t, append(c.common("install-cert"), "--rekey", "--cert", c.path("wrong.pem"), "--chain", c.path("ca.pem"))...)
	if code != exitError || !strings.Contains(errOut, "public key does not match") {
		t.Fatalf("install-cert --rekey with the wrong key: exit %d: %s", code, errOut)
	}
	newCert := c.issue(t, csr.PublicKey, c.subject, time.Now().AddDate(2, 0, 0))
	c.write(t, "new.der", newCert)
	code, out, errOut = c.ukeyctl(t, append(c.common("install-cert"), "--rekey", "--cert", c.path("new.der"), "--chain", c.path("ca.pem"))...)
	if code != exitOK || !strings.Contains(out, "installed certificate") || !strings.Contains(out, "and its key pair") {
		t.Fatalf("install-cert --rekey --cert: exit %d: %s%s", code, out, errOut)
	}
	inv = c.inventory(t)
	if len(inv.Certificates) != 1 || !bytes.Equal(inv.Certificates[0].Info.Raw, newCert) || !inv.Certificates[0].HasKey() ||
		len(inv.PrivateKeys) != 1 || len(inv.PublicKeys) != 1 || inv.PrivateKeys[0].Curve != "P-384" || len(inv.Ghosts)+len(inv.OrphanKeys) != 0 {
		t.Fatalf("after the re-key: %d certificates, %d private keys, %d ghosts, %d orphans", len(inv.Certificates), len(inv.PrivateKeys), len(inv.Ghosts), len(inv.OrphanKeys))
	}
	code, out, _ = c.ukeyctl(t, c.common("recover")...)
	if code != exitOK || !strings.Contains(out, "no interrupted install") {
		t.Fatalf("recover after the re-key: exit %d: %s", code, out)
	}
}

func TestCLIRecoverAbandonsAPendingRekey(t *testing.T) {
	c := newInstCLI(t)
	if code, _, errOut := c.ukeyctl(t, append(c.common("install-cert"), "--rekey", "--csr-out", c.path("req.pem"))...); code != exitOK {
		t.Fatalf("install-cert --rekey --csr-out: exit %d: %s", code, errOut)
	}
	// A same-key install cannot start while the re-key is pending.
	renewed := c.issue(t, c.pub, c.subject, time.Now().AddDate(1, 0, 0))
	c.write(t, "renewed.der", renewed)
	code, _, errOut := c.ukeyctl(t, append(c.common("install-cert"), "--cert", c.path("renewed.der"), "--chain", c.path("ca.pem"))...)
	if code != exitError || !strings.Contains(errOut, "ukeyctl recover") {
		t.Fatalf("install-cert during a pending re-key: exit %d: %s", code, errOut)
	}
	if n := len(c.inventory(t).PrivateKeys); n != 2 {
		t.Fatalf("%d private keys while the re-key is pending, want 2", n)
	}
	code, out, errOut := c.ukeyctl(t, append(c.common("recover"), "--abandon-rekey", "--json")...)
	if code != exitOK {
		t.Fatalf("recover --abandon-rekey: exit %d: %s", code, errOut)
	}
	var res token.RecoverResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "rolled_back" || len(res.Removed) != 2 {
		t.Fatalf("recover --abandon-rekey: %s", out)
	}
	inv := c.inventory(t)
	if len(inv.Certificates) != 1 || len(inv.PrivateKeys) != 1 || !bytes.Equal(inv.PrivateKeys[0].ID, c.oldID) {
		t.Fatalf("after abandoning: %d certificates, %d private keys", len(inv.Certificates), len(inv.PrivateKeys))
	}
	// Now the same-key install goes through.
	if code, _, errOut := c.ukeyctl(t, append(c.common("install-cert"), "--cert", c.path("renewed.der"), "--chain", c.path("ca.pem"))...); code != exitOK {
		t.Fatalf("install-cert after abandoning: exit %d: %s", code, errOut)
	}
}

func TestCLIInstallRefusesBadInput(t *testing.T) {
	c := newInstCLI(t)
	renewed := c.issue(t, c.pub, c.subject, time.Now().AddDate(1, 0, 0))
	c.write(t, "renewed.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: renewed}))
	other := c.subject
	other.Organization = []string{"另一家"}
	c.write(t, "other-holder.der", c.issue(t, c.pub, other, time.Now().AddDate(1, 0, 0)))
	c.write(t, "expired.der", c.issue(t, c.pub, c.subject, time.Now().AddDate(0, 0, -1).Add(-time.Hour)))
	c.write(t, "garbage.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c.write(t, "other-key.der", c.issue(t, k.Public(), c.subject, time.Now().AddDate(1, 0, 0)))
	otherCA := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().AddDate(-1, 0, 0), NotAfter: time.Now().AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, otherCA, otherCA, k.Public(), k)
	c.write(t, "other-ca.der", der)

	bundle, _ := os.ReadFile(c.path("renewed.pem"))
	caPEM, _ := os.ReadFile(c.path("ca.pem"))
	c.write(t, "bundle.pem", append(bundle, caPEM...))
	cert := []string{"--cert", c.path("renewed.pem"), "--chain", c.path("ca.pem")}
	base := c.common("install-cert")
	noToken := []string{"install-cert", "--module", c.env.Module, "--journal", c.path("journal"), "--pin-file", c.path("pin")}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no token", append(noToken, cert...), exitUsage, "--token"},
		{"no certificate", base, exitUsage, "--cert FILE is required"},
		{"no chain", append(base, "--cert", c.path("renewed.pem")), exitUsage, "--chain FILE is required"},
		{"csr-out without rekey", append(base, "--csr-out", c.path("x.pem")), exitUsage, "needs --rekey"},
		{"csr-out and cert", append(append(base, "--rekey", "--csr-out", c.path("x.pem")), cert...), exitUsage, "not both"},
		{"key type without csr-out", append(append(base, "--key-type", "ec-p256"), cert...), exitUsage, "--key-type goes with"},
		{"unknown key type", append(base, "--rekey", "--csr-out", c.path("x.pem"), "--key-type", "dsa"), exitUsage, "--key-type"},
		{"chain with csr-out", append(base, "--rekey", "--csr-out", c.path("x.pem"), "--chain", c.path("ca.pem")), exitUsage, "--chain goes with"},
		{"bad replace id", append(append(base, "--replace-id", "xyz"), cert...), exitUsage, "not hex"},
		{"extra argument", append(append(base, cert...), "now"), exitUsage, "unexpected argument"},
		{"unknown flag", append(append(base, cert...), "--force"), exitUsage, "force"},
		{"missing file", append(base, "--cert", c.path("nope.pem"), "--chain", c.path("ca.pem")), exitError, "no such file"},
		{"garbage certificate", append(base, "--cert", c.path("garbage.pem"), "--chain", c.path("ca.pem")), exitError, "not a valid X.509"},
		{"certificate and chain in one file", append(base, "--cert", c.path("bundle.pem"), "--chain", c.path("ca.pem")), exitError, "2 certificates where one was expected"},
		{"garbage chain", append(base, "--cert", c.path("renewed.pem"), "--chain", c.path("garbage.pem")), exitError, "not a valid X.509"},
		{"wrong chain", append(base, "--cert", c.path("renewed.pem"), "--chain", c.path("other-ca.der")), exitError, "does not chain"},
		{"other holder", append(base, "--cert", c.path("other-holder.der"), "--chain", c.path("ca.pem")), exitError, "another holder"},
		{"expired", append(base, "--cert", c.path("expired.der"), "--chain", c.path("ca.pem")), exitError, "expired"},
		{"other key pair", append(base, "--cert", c.path("other-key.der"), "--chain", c.path("ca.pem")), exitError, "public key does not match"},
		{"replace id of no certificate", append(append(base, "--replace-id", "ffff"), cert...), exitError, "no certificate on the token to replace"},
		{"unknown token", append([]string{"install-cert", "--module", c.env.Module, "--token", "0000000000000000", "--pin-file", c.path("pin"), "--journal", c.path("journal")}, cert...), exitNotFound, "no token"},
		{"pin from two places", append(append(base, "--pin-stdin"), cert...), exitUsage, "not both"},
		{"recover without token", []string{"recover", "--module", c.env.Module}, exitUsage, "--token"},
		{"recover with an argument", append(c.common("recover"), "all"), exitUsage, "unexpected argument"},
	}
	before := c.inventory(t).Certificates[0].Info.SHA256
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := c.ukeyctl(t, tc.args...)
			if code != tc.code || !strings.Contains(strings.ToLower(errOut), strings.ToLower(tc.msg)) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errOut, tc.code, tc.msg)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") > 0 && tc.code != exitUsage {
				t.Errorf("error is not one line: %q", errOut)
			}
		})
	}
	wrongPIN := []string{"install-cert", "--module", c.env.Module, "--token", c.serial, "--journal", c.path("journal"), "--pin-file", c.path("wrong-pin")}
	code, _, errOut := c.ukeyctl(t, append(wrongPIN, cert...)...)
	if code != exitPIN || !strings.Contains(errOut, "pin incorrect") {
		t.Fatalf("wrong PIN: exit %d: %s", code, errOut)
	}
	inv := c.inventory(t)
	if len(inv.Certificates) != 1 || inv.Certificates[0].Info.SHA256 != before || len(inv.PrivateKeys) != 1 {
		t.Fatal("a refused install changed the token")
	}
	if journals, _ := filepath.Glob(c.path("journal/*.json")); len(journals) != 0 {
		t.Fatalf("a refused install left journals: %v", journals)
	}
	// And the good certificate still installs.
	if code, _, errOut := c.ukeyctl(t, append(base, cert...)...); code != exitOK {
		t.Fatalf("install-cert: exit %d: %s", code, errOut)
	}
}
