package token

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

const (
	instSOPIN   = "87654321"
	instUserPIN = "246810"
	instLabel   = "张三的签名证书"
	// instTokenLabel names the test token for pkcs11-tool (--token-label).
	instTokenLabel = "UKey Renew test"
)

// instFixture is a SoftHSM2 token holding a clerk's certificate that is
// about to expire, its key pair, and a local CA that renews it.
type instFixture struct {
	env     *softhsmtest.Env
	mod     *Module
	tok     *Token
	serial  string
	ca      *instCA
	chain   []*smx509.Certificate
	journal *Journal
	oldID   []byte
	oldDER  []byte
}

// newInstFixture makes the token with a key pair of the given type and a
// certificate for it from a CA with a key of caKind.
func newInstFixture(t testing.TB, kt KeyPairType, caKind string) *instFixture {
	t.Helper()
	f := &instFixture{env: softhsmtest.New(t)}
	f.serial = f.env.InitToken(t, instTokenLabel, instSOPIN, instUserPIN)
	m, err := OpenModule(f.env.Module)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f.mod = m
	f.tok = instOpen(t, m, f.serial)
	f.ca = newInstCA(t, caKind, "UKey Renew Test CA")
	f.chain = []*smx509.Certificate{f.ca.cert}
	if f.journal, err = OpenJournal(filepath.Join(t.TempDir(), "journal"), nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f.oldID = []byte{0x0a, 0x01}
	s, err := f.tok.GenerateKeyPair(ctx, KeySpec{Type: kt, ID: f.oldID, Label: instLabel})
	if err != nil {
		t.Fatal(err)
	}
	f.oldDER = f.ca.issue(t, s.Public(), instHolder(), instNow.AddDate(-1, 0, 0), instNow.AddDate(0, 0, 10))
	if _, err := f.tok.WriteCertificate(ctx, CertificateSpec{DER: f.oldDER, ID: f.oldID, Label: instLabel}); err != nil {
		t.Fatal(err)
	}
	return f
}

func instOpen(t testing.TB, m *Module, serial string) *Token {
	t.Helper()
	tok, err := m.Open(context.Background(), serial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	if err := tok.Login(context.Background(), []byte(instUserPIN)); err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *instFixture) request(mode InstallMode, cert []byte) InstallRequest {
	return InstallRequest{Mode: mode, Cert: cert, Chain: f.chain, Journal: f.journal, Now: func() time.Time { return instNow }}
}

// issuer is the CA as a CertificateIssuer: it checks the CSR and signs a
// certificate for its key with its subject.
func (f *instFixture) issuer(t testing.TB) CertificateIssuer {
	return IssuerFunc(func(ctx context.Context, csrDER []byte) ([]byte, error) {
		csr, err := x509.ParseCertificateRequest(csrDER)
		if err != nil {
			return nil, err
		}
		if err := csr.CheckSignature(); err != nil {
			return nil, err
		}
		return f.ca.issueRaw(t, csr.PublicKey, csr.RawSubject, instNow.AddDate(0, 0, -1), f.ca.nextEnd()), nil
	})
}

// state is the token's objects, in words, for assertions.
type instState struct {
	certs, privs, pubs, ghosts, orphans int
	cert                                *Certificate
}

func (f *instFixture) state(t testing.TB) instState {
	t.Helper()
	inv, err := f.tok.Objects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := instState{certs: len(inv.Certificates), privs: len(inv.PrivateKeys), pubs: len(inv.PublicKeys), ghosts: len(inv.Ghosts), orphans: len(inv.OrphanKeys)}
	if len(inv.Certificates) == 1 {
		s.cert = inv.Certificates[0]
	}
	return s
}

// assertOneUsable checks the invariant of every install and recovery: one
// certificate, for the holder, with its key pair, nothing else, no journal.
func (f *instFixture) assertOneUsable(t testing.TB) *Certificate {
	t.Helper()
	s := f.state(t)
	if s.certs != 1 || s.privs != 1 || s.pubs != 1 || s.ghosts != 0 || s.orphans != 0 {
		t.Fatalf("token holds %d certificates, %d private keys, %d public keys, %d ghosts, %d orphans; want 1,1,1,0,0", s.certs, s.privs, s.pubs, s.ghosts, s.orphans)
	}
	if !s.cert.HasKey() || s.cert.Info == nil {
		t.Fatal("the certificate on the token is not usable (no key or does not parse)")
	}
	if s.cert.Label != instLabel || s.cert.PrivateKey.Label != instLabel || s.cert.PublicKey.Label != instLabel {
		t.Fatalf("labels %q / %q / %q, want %q", s.cert.Label, s.cert.PrivateKey.Label, s.cert.PublicKey.Label, instLabel)
	}
	if s.cert.Info.Subject.Organization != "深圳市测试科技有限公司" {
		t.Fatalf("certificate for %q", s.cert.Info.Subject.DN)
	}
	if e, err := f.journal.Load(f.serial); e != nil || err != nil {
		t.Fatalf("journal left: %+v, %v", e, err)
	}
	return s.cert
}

func (ca *instCA) issueRaw(t testing.TB, pub any, rawSubject []byte, notBefore, notAfter time.Time) []byte {
	t.Helper()
	ca.serial++
	tmpl := &smx509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		RawSubject:   rawSubject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
		ExtKeyUsage:  []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth},
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestInstallSameKey(t *testing.T) {
	for _, kt := range []KeyPairType{ECP256, RSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			f := newInstFixture(t, kt, "ec")
			ctx := context.Background()
			old := f.assertOneUsable(t)
			renewed := f.ca.renewal(t, old.Info.PublicKey)
			res, err := Install(ctx, f.tok, f.request(SameKey, renewed))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != "installed" || !bytes.Equal(res.OldID, f.oldID) || !bytes.Equal(res.NewID, f.oldID) || res.Label != instLabel {
				t.Fatalf("result %+v", res)
			}
			got := f.assertOneUsable(t)
			if !bytes.Equal(got.Info.Raw, renewed) || !bytes.Equal(got.ID, f.oldID) {
				t.Fatal("the token does not hold the renewed certificate under the old CKA_ID")
			}
			if res.New.NotAfter != instParse(t, renewed).NotAfter || res.Replaced.NotAfter != instNow.AddDate(0, 0, 10) {
				t.Fatalf("result dates: new %v, replaced %v", res.New.NotAfter, res.Replaced.NotAfter)
			}
			f.crossCheck(t, got)
			// The same certificate again is refused, and changes nothing.
			if _, err := Install(ctx, f.tok, f.request(SameKey, renewed)); !errors.Is(err, ErrAlreadyInstalled) {
				t.Fatalf("second install: %v, want ErrAlreadyInstalled", err)
			}
			f.assertOneUsable(t)
		})
	}
}

func TestInstallRekey(t *testing.T) {
	for _, kt := range []KeyPairType{ECP256, RSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			f := newInstFixture(t, kt, "rsa")
			ctx := context.Background()
			req := f.request(Rekey, nil)
			req.Issuer = f.issuer(t)
			res, err := Install(ctx, f.tok, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != "installed" || !bytes.Equal(res.OldID, f.oldID) || bytes.Equal(res.NewID, f.oldID) || len(res.NewID) != 20 || res.KeyType != kt {
				t.Fatalf("result %+v", res)
			}
			got := f.assertOneUsable(t)
			if !bytes.Equal(got.ID, res.NewID) || !bytes.Equal(got.PrivateKey.ID, res.NewID) {
				t.Fatalf("certificate id %x, key id %x, want the new id %x", got.ID, got.PrivateKey.ID, res.NewID)
			}
			if got.Info.SHA256 != res.New.SHA256 || got.Info.Subject.CommonName != "张三" {
				t.Fatalf("installed %+v", got.Info)
			}
			// The new key signs: the key pair is complete.
			s, err := f.tok.Signer(ctx, res.NewID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := CreateCSR(ctx, s, &x509.CertificateRequest{RawSubject: got.Info.RawSubject}); err != nil {
				t.Fatal(err)
			}
			f.crossCheck(t, got)
		})
	}
}

// crossCheck reads the token with independent tools: pkcs11-tool and p11tool
// see exactly one certificate with the expected label and id, and openssl
// verifies the certificate pkcs11-tool reads back against the CA.
func (f *instFixture) crossCheck(t testing.TB, c *Certificate) {
	t.Helper()
	list := f.pkcs11Tool(t, "--login", "--pin", instUserPIN, "--list-objects")
	if n := strings.Count(list, "Certificate Object"); n != 1 {
		t.Fatalf("pkcs11-tool sees %d certificates:\n%s", n, list)
	}
	if n := strings.Count(list, "Private Key Object"); n != 1 {
		t.Fatalf("pkcs11-tool sees %d private keys:\n%s", n, list)
	}
	if n := strings.Count(list, "Public Key Object"); n != 1 {
		t.Fatalf("pkcs11-tool sees %d public keys:\n%s", n, list)
	}
	if n := strings.Count(list, "ID:         "+hex.EncodeToString(c.ID)); n != 3 {
		t.Fatalf("pkcs11-tool sees id %x on %d objects, want 3:\n%s", c.ID, n, list)
	}
	if !strings.Contains(list, instLabel) {
		t.Fatalf("pkcs11-tool does not show the label %q:\n%s", instLabel, list)
	}
	p11tool := testenv.LookPath(t, "p11tool")
	certs := string(f.env.Run(t, p11tool, "--provider", f.env.Module, "--list-all-certs", "pkcs11:serial="+f.serial))
	if n := strings.Count(certs, "Type: X.509 Certificate"); n != 1 {
		t.Fatalf("p11tool sees %d certificates:\n%s", n, certs)
	}
	dir := t.TempDir()
	der := filepath.Join(dir, "cert.der")
	f.pkcs11Tool(t, "--read-object", "--type", "cert", "--id", hex.EncodeToString(c.ID), "--output-file", der)
	back, err := os.ReadFile(der)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, c.Info.Raw) {
		t.Fatal("pkcs11-tool reads back other bytes than the installed certificate")
	}
	caFile := filepath.Join(dir, "ca.pem")
	leaf := filepath.Join(dir, "leaf.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.cert.Raw}), 0o600)
	os.WriteFile(leaf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: back}), 0o600)
	openssl := testenv.LookPath(t, "openssl")
	// The test certificates live at instNow; have openssl judge them then.
	out, err := exec.Command(openssl, "verify", "-attime", strconv.FormatInt(instNow.Unix(), 10), "-CAfile", caFile, leaf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}

// pkcs11Tool runs pkcs11-tool on the fixture's token, named by its label.
func (f *instFixture) pkcs11Tool(t testing.TB, args ...string) string {
	t.Helper()
	tool := testenv.LookPath(t, "pkcs11-tool")
	return string(f.env.Run(t, tool, append([]string{"--module", f.env.Module, "--token-label", instTokenLabel}, args...)...))
}

// TestInstallRenewsAnExpiredCertificate: CAs renew up to a year after
// expiry (the default renewal policy); the expired certificate on the token is replaced
// like any other.
func TestInstallRenewsAnExpiredCertificate(t *testing.T) {
	f := newInstFixture(t, ECP256, "ec")
	ctx := context.Background()
	later := instNow.AddDate(0, 6, 0) // the old certificate expired 170 days ago
	old := f.assertOneUsable(t)
	renewed := f.ca.issue(t, old.Info.PublicKey, instHolder(), later.AddDate(0, 0, -1), later.AddDate(1, 0, 0))
	req := f.request(SameKey, renewed)
	req.Now = func() time.Time { return later }
	if _, err := Install(ctx, f.tok, req); err != nil {
		t.Fatal(err)
	}
	if got := f.assertOneUsable(t); !bytes.Equal(got.Info.Raw, renewed) {
		t.Fatal("the renewed certificate is not in place")
	}
}

// TestInstallCertificateUnderAnotherID: some vendor tools write the
// certificate under another CKA_ID than its key pair (matched by public
// key). Both modes renew it, and a re-key removes that old pair too.
func TestInstallCertificateUnderAnotherID(t *testing.T) {
	for _, mode := range []InstallMode{SameKey, Rekey} {
		t.Run(string(mode), func(t *testing.T) {
			f := newInstFixture(t, ECP256, "ec")
			ctx := context.Background()
			s, err := f.tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{0xb0}, Label: "vendor"})
			if err != nil {
				t.Fatal(err)
			}
			certID := []byte{0xa0}
			old := f.ca.issue(t, s.Public(), instHolder(), instNow.AddDate(-1, 0, 0), instNow.AddDate(0, 0, 5))
			if _, err := f.tok.WriteCertificate(ctx, CertificateSpec{DER: old, ID: certID, Label: "vendor"}); err != nil {
				t.Fatal(err)
			}
			req := f.request(mode, nil)
			req.ReplaceID = certID
			if mode == SameKey {
				req.Cert = f.ca.renewal(t, s.Public())
			} else {
				req.Issuer = f.issuer(t)
			}
			res, err := Install(ctx, f.tok, req)
			if err != nil {
				t.Fatal(err)
			}
			inv, err := f.tok.Objects(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Certificates) != 2 || len(inv.OrphanKeys)+len(inv.Ghosts) != 0 || len(inv.PrivateKeys) != 2 {
				t.Fatalf("after the install: %d certificates, %d private keys, %d orphans, %d ghosts",
					len(inv.Certificates), len(inv.PrivateKeys), len(inv.OrphanKeys), len(inv.Ghosts))
			}
			for _, c := range inv.Certificates {
				if !c.HasKey() {
					t.Fatalf("certificate %x has no key", c.ID)
				}
				if bytes.Equal(c.ID, res.NewID) && c.Info.SHA256 != res.New.SHA256 {
					t.Fatal("the new certificate is not the installed one")
				}
			}
			for _, k := range inv.PrivateKeys {
				if mode == Rekey && bytes.Equal(k.ID, []byte{0xb0}) {
					t.Fatal("the re-key left the old key pair")
				}
			}
		})
	}
}
