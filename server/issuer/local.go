package issuer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// LocalCA issues certificates with a CA key held in process memory.
// It is safe for concurrent use.
type LocalCA struct {
	cert  *smx509.Certificate
	key   crypto.Signer
	chain [][]byte
}

// NewLocalCA returns an issuer that signs with key as cert. chain holds the
// DER certificates above cert up to the root (may be empty for a root CA).
func NewLocalCA(cert *smx509.Certificate, key crypto.Signer, chain [][]byte) (*LocalCA, error) {
	// No key usage extension at all allows every usage (RFC 5280 4.2.1.3).
	if !cert.IsCA || (cert.KeyUsage != 0 && cert.KeyUsage&smx509.KeyUsageCertSign == 0) {
		return nil, errors.New("issuer: certificate is not a CA allowed to sign certificates")
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("issuer: CA key does not match the CA certificate")
	}
	full := append([][]byte{cert.Raw}, chain...)
	return &LocalCA{cert: cert, key: key, chain: full}, nil
}

// LoadLocalCA reads a CA from files: chainFile holds PEM certificates, the
// issuing CA first and the root last; keyFile holds the issuing CA's private
// key in PEM (PKCS#8, SEC 1 or PKCS#1), readable by its owner only.
func LoadLocalCA(chainFile, keyFile string) (*LocalCA, error) {
	certs, err := readCertsPEM(chainFile)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		return nil, fmt.Errorf("issuer: CA key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("issuer: CA key %s is readable by group or others (mode %v): chmod 600 it", keyFile, fi.Mode().Perm())
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("issuer: CA key: %w", err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("issuer: CA key %s: %w", keyFile, err)
	}
	var chain [][]byte
	for _, c := range certs[1:] {
		chain = append(chain, c.Raw)
	}
	return NewLocalCA(certs[0], key, chain)
}

func readCertsPEM(file string) ([]*smx509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("issuer: CA chain: %w", err)
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("issuer: CA chain %s: %w", file, err)
	}
	return certs, nil
}

// ParseCertificatesPEM parses every CERTIFICATE block of data (RSA, ECDSA or SM2).
func ParseCertificatesPEM(data []byte) ([]*smx509.Certificate, error) {
	var certs []*smx509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := smx509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// ParsePrivateKeyPEM parses an unencrypted RSA, ECDSA or SM2 private key.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block found")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = smx509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = smx509.ParseTypedECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q (encrypted keys are not supported)", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, k)
	}
	return s, nil
}

// Chain implements Issuer.
func (ca *LocalCA) Chain() [][]byte { return ca.chain }

// Certificate is the issuing CA certificate.
func (ca *LocalCA) Certificate() *smx509.Certificate { return ca.cert }

// Issue implements Issuer.
func (ca *LocalCA) Issue(ctx context.Context, req Request) (*Issued, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.Old == nil {
		return nil, errors.New("issuer: no certificate to renew")
	}
	if req.Now.Before(req.Old.NotBefore) {
		return nil, ErrNotYetValid
	}
	notBefore, notAfter, err := Validity(req.Old, req.Now, req.Years)
	if err != nil {
		return nil, err
	}
	pub := req.Old.PublicKey
	if req.CSR != nil {
		if pub, err = ParseCSR(req.CSR); err != nil {
			return nil, err
		}
		if publicKeysEqual(pub, req.Old.PublicKey) {
			return nil, ErrSameKey
		}
	}
	if err := CheckKey(pub); err != nil {
		return nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, fmt.Errorf("issuer: serial: %w", err)
	}
	old := req.Old
	ku := old.KeyUsage
	if ku == 0 {
		ku = smx509.KeyUsageDigitalSignature
	}
	tmpl := &smx509.Certificate{
		SerialNumber:          serial,
		RawSubject:            old.RawSubject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           old.ExtKeyUsage,
		UnknownExtKeyUsage:    old.UnknownExtKeyUsage,
		DNSNames:              old.DNSNames,
		EmailAddresses:        old.EmailAddresses,
		IPAddresses:           old.IPAddresses,
		URIs:                  old.URIs,
		BasicConstraintsValid: true,
	}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issuer: sign certificate: %w", err)
	}
	return &Issued{DER: der, Serial: serial, NotBefore: notBefore, NotAfter: notAfter, Chain: ca.chain}, nil
}

// IssueInitial issues a first certificate for pub (dev mode and tests: the
// demo token's certificate, or certificates to renew).
func (ca *LocalCA) IssueInitial(subject pkix.Name, pub crypto.PublicKey, notBefore, notAfter time.Time) ([]byte, error) {
	if err := CheckKey(pub); err != nil {
		return nil, err
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &smx509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              smx509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	return smx509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
}

// ParseCSR parses a DER certificate request, checks its key (CheckKey,
// before any signature work) and its self-signature, and returns its
// public key.
func ParseCSR(der []byte) (crypto.PublicKey, error) {
	if len(der) == 0 || len(der) > MaxCSRSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadCSR, len(der))
	}
	csr, err := smx509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := CheckKey(csr.PublicKey); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	return csr.PublicKey, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	da, err1 := smx509.MarshalPKIXPublicKey(a)
	db, err2 := smx509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(da, db)
}
