package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeysCrossChecked generates each key type on the token, signs a CSR
// and a certificate there, and has pkcs11-tool, p11tool and openssl check
// what was written.
func TestKeysCrossChecked(t *testing.T) {
	types := []KeyPairType{ECP256, ECP384, RSA2048}
	if !testing.Short() {
		types = append(types, RSA3072)
	}
	env, m, serials := openEnv(t, "cross")
	ctx := context.Background()
	tok := openToken(t, m, serials[0])
	login(t, tok)
	dir := t.TempDir()

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "测试 CA", Organization: []string{"测试 CA"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", caDER)

	for i, kt := range types {
		t.Run(string(kt), func(t *testing.T) {
			id := []byte{0xa0, byte(i)}
			label := "key " + string(kt)
			s, err := tok.GenerateKeyPair(ctx, KeySpec{Type: kt, ID: id, Label: label})
			if err != nil {
				t.Fatal(err)
			}
			// CSR signed on the token, verified by openssl.
			csr, err := CreateCSR(ctx, s, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "张三", Organization: []string{"某某公司"}}})
			if err != nil {
				t.Fatal(err)
			}
			csrFile := filepath.Join(dir, string(kt)+".csr")
			writePEM(t, csrFile, "CERTIFICATE REQUEST", csr)
			if out := env.OpenSSL(t, dir, "req", "-in", csrFile, "-noout", "-verify"); !strings.Contains(out, "verify OK") {
				t.Errorf("openssl req -verify: %s", out)
			}
			if _, isRSA := s.Public().(*rsa.PublicKey); isRSA {
				pss, err := CreateCSR(ctx, s, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "pss"}, SignatureAlgorithm: x509.SHA256WithRSAPSS})
				if err != nil {
					t.Fatal(err)
				}
				pssFile := filepath.Join(dir, string(kt)+"-pss.csr")
				writePEM(t, pssFile, "CERTIFICATE REQUEST", pss)
				if out := env.OpenSSL(t, dir, "req", "-in", pssFile, "-noout", "-verify", "-text"); !strings.Contains(out, "verify OK") || !strings.Contains(out, "rsassaPss") {
					t.Errorf("openssl on the PSS request: %s", out)
				}
			}
			parsed, _ := x509.ParseCertificateRequest(csr)
			// A certificate from the CA for the token key, written to the token.
			leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(100 + i)), Subject: parsed.Subject,
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(12 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
			leaf, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, parsed.PublicKey, caKey)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: leaf, ID: id, Label: label}); err != nil {
				t.Fatal(err)
			}
			// pkcs11-tool reads the keys and the certificate back.
			out := env.PKCS11Tool(t, serials[0], "--login", "--pin", userPIN, "--list-objects", "--id", "a00"+string(rune('0'+i)))
			for _, want := range []string{"Private Key Object", "Public Key Object", "Certificate Object", `label:      ` + label,
				"ID:         a00" + string(rune('0'+i)), "sensitive", "never extractable", "Usage:      sign"} {
				if !strings.Contains(out, want) {
					t.Errorf("pkcs11-tool output lacks %q:\n%s", want, out)
				}
			}
			certFile := filepath.Join(dir, string(kt)+".der")
			env.PKCS11Tool(t, serials[0], "--read-object", "--type", "cert", "--id", "a00"+string(rune('0'+i)), "--output-file", certFile)
			if out := env.OpenSSL(t, dir, "verify", "-CAfile", "ca.pem", certFile); !strings.Contains(out, ": OK") {
				t.Errorf("openssl verify: %s", out)
			}
			if got, _ := os.ReadFile(certFile); string(got) != string(leaf) {
				t.Error("certificate read by pkcs11-tool differs from the one written")
			}
			// The token's signature over a digest verifies in software.
			sum := sha256.Sum256([]byte("hello"))
			sig, err := s.Sign(rand.Reader, sum[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			switch pub := s.Public().(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, sum[:], sig) {
					t.Error("ECDSA signature does not verify")
				}
			case *rsa.PublicKey:
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
					t.Error(err)
				}
				if s.pss {
					sum := sha512.Sum384([]byte("hello"))
					sig, err := s.Sign(rand.Reader, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA384})
					if err != nil {
						t.Fatal(err)
					}
					if err := rsa.VerifyPSS(pub, crypto.SHA384, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
						t.Errorf("PSS: %v", err)
					}
				} else {
					t.Error("SoftHSM2 offers CKM_RSA_PKCS_PSS but the signer did not see it")
				}
			}
		})
	}
	// p11tool lists every certificate written, by label.
	out := env.P11Tool(t, "--list-all-certs", "pkcs11:serial="+serials[0])
	for _, kt := range types {
		if !strings.Contains(out, "key "+string(kt)) {
			t.Errorf("p11tool does not list %s:\n%s", kt, out)
		}
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestKeysBadInput(t *testing.T) {
	_, m, serials := openEnv(t, "bad")
	ctx := context.Background()
	tok := openToken(t, m, serials[0])
	if _, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256}); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("keygen without login: %v", err)
	}
	login(t, tok)
	bad := []KeySpec{
		{Type: "dsa-1024"},
		{Type: ""},
		{Type: ECP256, ID: make([]byte, MaxIDLen+1)},
		{Type: ECP256, Label: strings.Repeat("x", MaxLabelLen+1)},
	}
	for _, spec := range bad {
		if _, err := tok.GenerateKeyPair(ctx, spec); err == nil {
			t.Errorf("%+v accepted", spec)
		}
	}
	if _, err := tok.Signer(ctx, nil); err == nil {
		t.Error("signer with empty id accepted")
	}
	if _, err := tok.Signer(ctx, []byte{9, 9}); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("signer for missing key: %v", err)
	}
	s, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, Label: "random id"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ID()) != 20 {
		t.Errorf("default id is %d bytes", len(s.ID()))
	}
	if _, err := s.Sign(rand.Reader, []byte("short"), crypto.SHA256); err == nil {
		t.Error("digest of the wrong length accepted")
	}
	if _, err := s.Sign(rand.Reader, make([]byte, 32), nil); err == nil {
		t.Error("nil options accepted")
	}
	if _, err := s.Sign(rand.Reader, make([]byte, 32), &rsa.PSSOptions{Hash: crypto.SHA256}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("PSS with an EC key: %v", err)
	}
	if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: []byte("junk")}); err == nil {
		t.Error("junk certificate accepted")
	}
	if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: make([]byte, MaxCertificateSize+1)}); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("huge certificate: %v", err)
	}
	if err := tok.SetLabel(ctx, s.Handle(), strings.Repeat("x", MaxLabelLen+1)); err == nil {
		t.Error("long label accepted")
	}
	if err := tok.SetLabel(ctx, s.Handle(), "renamed"); err != nil {
		t.Error(err)
	}
	if err := tok.Destroy(ctx, s.Handle()); err != nil {
		t.Fatal(err)
	}
	if err := tok.Destroy(ctx, s.Handle()); !errors.Is(err, ErrObjectNotFound) {
		t.Errorf("destroy twice: %v", err)
	}
	if _, err := tok.ReadCertificate(ctx, s.PublicHandle()); err == nil {
		t.Error("public key read as a certificate")
	}
	for in, want := range map[string]KeyPairType{"p256": ECP256, "ec-p384": ECP384, "rsa3072": RSA3072} {
		if got, err := ParseKeyPairType(in); got != want || err != nil {
			t.Errorf("ParseKeyPairType(%q) = %q, %v", in, got, err)
		}
	}
}

func TestClosedToken(t *testing.T) {
	_, m, serials := openEnv(t, "closed")
	ctx := context.Background()
	tok, err := m.Open(ctx, serials[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tok.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := tok.Certificates(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("certificates after close: %v", err)
	}
	if _, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256}); !errors.Is(err, ErrClosed) {
		t.Errorf("keygen after close: %v", err)
	}
}

// TestConcurrentUse signs and lists from several goroutines on one Token: the
// session mutex must keep one operation at a time (the module would answer
// CKR_OPERATION_ACTIVE otherwise).
func TestConcurrentUse(t *testing.T) {
	_, m, serials := openEnv(t, "busy")
	ctx := context.Background()
	tok := openToken(t, m, serials[0])
	login(t, tok)
	s, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{7}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 64)
	for g := range 8 {
		go func() {
			for i := range 5 {
				sum := sha256.Sum256([]byte{byte(g), byte(i)})
				sig, err := s.Sign(rand.Reader, sum[:], crypto.SHA256)
				if err == nil && !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), sum[:], sig) {
					err = errors.New("bad signature")
				}
				if err == nil {
					_, err = tok.Objects(ctx)
				}
				errs <- err
			}
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
