package config

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// BuildServiceCAPEM is a branded build's pinned CA: the PEM of the CA
// certificates that sign the service's TLS certificate, base64-encoded
// (one -X word, no spaces or newlines), set with
// -ldflags "-X github.com/ukeyrenew/ukeyrenew/client/config.BuildServiceCAPEM=…"
// by scripts/package.sh --service-ca. It goes with BuildService only: a
// service from the command line, the environment or a config file uses
// that source's CA (or the system's roots), and a CA given on the command
// line or in the environment replaces it.
var BuildServiceCAPEM string

// Limits of a pinned CA.
const (
	MaxCAFileBytes     = 1 << 20  // a CA file read at start or chosen in the first-run dialog
	MaxBuildCAPEMBytes = 32 << 10 // the PEM baked into a branded build (scripts/package.sh checks it too)
)

// Why a CA file is refused; CheckCA's errors wrap one of them.
var (
	ErrCANoCertificate = errors.New("no certificate in it (want PEM \"-----BEGIN CERTIFICATE-----\" or one DER certificate)")
	ErrCAPrivateKey    = errors.New("it holds a private key: give the CA's certificate only")
	ErrCANotCA         = errors.New("a certificate that is not a CA's (basicConstraints CA:TRUE)")
	ErrCAExpired       = errors.New("a certificate outside its validity period")
)

// CheckCA reads the certificates of a CA file's content: PEM (one or more
// CERTIFICATE blocks; text around them is ignored, a private key is
// refused) or one DER certificate, as Windows saves a .cer. Each must be
// a CA certificate valid at now. It returns them as PEM, the form a
// pinned CA is kept in.
func CheckCA(data []byte, now time.Time) ([]byte, error) {
	var ders [][]byte
	if len(data) > 0 && data[0] == 0x30 { // a DER SEQUENCE, not PEM text
		ders = [][]byte{data}
	} else {
		for rest := data; ; {
			b, r := pem.Decode(rest)
			if b == nil {
				break
			}
			rest = r
			switch {
			case strings.Contains(b.Type, "PRIVATE KEY"):
				return nil, ErrCAPrivateKey
			case b.Type == "CERTIFICATE":
				ders = append(ders, b.Bytes)
			}
		}
	}
	if len(ders) == 0 {
		return nil, ErrCANoCertificate
	}
	var out bytes.Buffer
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w: %v", i+1, ErrCANoCertificate, err)
		}
		name := c.Subject.String()
		switch {
		case !c.BasicConstraintsValid || !c.IsCA:
			return nil, fmt.Errorf("%q: %w", name, ErrCANotCA)
		case now.Before(c.NotBefore) || now.After(c.NotAfter):
			return nil, fmt.Errorf("%q, valid %s to %s: %w", name,
				c.NotBefore.UTC().Format(time.DateOnly), c.NotAfter.UTC().Format(time.DateOnly), ErrCAExpired)
		}
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	return out.Bytes(), nil
}

// CA is the PEM of the CA to pin for the service: the build's baked one,
// else the CAFile read (at most MaxCAFileBytes); nil for the system's
// roots.
func (s Service) CA() ([]byte, error) {
	if len(s.CAPEM) > 0 {
		return s.CAPEM, nil
	}
	if s.CAFile == "" {
		return nil, nil
	}
	data, err := ReadCAFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("the service's CA (%s, from the %s): %w", s.CAFile, s.From, err)
	}
	return data, nil
}

// ReadCAFile reads a CA file of at most MaxCAFileBytes.
func ReadCAFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCAFileBytes+1))
	if err == nil && len(data) > MaxCAFileBytes {
		err = fmt.Errorf("%s: larger than %d bytes", path, MaxCAFileBytes)
	}
	return data, err
}

// withBakedCA gives the build's service its baked CA.
func withBakedCA(svc Service, b64 string) (Service, error) {
	data, err := base64.StdEncoding.DecodeString(b64)
	switch {
	case err != nil:
		return Service{}, fmt.Errorf("%s: the built-in CA (BuildServiceCAPEM) is not base64: %v", FromBuild, err)
	case len(data) > MaxBuildCAPEMBytes:
		return Service{}, fmt.Errorf("%s: the built-in CA (BuildServiceCAPEM) is larger than %d bytes", FromBuild, MaxBuildCAPEMBytes)
	}
	svc.CAPEM, svc.CAFile = data, ""
	return svc, nil
}
