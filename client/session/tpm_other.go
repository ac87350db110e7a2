//go:build !linux && !windows

package session

import (
	"fmt"
	"runtime"

	"github.com/google/go-tpm/tpm2/transport"
)

// OpenSystemTPM reports ErrNoTPM: macOS has no TPM 2.0 (its Secure Enclave
// is reached through the Keychain, the first backend) and the BSDs are not
// supported targets.
func OpenSystemTPM() (transport.TPMCloser, error) {
	return nil, fmt.Errorf("%w: not supported on %s", ErrNoTPM, runtime.GOOS)
}
