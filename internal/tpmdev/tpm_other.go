//go:build !linux && !windows

package tpmdev

import (
	"fmt"
	"runtime"

	"github.com/google/go-tpm/tpm2/transport"
)

// Open fails: macOS has no TPM 2.0 (its Secure Enclave is reached through
// the Keychain) and the BSDs are not supported targets.
func Open() (transport.TPMCloser, error) {
	return nil, fmt.Errorf("TPM 2.0 is not supported on %s", runtime.GOOS)
}
