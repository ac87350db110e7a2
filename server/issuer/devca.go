package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/ukeyrenew/ukeyrenew/internal/atomicfile"
)

// KeyAlg names a key type for generated keys.
type KeyAlg string

// Key types the dev CA can generate.
const (
	RSA   KeyAlg = "rsa"   // RSA-2048
	ECDSA KeyAlg = "ecdsa" // P-256
	SM2   KeyAlg = "sm2"   // SM2 (GM/T 0003)
)

// GenerateKey makes a new private key of type alg.
func GenerateKey(alg KeyAlg) (crypto.Signer, error) {
	switch alg {
	case RSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	case ECDSA:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case SM2:
		return sm2.GenerateKey(rand.Reader)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedKey, alg)
}

// Dev CA file names inside the directory given to GenerateDevCA.
const (
	DevChainFile = "ca-chain.pem" // issuing CA, then root
	DevKeyFile   = "ca-key.pem"   // issuing CA key, mode 0600
	DevRootFile  = "ca-root.pem"  // root only: the trust anchor for verifiers
)

// GenerateDevCA writes a two-level development CA (a root and an issuing CA
// of type alg) into dir, unless one is there already, and loads it.
// The root key is thrown away: a dev CA is replaced, never rotated.
func GenerateDevCA(dir string, alg KeyAlg, now time.Time) (*LocalCA, error) {
	chainFile, keyFile := filepath.Join(dir, DevChainFile), filepath.Join(dir, DevKeyFile)
	if _, err := os.Stat(keyFile); err == nil {
		return LoadLocalCA(chainFile, keyFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("issuer: dev CA: %w", err)
	}
	rootKey, err := GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	caKey, err := GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	mk := func(cn string, years int, pub crypto.PublicKey, parent *smx509.Certificate, signer crypto.Signer) (*smx509.Certificate, error) {
		serial, err := NewSerial()
		if err != nil {
			return nil, err
		}
		tmpl := &smx509.Certificate{
			SerialNumber:          serial,
			Subject:               pkix.Name{Country: []string{"CN"}, Organization: []string{"UKey Renew 开发"}, CommonName: cn},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.AddDate(years, 0, 0),
			KeyUsage:              smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign | smx509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		if parent == nil {
			parent = tmpl
		}
		der, err := smx509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			return nil, err
		}
		return smx509.ParseCertificate(der)
	}
	root, err := mk(fmt.Sprintf("UKey Renew Dev Root CA (%s)", alg), 20, rootKey.Public(), nil, rootKey)
	if err != nil {
		return nil, fmt.Errorf("issuer: dev root: %w", err)
	}
	ca, err := mk(fmt.Sprintf("UKey Renew Dev Issuing CA (%s)", alg), 10, caKey.Public(), root, rootKey)
	if err != nil {
		return nil, fmt.Errorf("issuer: dev issuing CA: %w", err)
	}
	keyDER, err := smx509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		return nil, fmt.Errorf("issuer: dev CA key: %w", err)
	}
	chainPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})...)
	if err := writeFileAtomic(filepath.Join(dir, DevRootFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o644); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(chainFile, chainPEM, 0o644); err != nil {
		return nil, err
	}
	// The key last: its presence means the dev CA is complete.
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	return NewLocalCA(ca, caKey, [][]byte{root.Raw})
}

func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	if err := atomicfile.WriteFile(name, data, mode); err != nil {
		return fmt.Errorf("issuer: write %s: %w", name, err)
	}
	return nil
}
