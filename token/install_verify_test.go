package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/smx509"
)

func instParse(t testing.TB, der []byte) *smx509.Certificate {
	t.Helper()
	c, err := installParseOne(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInstallVerifyRefusesWrongCertificates(t *testing.T) {
	for _, kind := range []string{"ec", "rsa", "sm2"} {
		t.Run(kind, func(t *testing.T) {
			ca := newInstCA(t, kind, "Test CA "+kind)
			otherCA := newInstCA(t, kind, "Other CA "+kind)
			key := instNewKey(t, kind)
			other := instNewKey(t, kind)
			old := instParse(t, ca.issue(t, key.Public(), instHolder(), instNow.AddDate(-1, 0, -1), instNow.AddDate(0, 0, -1)))
			chain := []*smx509.Certificate{ca.cert}

			good := instParse(t, ca.renewal(t, key.Public()))
			if err := installVerify(good, old, key.Public(), chain, instNow); err != nil {
				t.Fatalf("a good renewal was refused: %v", err)
			}
			if kind == "sm2" && good.SignatureAlgorithm != smx509.SM2WithSM3 {
				t.Fatalf("SM2 test certificate signed with %v", good.SignatureAlgorithm)
			}

			otherHolder := instHolder()
			otherHolder.Organization = []string{"另一家公司"}
			otherPerson := instHolder()
			otherPerson.CommonName = "李四"
			otherCode := instHolder()
			otherCode.SerialNumber = "91440300MA5DYYYY0Y"
			changedOU := instHolder()
			changedOU.OrganizationalUnit = []string{"财务部"}

			cases := []struct {
				name string
				cert []byte
				key  any
				want error
			}{
				{"key of another pair", ca.renewal(t, other.Public()), key.Public(), ErrCertKeyMismatch},
				{"signed by another CA", otherCA.renewal(t, key.Public()), key.Public(), ErrCertChain},
				{"expired", ca.issue(t, key.Public(), instHolder(), instNow.AddDate(-1, 0, 0), instNow.AddDate(0, 0, -1)), key.Public(), ErrCertExpired},
				{"not valid yet", ca.issue(t, key.Public(), instHolder(), instNow.AddDate(0, 0, 1), instNow.AddDate(1, 0, 0)), key.Public(), ErrCertNotYetValid},
				{"another company", ca.issue(t, key.Public(), otherHolder, instNow, instNow.AddDate(1, 0, 0)), key.Public(), ErrHolderMismatch},
				{"another person", ca.issue(t, key.Public(), otherPerson, instNow, instNow.AddDate(1, 0, 0)), key.Public(), ErrHolderMismatch},
				{"another credit code", ca.issue(t, key.Public(), otherCode, instNow, instNow.AddDate(1, 0, 0)), key.Public(), ErrHolderMismatch},
				{"changed OU is the same holder", ca.issue(t, key.Public(), changedOU, instNow, instNow.AddDate(1, 0, 0)), key.Public(), nil},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					err := installVerify(instParse(t, c.cert), old, c.key, chain, instNow)
					if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
						t.Fatalf("got %v, want %v", err, c.want)
					}
				})
			}
			// A certificate that ends before the one on the token: an old
			// file picked by mistake.
			current := instParse(t, ca.issue(t, key.Public(), instHolder(), instNow.AddDate(0, 0, -30), instNow.AddDate(0, 0, 30)))
			older := instParse(t, ca.issue(t, key.Public(), instHolder(), instNow.AddDate(0, 0, -300), instNow.AddDate(0, 0, 29)))
			if err := installVerify(older, current, key.Public(), chain, instNow); !errors.Is(err, ErrCertNotNewer) {
				t.Fatalf("older certificate: got %v, want ErrCertNotNewer", err)
			}
			if err := installVerify(good, old, key.Public(), nil, instNow); !errors.Is(err, ErrCertChain) {
				t.Fatalf("no chain: got %v, want ErrCertChain", err)
			}
			if err := installVerify(good, old, key.Public(), []*smx509.Certificate{otherCA.cert}, instNow); !errors.Is(err, ErrCertChain) {
				t.Fatalf("wrong chain: got %v, want ErrCertChain", err)
			}
		})
	}
}

func TestParseCertificateInput(t *testing.T) {
	ca := newInstCA(t, "ec", "Test CA")
	key := instNewKey(t, "ec")
	leaf := ca.renewal(t, key.Public())
	pemOf := func(ders ...[]byte) []byte {
		var b bytes.Buffer
		for _, d := range ders {
			pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: d})
		}
		return b.Bytes()
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})

	good := map[string]struct {
		in []byte
		n  int
	}{
		"DER":                 {leaf, 1},
		"two DER":             {append(append([]byte{}, leaf...), ca.cert.Raw...), 2},
		"PEM":                 {pemOf(leaf), 1},
		"PEM chain":           {pemOf(leaf, ca.cert.Raw), 2},
		"PEM with a key":      {append(keyPEM, pemOf(leaf)...), 1},
		"PEM with text first": {append([]byte("Subject: x\n"), pemOf(leaf)...), 1},
	}
	for name, c := range good {
		certs, err := ParseCertificateInput(c.in)
		if err != nil || len(certs) != c.n {
			t.Errorf("%s: %d certificates, %v; want %d", name, len(certs), err, c.n)
		}
	}
	var many [][]byte
	for range installMaxChainCerts + 1 {
		many = append(many, leaf)
	}
	bad := map[string][]byte{
		"empty":            nil,
		"garbage":          []byte("hello"),
		"truncated DER":    leaf[:len(leaf)-10],
		"PEM without cert": keyPEM,
		"PEM bad body":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}),
		"too many":         pemOf(many...),
		"too large":        make([]byte, installMaxChainBytes+1),
	}
	for name, in := range bad {
		if _, err := ParseCertificateInput(in); !errors.Is(err, ErrCertUnparsable) {
			t.Errorf("%s: got %v, want ErrCertUnparsable", name, err)
		}
	}
	if _, err := installParseOne(pemOf(leaf, ca.cert.Raw)); !errors.Is(err, ErrCertUnparsable) {
		t.Errorf("two certificates where one is expected: %v", err)
	}
	if _, err := installParseOne(make([]byte, installMaxCertBytes+1)); !errors.Is(err, ErrCertUnparsable) {
		t.Errorf("oversized certificate file: %v", err)
	}
	// A certificate too large for a token (a bloated extension).
	tmpl := &smx509.Certificate{SerialNumber: big.NewInt(77), Subject: instHolder(), NotBefore: instNow, NotAfter: instNow.AddDate(1, 0, 0),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: make([]byte, MaxCertificateSize)}}}
	bloated, err := smx509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := installParseOne(bloated); !errors.Is(err, ErrCertUnparsable) {
		t.Errorf("certificate of %d bytes: %v", len(bloated), err)
	}
}

func TestInstallHolderKeyIgnoresOrderAndOtherAttributes(t *testing.T) {
	ca := newInstCA(t, "ec", "Test CA")
	key := instNewKey(t, "ec")
	a := instHolder()
	b := instHolder()
	b.Locality = []string{"深圳"}
	b.OrganizationalUnit = []string{"IT"}
	ca1 := instParse(t, ca.issue(t, key.Public(), a, instNow, instNow.AddDate(1, 0, 0)))
	ca2 := instParse(t, ca.issue(t, key.Public(), b, instNow, instNow.AddDate(1, 0, 0)))
	if installHolderKey(ca1) != installHolderKey(ca2) {
		t.Fatalf("holder keys differ: %s / %s", installHolderKey(ca1), installHolderKey(ca2))
	}
	c := pkix.Name{Country: []string{"CN"}, Organization: []string{"深圳市测试科技有限公司"}, CommonName: "张三"}
	ca3 := instParse(t, ca.issue(t, key.Public(), c, instNow, instNow.AddDate(1, 0, 0)))
	if installHolderKey(ca1) == installHolderKey(ca3) {
		t.Fatal("a subject without the credit code has the same holder key")
	}
}

func TestRekeyKeyPairType(t *testing.T) {
	rsa3072, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	cases := []struct {
		name  string
		asked KeyPairType
		old   crypto.PublicKey
		want  KeyPairType
		err   error
	}{
		{"as the old RSA-2048", "", instNewKey(t, "rsa").Public(), RSA2048, nil},
		{"as the old RSA-3072", "", rsa3072.Public(), RSA3072, nil},
		{"as the old P-256", "", instNewKey(t, "ec").Public(), ECP256, nil},
		{"as the old P-384", "", p384.Public(), ECP384, nil},
		{"asked for", ECP384, instNewKey(t, "rsa").Public(), ECP384, nil},
		{"SM2", "", instNewKey(t, "sm2").Public(), "", ErrUnsupported},
	}
	for _, c := range cases {
		got, err := rekeyKeyPairType(c.asked, c.old)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
	if _, err := rekeyKeyPairType("dsa-1024", nil); err == nil {
		t.Error("an unknown key type was accepted")
	}
}
