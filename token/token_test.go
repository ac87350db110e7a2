package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
)

const (
	soPIN   = "12345678"
	userPIN = "1111"
)

// openEnv makes a private SoftHSM2 with the named tokens and opens the module.
func openEnv(t *testing.T, labels ...string) (*softhsmtest.Env, *Module, []string) {
	t.Helper()
	env := softhsmtest.New(t)
	var serials []string
	for _, l := range labels {
		serials = append(serials, env.InitToken(t, l, soPIN, userPIN))
	}
	m, err := OpenModule(env.Module)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return env, m, serials
}

func openToken(t *testing.T, m *Module, serial string) *Token {
	t.Helper()
	tok, err := m.Open(context.Background(), serial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tok.Close(); err != nil {
			t.Error(err)
		}
	})
	return tok
}

func login(t *testing.T, tok *Token) {
	t.Helper()
	if err := tok.Login(context.Background(), []byte(userPIN)); err != nil {
		t.Fatal(err)
	}
}

// selfSign makes a certificate for s's key, signed on the token.
func selfSign(t testing.TB, s crypto.Signer, cn string, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"测试机构"}},
		NotBefore:    notAfter.Add(-365 * 24 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestTokensEnumeratesBySerial(t *testing.T) {
	_, m, serials := openEnv(t, "alpha", "beta", "gamma")
	got, err := m.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d tokens, want 3 (uninitialised slot must be skipped): %+v", len(got), got)
	}
	labels := map[string]string{}
	for _, ti := range got {
		labels[ti.Serial] = ti.Label
		if ti.LabelEncoding != "utf-8" || ti.Model == "" || ti.Manufacturer == "" || !ti.PIN.Set {
			t.Errorf("token info incomplete: %+v", ti)
		}
	}
	for i, l := range []string{"alpha", "beta", "gamma"} {
		if labels[serials[i]] != l {
			t.Errorf("serial %s: label %q, want %q", serials[i], labels[serials[i]], l)
		}
	}
	if _, err := m.Open(context.Background(), "nosuchserial"); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("open unknown serial: %v, want ErrTokenNotFound", err)
	}
}

func TestKeysCSRAndCertificate(t *testing.T) {
	for _, kt := range []KeyPairType{ECP256, RSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			_, m, serials := openEnv(t, "keys")
			tok := openToken(t, m, serials[0])
			login(t, tok)
			ctx := context.Background()
			s, err := tok.GenerateKeyPair(ctx, KeySpec{Type: kt, ID: []byte{1, 2, 3}, Label: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			csr, err := CreateCSR(ctx, s, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "张三"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x509.ParseCertificateRequest(csr); err != nil {
				t.Fatal(err)
			}
			der := selfSign(t, s, "张三", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			c, err := tok.WriteCertificate(ctx, CertificateSpec{DER: der, ID: []byte{1, 2, 3}, Label: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: der, ID: []byte{1, 2, 3}, Label: "k1"}); !errors.Is(err, ErrCertificateExists) {
				t.Errorf("second write: %v, want ErrCertificateExists", err)
			}
			inv, err := tok.Objects(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Certificates) != 1 || !inv.Certificates[0].HasKey() || inv.Certificates[0].PublicKey == nil {
				t.Fatalf("inventory: %+v", inv)
			}
			if len(inv.OrphanKeys) != 0 || len(inv.Ghosts) != 0 {
				t.Errorf("orphans %v ghosts %v", inv.OrphanKeys, inv.Ghosts)
			}
			if inv.Certificates[0].Handle != c.Handle {
				t.Errorf("handle %d, want %d", inv.Certificates[0].Handle, c.Handle)
			}
			if !inv.PrivateKeys[0].Sensitive || !inv.PrivateKeys[0].NoExtract {
				t.Errorf("private key not sensitive/non-extractable: %+v", inv.PrivateKeys[0])
			}
			s2, err := tok.Signer(ctx, []byte{1, 2, 3})
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte("x"))
			if _, err := s2.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
				t.Fatal(err)
			}
		})
	}
}
