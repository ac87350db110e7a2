// Package counter is the contract between a CA service counter's
// workstation and the service: the challenge the workstation's TPM key
// signs and the service's check of that signature.
//
// The model. A Challenge is a fixed context string, the service origin and
// a 32-byte server nonce, serialised one way only by Challenge.Message and
// signed with ECDSA P-256 over SHA-256 (ASN.1 DER, as
// crypto/ecdsa.VerifyASN1 expects). Verify, in pure Go without a TPM, is the
// service's check, so both sides share one definition of the signed bytes.
// Binding the origin stops a challenge from one service being relayed to
// another; the service must issue each nonce once, remember it until it
// expires, and accept it once. The error texts keep the "workstation:"
// prefix the counter's users already know.
package counter

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
)

// The challenge format, version 1. Changing the bytes signed needs a new
// context string, so old and new signatures can never be confused.
const (
	ChallengeContext = "ukeyrenew-counter-v1"
	NonceSize        = 32  // bytes of server randomness
	MaxOrigin        = 255 // bytes of "scheme://host[:port]"
	MaxSignature     = 72  // bytes of an ASN.1 DER ECDSA P-256 signature
	MaxPublicKeyPEM  = 1024
)

// Errors a verifier can tell apart with errors.Is.
var (
	ErrBadChallenge = errors.New("workstation: invalid challenge")
	ErrBadSignature = errors.New("workstation: signature does not verify")
	ErrBadPublicKey = errors.New("workstation: not an ECDSA P-256 public key")
)

// Challenge is what the service asks a workstation to sign.
type Challenge struct {
	// Origin is the service's origin as the workstation connects to it:
	// lower-case "https://host[:port]" (http only for loopback), no path.
	Origin string
	// Nonce is fresh server randomness, used once.
	Nonce [NonceSize]byte
}

// NewChallenge makes a challenge for origin with a nonce from rand
// (crypto/rand.Reader in the service).
func NewChallenge(origin string, rand io.Reader) (Challenge, error) {
	c := Challenge{Origin: origin}
	if err := validateOrigin(origin); err != nil {
		return Challenge{}, err
	}
	if _, err := io.ReadFull(rand, c.Nonce[:]); err != nil {
		return Challenge{}, fmt.Errorf("workstation: nonce: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Challenge{}, err
	}
	return c, nil
}

// Validate checks the origin's form and that the nonce is not all zeros.
func (c Challenge) Validate() error {
	if err := validateOrigin(c.Origin); err != nil {
		return err
	}
	if c.Nonce == ([NonceSize]byte{}) {
		return fmt.Errorf("%w: nonce is all zeros", ErrBadChallenge)
	}
	return nil
}

func validateOrigin(origin string) error {
	if origin == "" {
		return fmt.Errorf("%w: origin is empty", ErrBadChallenge)
	}
	if len(origin) > MaxOrigin {
		return fmt.Errorf("%w: origin is %d bytes, more than %d", ErrBadChallenge, len(origin), MaxOrigin)
	}
	u, err := url.Parse(origin)
	if err != nil {
		return fmt.Errorf("%w: origin: %w", ErrBadChallenge, err)
	}
	if u.Host == "" || u.Scheme+"://"+u.Host != origin || origin != strings.ToLower(origin) {
		return fmt.Errorf("%w: origin %q is not of the form scheme://host[:port] in lower case", ErrBadChallenge, origin)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("%w: origin %q must use https (http only for loopback)", ErrBadChallenge, origin)
		}
	default:
		return fmt.Errorf("%w: origin scheme %q, want https", ErrBadChallenge, u.Scheme)
	}
	return nil
}

// Message is the exact bytes signed:
//
//	"ukeyrenew-counter-v1\n" + "origin=" + Origin + "\n" + "nonce=" + hex(Nonce) + "\n"
//
// The origin cannot contain a newline (Validate), so the message parses
// one way only.
func (c Challenge) Message() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return []byte(ChallengeContext + "\norigin=" + c.Origin + "\nnonce=" + hex.EncodeToString(c.Nonce[:]) + "\n"), nil
}

// Digest is SHA-256 of Message: what the TPM signs.
func (c Challenge) Digest() ([]byte, error) {
	m, err := c.Message()
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256(m)
	return d[:], nil
}

// Verify checks that sig is an ASN.1 DER ECDSA P-256 signature by pub over
// the challenge's digest.
func Verify(pub *ecdsa.PublicKey, c Challenge, sig []byte) error {
	if pub == nil || pub.Curve != elliptic.P256() {
		return ErrBadPublicKey
	}
	d, err := c.Digest()
	if err != nil {
		return err
	}
	if len(sig) == 0 || len(sig) > MaxSignature {
		return fmt.Errorf("%w: signature is %d bytes", ErrBadSignature, len(sig))
	}
	if !ecdsa.VerifyASN1(pub, d, sig) {
		return ErrBadSignature
	}
	return nil
}

// ParsePublicKey reads an enrolled workstation key: PKIX DER, or PEM with
// a "PUBLIC KEY" block. Only ECDSA P-256 is accepted.
func ParsePublicKey(b []byte) (*ecdsa.PublicKey, error) {
	if len(b) > MaxPublicKeyPEM {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadPublicKey, len(b), MaxPublicKeyPEM)
	}
	der := b
	if blk, rest := pem.Decode(b); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%w: PEM block %q, want PUBLIC KEY", ErrBadPublicKey, blk.Type)
		}
		if len(strings.TrimSpace(string(rest))) != 0 {
			return nil, fmt.Errorf("%w: data after the PEM block", ErrBadPublicKey)
		}
		der = blk.Bytes
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPublicKey, err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: got %T", ErrBadPublicKey, k)
	}
	return ek, nil
}

// Fingerprint is the hex SHA-256 of the key's PKIX DER: what an
// administrator compares on the workstation's screen and the service's.
func Fingerprint(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("workstation: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}
