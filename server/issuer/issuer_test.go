package issuer_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// sign makes a possession signature the way a token would.
func sign(t *testing.T, key crypto.Signer, alg issuer.SigAlg, msg []byte) []byte {
	t.Helper()
	var sig []byte
	var err error
	switch alg {
	case issuer.SigRSAPKCS1SHA256:
		d := sha256.Sum256(msg)
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:])
	case issuer.SigRSAPSSSHA256:
		d := sha256.Sum256(msg)
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:], nil)
	case issuer.SigECDSASHA256:
		d := sha256.Sum256(msg)
		sig, err = ecdsa.SignASN1(rand.Reader, key.(*ecdsa.PrivateKey), d[:])
	case issuer.SigECDSASHA384:
		d := sha512.Sum384(msg)
		sig, err = ecdsa.SignASN1(rand.Reader, key.(*ecdsa.PrivateKey), d[:])
	case issuer.SigSM2SM3:
		sig, err = key.(*sm2.PrivateKey).SignWithSM2(rand.Reader, nil, msg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

type fixture struct {
	dir    string
	ca     *issuer.LocalCA
	holder crypto.Signer
	old    *smx509.Certificate
}

func newFixture(t *testing.T, alg issuer.KeyAlg, notBefore, notAfter time.Time) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := issuer.GenerateDevCA(dir, alg, now.AddDate(-2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	holder, err := issuer.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	subject := pkix.Name{Country: []string{"CN"}, Organization: []string{"深圳市测试科技有限公司"}, CommonName: "张三"}
	der, err := ca.IssueInitial(subject, holder.Public(), notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	old, err := smx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, ca: ca, holder: holder, old: old}
}

// verifyChain checks leaf against the dev root with an independent verifier:
// openssl for RSA and ECDSA, smx509 for SM2.
func verifyChain(t *testing.T, f *fixture, alg issuer.KeyAlg, leaf []byte) {
	t.Helper()
	if alg == issuer.SM2 {
		roots, inter := smx509.NewCertPool(), smx509.NewCertPool()
		chain := f.ca.Chain()
		root, _ := smx509.ParseCertificate(chain[len(chain)-1])
		roots.AddCert(root)
		ic, _ := smx509.ParseCertificate(chain[0])
		inter.AddCert(ic)
		c, err := smx509.ParseCertificate(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Verify(smx509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("smx509 verify: %v", err)
		}
		return
	}
	openssl := testenv.LookPath(t, "openssl")
	dir := t.TempDir()
	leafFile := filepath.Join(dir, "leaf.pem")
	interFile := filepath.Join(dir, "inter.pem")
	if err := os.WriteFile(leafFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(interFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.Chain()[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "verify", "-attime", strconv.FormatInt(now.Unix(), 10), "-CAfile", filepath.Join(f.dir, issuer.DevRootFile),
		"-untrusted", interFile, leafFile).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(": OK")) {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}

func algsFor(alg issuer.KeyAlg) []issuer.SigAlg {
	switch alg {
	case issuer.RSA:
		return []issuer.SigAlg{issuer.SigRSAPKCS1SHA256, issuer.SigRSAPSSSHA256}
	case issuer.ECDSA:
		return []issuer.SigAlg{issuer.SigECDSASHA256} // P-256 keys: the contract says SHA-256
	}
	return []issuer.SigAlg{issuer.SigSM2SM3}
}

func TestSameKeyRenewal(t *testing.T) {
	for _, alg := range []issuer.KeyAlg{issuer.RSA, issuer.ECDSA, issuer.SM2} {
		t.Run(string(alg), func(t *testing.T) {
			// Early renewal: 30 days left.
			f := newFixture(t, alg, now.AddDate(-1, 0, 0), now.AddDate(0, 0, 30))
			nonce, err := issuer.NewNonce()
			if err != nil {
				t.Fatal(err)
			}
			serial := renewal.NormalizeSerial(f.old.SerialNumber.Text(16))
			msg := renewal.SameKeyMessage("app-1", serial, nonce)
			for _, sa := range algsFor(alg) {
				sig := sign(t, f.holder, sa, msg)
				if err := issuer.VerifyProof(f.old.PublicKey, msg, sig); err != nil {
					t.Fatalf("%s: genuine proof refused: %v", sa, err)
				}
				// Another nonce or application, a flipped bit, or another key must fail.
				other, _ := issuer.NewNonce()
				if err := issuer.VerifyProof(f.old.PublicKey, renewal.SameKeyMessage("app-1", serial, other), sig); !errors.Is(err, issuer.ErrBadSignature) {
					t.Fatalf("%s: proof for another nonce accepted: %v", sa, err)
				}
				if err := issuer.VerifyProof(f.old.PublicKey, renewal.SameKeyMessage("app-2", serial, nonce), sig); !errors.Is(err, issuer.ErrBadSignature) {
					t.Fatalf("%s: proof for another application accepted: %v", sa, err)
				}
				bad := bytes.Clone(sig)
				bad[len(bad)/2] ^= 1
				if err := issuer.VerifyProof(f.old.PublicKey, msg, bad); !errors.Is(err, issuer.ErrBadSignature) {
					t.Fatalf("%s: tampered proof accepted: %v", sa, err)
				}
				stranger, _ := issuer.GenerateKey(alg)
				if err := issuer.VerifyProof(f.old.PublicKey, msg, sign(t, stranger, sa, msg)); !errors.Is(err, issuer.ErrBadSignature) {
					t.Fatalf("%s: proof by another key accepted: %v", sa, err)
				}
			}
			// An algorithm that does not fit the key is refused.
			wrong := issuer.SigECDSASHA256
			if alg == issuer.ECDSA {
				wrong = issuer.SigRSAPKCS1SHA256
			}
			if err := issuer.VerifySignature(f.old.PublicKey, wrong, msg, []byte{1, 2, 3}); !errors.Is(err, issuer.ErrBadSignature) {
				t.Fatalf("mismatched algorithm accepted: %v", err)
			}

			got, err := f.ca.Issue(context.Background(), issuer.Request{Old: f.old, Years: 2, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			c, err := smx509.ParseCertificate(got.DER)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.RawSubject, f.old.RawSubject) {
				t.Errorf("subject changed: %s -> %s", f.old.Subject, c.Subject)
			}
			if c.Subject.CommonName != "张三" {
				t.Errorf("holder name = %q", c.Subject.CommonName)
			}
			if c.SerialNumber.Cmp(f.old.SerialNumber) == 0 || c.SerialNumber.BitLen() != 127 {
				t.Errorf("serial %X (%d bits) not fresh", c.SerialNumber, c.SerialNumber.BitLen())
			}
			if want := f.old.NotAfter.AddDate(2, 0, 0); !c.NotAfter.Equal(want) {
				t.Errorf("early renewal ends %v, want %v (extends from old end)", c.NotAfter, want)
			}
			if c.NotBefore.After(now) {
				t.Errorf("not-before %v is after issuance %v", c.NotBefore, now)
			}
			oldPub, _ := smx509.MarshalPKIXPublicKey(f.old.PublicKey)
			newPub, _ := smx509.MarshalPKIXPublicKey(c.PublicKey)
			if !bytes.Equal(oldPub, newPub) {
				t.Error("same-key renewal changed the public key")
			}
			verifyChain(t, f, alg, got.DER)
		})
	}
}

func TestRekeyRenewal(t *testing.T) {
	for _, alg := range []issuer.KeyAlg{issuer.RSA, issuer.ECDSA, issuer.SM2} {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg, now.AddDate(-1, 0, 0), now.AddDate(0, 0, 10))
			newKey, err := issuer.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{Subject: pkix.Name{CommonName: "张三"}}, newKey)
			if err != nil {
				t.Fatal(err)
			}
			nonce, _ := issuer.NewNonce()
			sa := algsFor(alg)[len(algsFor(alg))-1]
			serial := renewal.NormalizeSerial(f.old.SerialNumber.Text(16))
			bindMsg := func(csr []byte) []byte { return renewal.RekeyBindingMessage("app-1", serial, nonce, csr) }
			binding := sign(t, f.holder, sa, bindMsg(csr))
			if err := issuer.VerifyRekey(f.old, csr, bindMsg(csr), binding, now); err != nil {
				t.Fatalf("genuine re-key refused: %v", err)
			}
			if err := issuer.VerifyRekey(f.old, csr, bindMsg(csr), nil, now); !errors.Is(err, issuer.ErrBindingRequired) {
				t.Fatalf("re-key without binding while old is valid: %v", err)
			}
			// After the old certificate ended, no binding is needed.
			if err := issuer.VerifyRekey(f.old, csr, bindMsg(csr), nil, f.old.NotAfter.Add(time.Hour)); err != nil {
				t.Fatalf("re-key of an expired certificate refused: %v", err)
			}
			// A binding made for another CSR does not carry over.
			otherKey, _ := issuer.GenerateKey(alg)
			csr2, _ := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{}, otherKey)
			if err := issuer.VerifyRekey(f.old, csr2, bindMsg(csr2), binding, now); !errors.Is(err, issuer.ErrBadSignature) {
				t.Fatalf("binding for another CSR accepted: %v", err)
			}
			bad := bytes.Clone(csr)
			bad[len(bad)-5] ^= 1
			if err := issuer.VerifyRekey(f.old, bad, bindMsg(bad), binding, now); !errors.Is(err, issuer.ErrBadCSR) {
				t.Fatalf("corrupt CSR: %v", err)
			}
			sameCSR, _ := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{}, f.holder)
			if err := issuer.VerifyRekey(f.old, sameCSR, bindMsg(sameCSR), nil, now); !errors.Is(err, issuer.ErrSameKey) {
				t.Fatalf("re-key with the old key: %v", err)
			}
			if _, err := f.ca.Issue(context.Background(), issuer.Request{Old: f.old, Years: 1, Now: now, CSR: sameCSR}); !errors.Is(err, issuer.ErrSameKey) {
				t.Fatalf("issue re-key with the old key: %v", err)
			}

			got, err := f.ca.Issue(context.Background(), issuer.Request{Old: f.old, Years: 1, Now: now, CSR: csr})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := smx509.ParseCertificate(got.DER)
			want, _ := smx509.MarshalPKIXPublicKey(newKey.Public())
			have, _ := smx509.MarshalPKIXPublicKey(c.PublicKey)
			if !bytes.Equal(want, have) {
				t.Error("re-keyed certificate does not carry the CSR's key")
			}
			if !bytes.Equal(c.RawSubject, f.old.RawSubject) {
				t.Error("re-key took the subject from the CSR instead of the old certificate")
			}
			verifyChain(t, f, alg, got.DER)
		})
	}
}

func TestLateRenewalStartsNow(t *testing.T) {
	f := newFixture(t, issuer.ECDSA, now.AddDate(-2, 0, 0), now.AddDate(0, 0, -10))
	got, err := f.ca.Issue(context.Background(), issuer.Request{Old: f.old, Years: 3, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if want := now.AddDate(3, 0, 0); !got.NotAfter.Equal(want) {
		t.Fatalf("late renewal ends %v, want %v", got.NotAfter, want)
	}
}

func TestIssueRefusesBadRequests(t *testing.T) {
	f := newFixture(t, issuer.ECDSA, now.AddDate(-1, 0, 0), now.AddDate(0, 0, 10))
	ctx := context.Background()
	for _, y := range []int{-1, 0, 4} {
		if _, err := f.ca.Issue(ctx, issuer.Request{Old: f.old, Years: y, Now: now}); !errors.Is(err, issuer.ErrBadYears) {
			t.Errorf("years %d: %v", y, err)
		}
	}
	if _, err := f.ca.Issue(ctx, issuer.Request{Old: f.old, Years: 1, Now: f.old.NotBefore.Add(-time.Hour)}); !errors.Is(err, issuer.ErrNotYetValid) {
		t.Errorf("not yet valid: %v", err)
	}
	if _, err := f.ca.Issue(ctx, issuer.Request{Years: 1, Now: now}); err == nil {
		t.Error("request without certificate accepted")
	}
	if _, err := f.ca.Issue(ctx, issuer.Request{Old: f.old, Years: 1, Now: now, CSR: []byte("junk")}); !errors.Is(err, issuer.ErrBadCSR) {
		t.Errorf("junk CSR: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.ca.Issue(cctx, issuer.Request{Old: f.old, Years: 1, Now: now}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := f.ca.IssueInitial(pkix.Name{CommonName: "x"}, weak.Public(), now, now.AddDate(1, 0, 0)); !errors.Is(err, issuer.ErrUnsupportedKey) {
		t.Errorf("RSA-1024: %v", err)
	}
	if err := issuer.VerifyProof(weak.Public(), []byte("m"), []byte{1}); !errors.Is(err, issuer.ErrUnsupportedKey) {
		t.Errorf("RSA-1024 proof: %v", err)
	}
	if err := issuer.VerifySignature(f.holder.Public(), issuer.SigECDSASHA256, []byte("m"), make([]byte, 2000)); !errors.Is(err, issuer.ErrBadSignature) {
		t.Errorf("oversized signature: %v", err)
	}
}

func TestLoadLocalCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := issuer.GenerateDevCA(dir, issuer.SM2, now)
	if err != nil {
		t.Fatal(err)
	}
	// A second start loads the same CA instead of making a new one.
	again, err := issuer.GenerateDevCA(dir, issuer.SM2, now)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.Chain()[0], again.Chain()[0]) || len(again.Chain()) != 2 {
		t.Fatal("dev CA was regenerated or chain incomplete")
	}
	keyFile := filepath.Join(dir, issuer.DevKeyFile)
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := issuer.LoadLocalCA(filepath.Join(dir, issuer.DevChainFile), keyFile); err == nil {
		t.Fatal("world-readable CA key accepted")
	}
	os.Chmod(keyFile, 0o600)
	// A key that does not match the certificate is refused.
	other := t.TempDir()
	if _, err := issuer.GenerateDevCA(other, issuer.SM2, now); err != nil {
		t.Fatal(err)
	}
	if _, err := issuer.LoadLocalCA(filepath.Join(dir, issuer.DevChainFile), filepath.Join(other, issuer.DevKeyFile)); err == nil {
		t.Fatal("mismatched CA key accepted")
	}
	// The root alone is not the issuing CA's chain file but is a CA: loading it with the wrong key fails too.
	if _, err := issuer.LoadLocalCA(filepath.Join(dir, "missing.pem"), keyFile); err == nil {
		t.Fatal("missing chain file accepted")
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not pem"), 0o600)
	if _, err := issuer.LoadLocalCA(junk, keyFile); err == nil {
		t.Fatal("junk chain accepted")
	}
	if _, err := issuer.LoadLocalCA(filepath.Join(dir, issuer.DevChainFile), junk); err == nil {
		t.Fatal("junk key accepted")
	}
}
