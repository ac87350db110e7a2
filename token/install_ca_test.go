package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// instCA is a local certificate authority for the install tests: it signs
// the renewed certificates a real CA would return.
type instCA struct {
	cert   *smx509.Certificate
	key    crypto.Signer
	serial int64
}

// instNow is the tests' "now": every validity period is relative to it.
var instNow = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

func instNewKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "ec":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "sm2":
		k, err = sm2.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newInstCA makes a self-signed CA with a key of the given kind (ec, rsa, sm2).
func newInstCA(t testing.TB, kind, name string) *instCA {
	t.Helper()
	key := instNewKey(t, kind)
	tmpl := &smx509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"CN"}, Organization: []string{"测试CA"}, CommonName: name},
		NotBefore:             instNow.AddDate(-5, 0, 0),
		NotAfter:              instNow.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign,
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &instCA{cert: c, key: key, serial: 100}
}

// instHolder is the holder of the test certificates: a Chinese company.
func instHolder() pkix.Name {
	return pkix.Name{
		Country:      []string{"CN"},
		Organization: []string{"深圳市测试科技有限公司"},
		CommonName:   "张三",
		SerialNumber: "91440300MA5DXXXX0X",
	}
}

// issue signs a certificate for pub, valid from notBefore to notAfter.
func (ca *instCA) issue(t testing.TB, pub crypto.PublicKey, subject pkix.Name, notBefore, notAfter time.Time) []byte {
	t.Helper()
	ca.serial++
	tmpl := &smx509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     smx509.KeyUsageDigitalSignature | smx509.KeyUsageContentCommitment,
		ExtKeyUsage:  []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth, smx509.ExtKeyUsageEmailProtection},
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// renewal issues the usual renewed certificate: same holder, valid from a day
// ago for a year (and a few minutes more with every certificate, so that
// each renewal outlasts the one before).
func (ca *instCA) renewal(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	return ca.issue(t, pub, instHolder(), instNow.AddDate(0, 0, -1), ca.nextEnd())
}

// nextEnd is a year from instNow plus one minute per certificate issued.
func (ca *instCA) nextEnd() time.Time {
	return instNow.AddDate(1, 0, 0).Add(time.Duration(ca.serial) * time.Minute)
}
