package token

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// Reasons an install refuses a certificate. Each is returned wrapped with the
// details (errors.Is tests them); nothing has been written to the token when
// one of them comes back from Install.
var (
	ErrCertUnparsable   = errors.New("not a valid X.509 certificate")
	ErrCertKeyMismatch  = errors.New("the certificate's public key does not match the key pair on the token")
	ErrCertChain        = errors.New("the certificate does not chain to the given issuer")
	ErrCertExpired      = errors.New("the certificate has expired")
	ErrCertNotYetValid  = errors.New("the certificate is not valid yet")
	ErrHolderMismatch   = errors.New("the certificate is for another holder")
	ErrCertNotNewer     = errors.New("the certificate does not last longer than the one on the token")
	ErrAlreadyInstalled = errors.New("the certificate is already on the token")
	ErrReadBackMismatch = errors.New("the certificate read back from the token differs from the one written")
)

// Install input limits.
const (
	installMaxCertBytes  = 64 << 10 // one certificate file (PEM); real ones are 1–3 KiB
	installMaxChainBytes = 1 << 20  // the issuer chain file
	installMaxChainCerts = 16
)

// ParseCertificateInput reads one or more certificates, PEM ("CERTIFICATE"
// blocks) or DER (one or several concatenated). RSA, ECDSA and SM2
// certificates are parsed with gmsm's smx509.
func ParseCertificateInput(data []byte) ([]*smx509.Certificate, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrCertUnparsable)
	}
	if len(data) > installMaxChainBytes {
		return nil, fmt.Errorf("%w: input larger than %d bytes", ErrCertUnparsable, installMaxChainBytes)
	}
	var certs []*smx509.Certificate
	if bytes.Contains(data, []byte("-----BEGIN")) {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue // keys, parameters: not ours to read
			}
			c, err := smx509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: PEM block %d: %w", ErrCertUnparsable, len(certs)+1, err)
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("%w: no CERTIFICATE block in the PEM input", ErrCertUnparsable)
		}
	} else {
		cs, err := smx509.ParseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCertUnparsable, err)
		}
		certs = cs
	}
	if len(certs) > installMaxChainCerts {
		return nil, fmt.Errorf("%w: %d certificates, at most %d", ErrCertUnparsable, len(certs), installMaxChainCerts)
	}
	return certs, nil
}

// installParseOne reads exactly one certificate (PEM or DER).
func installParseOne(data []byte) (*smx509.Certificate, error) {
	if len(data) > installMaxCertBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCertUnparsable, installMaxCertBytes)
	}
	certs, err := ParseCertificateInput(data)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%w: %d certificates where one was expected (give the renewed certificate alone, and its issuers as the chain)", ErrCertUnparsable, len(certs))
	}
	if len(certs[0].Raw) > MaxCertificateSize {
		return nil, fmt.Errorf("%w: %d bytes of DER, a token takes at most %d", ErrCertUnparsable, len(certs[0].Raw), MaxCertificateSize)
	}
	return certs[0], nil
}

// Subject attributes that name the holder. A renewed certificate must carry
// the same values (it may change others, such as OU or the address).
var installHolderOIDs = []asn1.ObjectIdentifier{
	{2, 5, 4, 6},  // C
	{2, 5, 4, 10}, // O
	{2, 5, 4, 3},  // CN
	{2, 5, 4, 5},  // serialNumber: often the unified social credit code or ID number
	{2, 5, 4, 97}, // organizationIdentifier
}

// installHolderKey identifies the holder of a certificate: C, O, CN, serialNumber
// and organizationIdentifier of its subject, in that order.
func installHolderKey(c *smx509.Certificate) string {
	var b strings.Builder
	for _, oid := range installHolderOIDs {
		var vals []string
		for _, atv := range c.Subject.Names {
			if atv.Type.Equal(oid) {
				vals = append(vals, fmt.Sprint(atv.Value))
			}
		}
		slices.Sort(vals)
		fmt.Fprintf(&b, "%s=%q;", oid, vals)
	}
	return b.String()
}

// installCheckValidity refuses a certificate outside its validity period at now.
func installCheckValidity(c *smx509.Certificate, now time.Time) error {
	if now.After(c.NotAfter) {
		return fmt.Errorf("%w: valid until %s", ErrCertExpired, c.NotAfter.UTC().Format(time.DateTime))
	}
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%w: valid from %s", ErrCertNotYetValid, c.NotBefore.UTC().Format(time.DateTime))
	}
	return nil
}

// installCheckChain verifies c against the issuer chain the caller gave: every
// certificate in it is a trust anchor for this purpose (the caller vouches for
// it; it usually comes from the CA together with the certificate), so a chain
// with only the issuing CA works as well as one up to the root.
func installCheckChain(c *smx509.Certificate, chain []*smx509.Certificate, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: no issuer certificate given", ErrCertChain)
	}
	roots := smx509.NewCertPool()
	for _, ca := range chain {
		roots.AddCert(ca)
	}
	_, err := c.Verify(smx509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCertChain, err)
	}
	return nil
}

// installSameKey reports whether two public keys are the same key.
func installSameKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	if ok && ea.Equal(b) {
		return true
	}
	// SM2 keys may come back from different parsers with different curve
	// values: compare the encodings.
	da, errA := smx509.MarshalPKIXPublicKey(a)
	db, errB := smx509.MarshalPKIXPublicKey(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}

// installVerify checks a renewed certificate before anything is written: it
// is valid now, names the same holder as old, lasts longer than old (an
// older certificate picked by mistake is refused), its public key is keyPub
// (the key pair that will hold it) and it chains to chain.
func installVerify(cert, old *smx509.Certificate, keyPub crypto.PublicKey, chain []*smx509.Certificate, now time.Time) error {
	if err := installCheckValidity(cert, now); err != nil {
		return err
	}
	if old != nil && installHolderKey(cert) != installHolderKey(old) {
		return fmt.Errorf("%w: %q, the token's certificate is for %q", ErrHolderMismatch, cert.Subject.String(), old.Subject.String())
	}
	if old != nil && !cert.NotAfter.After(old.NotAfter) {
		return fmt.Errorf("%w: valid until %s, the token's until %s", ErrCertNotNewer,
			cert.NotAfter.UTC().Format(time.DateTime), old.NotAfter.UTC().Format(time.DateTime))
	}
	if !installSameKey(cert.PublicKey, keyPub) {
		return ErrCertKeyMismatch
	}
	return installCheckChain(cert, chain, now)
}
