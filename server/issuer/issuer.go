package issuer

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// Limits on what a renewal may ask for.
const (
	MinYears = 1
	MaxYears = 3
	// NonceSize is the length in bytes of a possession challenge.
	NonceSize = 32
	// MaxCSRSize bounds a DER certificate request.
	MaxCSRSize = 16 << 10
	// backdate protects against a relying party whose clock is a little behind.
	backdate = 5 * time.Minute
)

// Sentinel errors; the HTTP layer maps them to the contract's error codes.
var (
	ErrBadYears        = errors.New("years must be between 1 and 3")
	ErrBadSignature    = errors.New("possession signature does not verify")
	ErrBadCSR          = errors.New("certificate request is malformed or its signature does not verify")
	ErrBindingRequired = errors.New("re-key while the old certificate is valid needs a signature by the old key")
	ErrUnsupportedKey  = errors.New("unsupported key type")
	ErrSameKey         = errors.New("re-key request carries the old public key")
	ErrNotYetValid     = errors.New("old certificate is not yet valid")
)

// Request asks for the renewal of Old. With CSR nil it is a same-key renewal
// (the caller has already checked possession with VerifyPossession); with a
// CSR it is a re-key.
type Request struct {
	Old   *smx509.Certificate
	Years int
	// CSR is the DER certificate request of the new key (re-key only).
	CSR []byte
	// Now is the issuance time; the service passes its clock's now.
	Now time.Time
}

// Issued is a new certificate and the chain above it.
type Issued struct {
	DER       []byte
	Serial    *big.Int
	NotBefore time.Time
	NotAfter  time.Time
	// Chain holds the DER certificates from the issuing CA up to the root.
	Chain [][]byte
}

// Issuer makes renewed certificates.
type Issuer interface {
	Issue(ctx context.Context, req Request) (*Issued, error)
	// Chain is the DER chain from the issuing CA up to the root.
	Chain() [][]byte
}

// Validity returns the validity of a renewal of old made at now for years:
// an early renewal extends from the old not-after, a late one starts now.
func Validity(old *smx509.Certificate, now time.Time, years int) (notBefore, notAfter time.Time, err error) {
	if years < MinYears || years > MaxYears {
		return time.Time{}, time.Time{}, ErrBadYears
	}
	start := now
	if old.NotAfter.After(now) {
		start = old.NotAfter
	}
	return now.Add(-backdate).UTC().Truncate(time.Second), start.AddDate(years, 0, 0).UTC().Truncate(time.Second), nil
}

// NewSerial returns a random positive serial of 128 bits (RFC 5280 allows 20 octets).
func NewSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // always 127 significant bits: never zero, fixed length
	return new(big.Int).SetBytes(b), nil
}

// NewNonce returns a fresh possession challenge.
func NewNonce() ([]byte, error) {
	b := make([]byte, NonceSize)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
