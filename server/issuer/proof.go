package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// SigAlg names how a possession signature was made. The client sends it with
// the signature; the key type of the certificate must agree with it.
type SigAlg string

// Signature algorithms a token may use. ECDSA signatures are ASN.1 DER
// (SEQUENCE of r and s), as crypto.Signer returns them; a PKCS#11 client that
// gets raw r‖s from CKM_ECDSA encodes it first.
const (
	SigRSAPKCS1SHA256 SigAlg = "RSA-PKCS1-SHA256"
	SigRSAPSSSHA256   SigAlg = "RSA-PSS-SHA256"
	SigECDSASHA256    SigAlg = "ECDSA-SHA256"
	SigECDSASHA384    SigAlg = "ECDSA-SHA384"
	SigSM2SM3         SigAlg = "SM2-SM3"
)

// MinRSABits and MaxRSABits bound the RSA keys the CA renews: below 2048
// bits a key is too weak; above 4096 (the largest a token makes) verifying
// and using it only costs time, so a bigger one is refused before its
// signature is checked.
const (
	MinRSABits = 2048
	MaxRSABits = 4096
)

// maxSignatureSize bounds a possession signature (RSA-4096 is 512 bytes).
const maxSignatureSize = MaxRSABits / 8

// CheckKey reports whether the CA renews certificates for pub: the one
// key rule of issuance, eligibility (a key it refuses needs a re-key) and
// re-key requests.
func CheckKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return fmt.Errorf("%w: RSA key of %d bits, at least %d needed", ErrUnsupportedKey, k.N.BitLen(), MinRSABits)
		}
		if k.N.BitLen() > MaxRSABits {
			return fmt.Errorf("%w: RSA key of %d bits, at most %d", ErrUnsupportedKey, k.N.BitLen(), MaxRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		if sm2.IsSM2PublicKey(k) || k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return fmt.Errorf("%w: curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
	default:
		return fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
}

// VerifySignature checks sig over msg with pub, made with alg.
func VerifySignature(pub crypto.PublicKey, alg SigAlg, msg, sig []byte) error {
	if len(sig) == 0 || len(sig) > maxSignatureSize {
		return fmt.Errorf("%w: signature of %d bytes", ErrBadSignature, len(sig))
	}
	if err := CheckKey(pub); err != nil {
		return err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		var err error
		switch alg {
		case SigRSAPKCS1SHA256:
			err = rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig)
		case SigRSAPSSSHA256:
			err = rsa.VerifyPSS(k, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		default:
			return fmt.Errorf("%w: algorithm %q does not fit an RSA key", ErrBadSignature, alg)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		return nil
	case *ecdsa.PublicKey:
		if sm2.IsSM2PublicKey(k) {
			if alg != SigSM2SM3 {
				return fmt.Errorf("%w: algorithm %q does not fit an SM2 key", ErrBadSignature, alg)
			}
			if !sm2.VerifyASN1WithSM2(k, nil, msg, sig) {
				return ErrBadSignature
			}
			return nil
		}
		var d []byte
		switch alg {
		case SigECDSASHA256:
			s := sha256.Sum256(msg)
			d = s[:]
		case SigECDSASHA384:
			s := sha512.Sum384(msg)
			d = s[:]
		default:
			return fmt.Errorf("%w: algorithm %q does not fit an ECDSA key", ErrBadSignature, alg)
		}
		if !ecdsa.VerifyASN1(k, d, sig) {
			return ErrBadSignature
		}
		return nil
	}
	return ErrUnsupportedKey
}

// VerifyProof checks a proof of possession: sig over msg by pub, with any
// algorithm that fits the key (RSA: PKCS#1 v1.5 or PSS with SHA-256; ECDSA:
// SHA-256, or SHA-384 on P-384; SM2: SM3 with the default user ID). The
// message (renewal.SameKeyMessage, renewal.RekeyBindingMessage) names the
// purpose, application, certificate and nonce, so a proof is never replayed.
func VerifyProof(pub crypto.PublicKey, msg, sig []byte) error {
	if err := CheckKey(pub); err != nil {
		return err
	}
	var algs []SigAlg
	switch k := pub.(type) {
	case *rsa.PublicKey:
		algs = []SigAlg{SigRSAPKCS1SHA256, SigRSAPSSSHA256}
	case *ecdsa.PublicKey:
		switch {
		case sm2.IsSM2PublicKey(k):
			algs = []SigAlg{SigSM2SM3}
		case k.Curve == elliptic.P384():
			algs = []SigAlg{SigECDSASHA384, SigECDSASHA256}
		default:
			algs = []SigAlg{SigECDSASHA256}
		}
	}
	var err error
	for _, a := range algs {
		if err = VerifySignature(pub, a, msg, sig); err == nil {
			return nil
		}
	}
	return err
}

// VerifyRekey checks a re-key request: the CSR's own signature (proof of the
// new key), that the key is new, and, while old is still valid at now, the
// old key's signature over binding (renewal.RekeyBindingMessage), which ties
// the request to the holder of the old key. After the old certificate has
// ended its key proves nothing more (review and financial verification stand
// in), but a binding signature that is sent must still verify.
func VerifyRekey(old *smx509.Certificate, csrDER, binding, sig []byte, now time.Time) error {
	pub, err := ParseCSR(csrDER)
	if err != nil {
		return err
	}
	if publicKeysEqual(pub, old.PublicKey) {
		return ErrSameKey
	}
	if err := CheckKey(pub); err != nil {
		return err
	}
	if len(sig) == 0 {
		if now.Before(old.NotAfter) {
			return ErrBindingRequired
		}
		return nil
	}
	return VerifyProof(old.PublicKey, binding, sig)
}
