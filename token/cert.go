package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// Name is the part of a distinguished name a clerk reads. Chinese names
// arrive as UTF8String, BMPString or PrintableString; all are decoded.
type Name struct {
	CommonName         string `json:"cn,omitempty"`
	Organization       string `json:"o,omitempty"`
	OrganizationalUnit string `json:"ou,omitempty"`
	Country            string `json:"c,omitempty"`
	Province           string `json:"st,omitempty"`
	Locality           string `json:"l,omitempty"`
	DN                 string `json:"dn"`
}

func nameFrom(n pkix.Name) Name {
	first := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return s[0]
	}
	return Name{
		CommonName:         n.CommonName,
		Organization:       first(n.Organization),
		OrganizationalUnit: first(n.OrganizationalUnit),
		Country:            first(n.Country),
		Province:           first(n.Province),
		Locality:           first(n.Locality),
		DN:                 n.String(),
	}
}

// Holder is the name a clerk recognises: the organisation if there is one,
// else the common name.
func (n Name) Holder() string {
	switch {
	case n.Organization != "" && n.CommonName != "" && n.CommonName != n.Organization:
		return n.Organization + " / " + n.CommonName
	case n.Organization != "":
		return n.Organization
	}
	return n.CommonName
}

// CertInfo is a parsed X.509 certificate (RSA, ECDSA or SM2).
type CertInfo struct {
	Raw                []byte           `json:"-"`
	Subject            Name             `json:"subject"`
	Issuer             Name             `json:"issuer"`
	Serial             string           `json:"serial"` // upper-case hex, no separators
	SerialNumber       *big.Int         `json:"-"`
	NotBefore          time.Time        `json:"not_before"`
	NotAfter           time.Time        `json:"not_after"`
	KeyAlgorithm       string           `json:"key_algorithm"` // "RSA", "ECDSA", "SM2", "Ed25519"
	KeyBits            int              `json:"key_bits"`
	Curve              string           `json:"curve,omitempty"` // "P-256", "P-384", "SM2"...
	SignatureAlgorithm string           `json:"signature_algorithm"`
	KeyUsage           []string         `json:"key_usage"`
	ExtKeyUsage        []string         `json:"ext_key_usage"`
	IsCA               bool             `json:"is_ca"`
	SHA256             string           `json:"sha256"` // fingerprint of Raw, lower-case hex
	PublicKey          crypto.PublicKey `json:"-"`
	RawSubject         []byte           `json:"-"`
	RawIssuer          []byte           `json:"-"`
	SubjectKeyID       []byte           `json:"-"`
}

// ParseCertificate parses a DER certificate with crypto/x509, falling back to
// gmsm/smx509 for SM2 certificates that crypto/x509 rejects.
func ParseCertificate(der []byte) (*CertInfo, error) {
	if len(der) == 0 {
		return nil, errors.New("parse certificate: empty")
	}
	if c, err := x509.ParseCertificate(der); err == nil {
		ci := &CertInfo{
			Subject: nameFrom(c.Subject), Issuer: nameFrom(c.Issuer),
			SerialNumber: c.SerialNumber, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
			SignatureAlgorithm: c.SignatureAlgorithm.String(),
			KeyUsage:           keyUsageNames(int(c.KeyUsage)),
			ExtKeyUsage:        extKeyUsageNames(c.ExtKeyUsage),
			IsCA:               c.IsCA, PublicKey: c.PublicKey,
			RawSubject: c.RawSubject, RawIssuer: c.RawIssuer, SubjectKeyID: c.SubjectKeyId,
		}
		return ci.finish(der), nil
	}
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	ext := make([]x509.ExtKeyUsage, len(c.ExtKeyUsage))
	for i, u := range c.ExtKeyUsage {
		ext[i] = x509.ExtKeyUsage(u)
	}
	ci := &CertInfo{
		Subject: nameFrom(c.Subject), Issuer: nameFrom(c.Issuer),
		SerialNumber: c.SerialNumber, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		KeyUsage:           keyUsageNames(int(c.KeyUsage)),
		ExtKeyUsage:        extKeyUsageNames(ext),
		IsCA:               c.IsCA, PublicKey: c.PublicKey,
		RawSubject: c.RawSubject, RawIssuer: c.RawIssuer, SubjectKeyID: c.SubjectKeyId,
	}
	return ci.finish(der), nil
}

func (ci *CertInfo) finish(der []byte) *CertInfo {
	ci.Raw = der
	sum := sha256.Sum256(der)
	ci.SHA256 = hex.EncodeToString(sum[:])
	if ci.SerialNumber != nil {
		ci.Serial = strings.ToUpper(ci.SerialNumber.Text(16))
		if len(ci.Serial)%2 == 1 {
			ci.Serial = "0" + ci.Serial
		}
	}
	ci.KeyAlgorithm, ci.KeyBits, ci.Curve = describeKey(ci.PublicKey)
	ci.NotBefore, ci.NotAfter = ci.NotBefore.UTC(), ci.NotAfter.UTC()
	return ci
}

// describeKey names a public key's algorithm, size and curve.
func describeKey(pub crypto.PublicKey) (alg string, bits int, curve string) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen(), ""
	case *ecdsa.PublicKey:
		name := k.Curve.Params().Name
		if k.Curve == sm2.P256() {
			return "SM2", 256, "SM2"
		}
		return "ECDSA", k.Curve.Params().BitSize, name
	case ed25519.PublicKey:
		return "Ed25519", 256, ""
	}
	return "unknown", 0, ""
}

// Expired reports whether the certificate has expired at now.
func (ci *CertInfo) Expired(now time.Time) bool { return now.After(ci.NotAfter) }

// Status is "valid", "expired" or "not_yet_valid" at now.
func (ci *CertInfo) Status(now time.Time) string {
	switch {
	case ci.Expired(now):
		return "expired"
	case now.Before(ci.NotBefore):
		return "not_yet_valid"
	}
	return "valid"
}

var keyUsages = []string{"digital_signature", "content_commitment", "key_encipherment",
	"data_encipherment", "key_agreement", "cert_sign", "crl_sign", "encipher_only", "decipher_only"}

func keyUsageNames(ku int) []string {
	out := []string{}
	for i, n := range keyUsages {
		if ku&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

var extKeyUsages = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny: "any", x509.ExtKeyUsageServerAuth: "server_auth",
	x509.ExtKeyUsageClientAuth: "client_auth", x509.ExtKeyUsageCodeSigning: "code_signing",
	x509.ExtKeyUsageEmailProtection: "email_protection", x509.ExtKeyUsageTimeStamping: "time_stamping",
	x509.ExtKeyUsageOCSPSigning: "ocsp_signing",
}

func extKeyUsageNames(eku []x509.ExtKeyUsage) []string {
	out := []string{}
	for _, u := range eku {
		if n, ok := extKeyUsages[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("eku_%d", int(u)))
		}
	}
	return out
}

// samePublicKey compares two public keys of any supported type.
func samePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && k.Equal(b)
}
