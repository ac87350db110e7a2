package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
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

// MinRSABits is the smallest RSA key the CA renews.
const MinRSABits = 2048

// maxSignatureSize bounds a possession signature (RSA-8192 is 1024 bytes).
const maxSignatureSize = 1024

// PossessionMessage is what the token signs for a same-key renewal.
// It names the purpose, the certificate and the challenge, so a signature
// cannot be replayed for another certificate or another purpose.
func PossessionMessage(nonce []byte, serial *big.Int) []byte {
	return fmt.Appendf(nil, "UKeyRenew possession v1\nserial:%s\nnonce:%s\n",
		serialHex(serial), base64.StdEncoding.EncodeToString(nonce))
}

// RekeyMessage is what the old key signs to bind a re-key request to its holder.
func RekeyMessage(nonce []byte, serial *big.Int, csrDER []byte) []byte {
	sum := sha256.Sum256(csrDER)
	return fmt.Appendf(nil, "UKeyRenew rekey v1\nserial:%s\nnonce:%s\ncsr-sha256:%s\n",
		serialHex(serial), base64.StdEncoding.EncodeToString(nonce), hex.EncodeToString(sum[:]))
}

func serialHex(s *big.Int) string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf("%X", s)
}

// CheckKey reports whether the CA renews certificates for pub.
func CheckKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return fmt.Errorf("%w: RSA key of %d bits, at least %d needed", ErrUnsupportedKey, k.N.BitLen(), MinRSABits)
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

// VerifyPossession checks a same-key renewal's proof: sig over
// PossessionMessage(nonce, old's serial) by old's key.
func VerifyPossession(old *smx509.Certificate, nonce []byte, alg SigAlg, sig []byte) error {
	if len(nonce) != NonceSize {
		return fmt.Errorf("%w: nonce of %d bytes", ErrBadSignature, len(nonce))
	}
	return VerifySignature(old.PublicKey, alg, PossessionMessage(nonce, old.SerialNumber), sig)
}

// VerifyRekey checks a re-key request: the CSR's own signature, and while old
// is still valid at now, the old key's signature binding the CSR. After the
// old certificate has ended its key proves nothing more (review and financial
// verification stand in), but a binding signature that is sent must verify.
func VerifyRekey(old *smx509.Certificate, nonce, csrDER []byte, alg SigAlg, sig []byte, now time.Time) error {
	pub, err := ParseCSR(csrDER)
	if err != nil {
		return err
	}
	if publicKeysEqual(pub, old.PublicKey) {
		return ErrSameKey
	}
	if len(sig) == 0 {
		if now.Before(old.NotAfter) {
			return ErrBindingRequired
		}
		return nil
	}
	if len(nonce) != NonceSize {
		return fmt.Errorf("%w: nonce of %d bytes", ErrBadSignature, len(nonce))
	}
	return VerifySignature(old.PublicKey, alg, RekeyMessage(nonce, old.SerialNumber, csrDER), sig)
}
