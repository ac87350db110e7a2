package update

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sassoftware/relic/v8/lib/authenticode"
	"github.com/sassoftware/relic/v8/signers/sigerrors"
)

// oleMagic starts an OLE compound file (an MSI); "MZ" starts a PE.
var oleMagic = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}

// isMSI reports whether the file at path starts as an OLE compound file.
func isMSI(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(oleMagic))
	_, err = io.ReadFull(f, head)
	return err == nil && bytes.Equal(head, oleMagic)
}

// Signer verifies the Authenticode signature of an MSI (PKCS#7 SignedData
// in the "\x05DigitalSignature" stream) or a PE program (the security
// directory's WIN_CERTIFICATE): the PKCS#7 signature, and the Authenticode
// digest it signs against the file's content (the MsiDigitalSignatureEx
// pre-hash too, when present). It returns the signing certificate; the
// chain is not checked (see the package comment).
func Signer(path string) (*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, len(oleMagic))
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotInstaller, path)
	}
	var cert *x509.Certificate
	switch {
	case bytes.Equal(head, oleMagic):
		var sig *authenticode.MSISignature
		if sig, err = authenticode.VerifyMSI(f, false); err == nil {
			cert = sig.Certificate
		}
	case bytes.HasPrefix(head, []byte("MZ")):
		var sigs []authenticode.PESignature
		if sigs, err = authenticode.VerifyPE(f, false); err == nil {
			if len(sigs) == 0 {
				err = sigerrors.NotSignedError{Type: "PE"}
			} else {
				cert = sigs[0].Certificate
			}
		}
	default:
		return nil, fmt.Errorf("%w: %s", ErrNotInstaller, path)
	}
	var ns sigerrors.NotSignedError
	switch {
	case errors.As(err, &ns):
		return nil, fmt.Errorf("%w: %s", ErrUnsigned, path)
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %w", ErrBadSignature, path, err)
	case cert == nil:
		return nil, fmt.Errorf("%w: %s: no signing certificate", ErrBadSignature, path)
	}
	return cert, nil
}

// SameSigner verifies path's signature (Signer) and that its signer is
// want's publisher: the same subject and the same public key.
func SameSigner(path string, want *x509.Certificate) error {
	if want == nil {
		return ErrProgramUnsigned
	}
	got, err := Signer(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(got.RawSubject, want.RawSubject) || !bytes.Equal(got.RawSubjectPublicKeyInfo, want.RawSubjectPublicKeyInfo) {
		return fmt.Errorf("%w: signed by %q, this program by %q", ErrOtherSigner, got.Subject, want.Subject)
	}
	return nil
}

// ProgramSigner is the running program's signing certificate; nil, nil
// for an unsigned program (a development build, or not a Windows program).
func ProgramSigner() (*x509.Certificate, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c, err := Signer(exe)
	if errors.Is(err, ErrUnsigned) || errors.Is(err, ErrNotInstaller) {
		return nil, nil
	}
	return c, err
}
