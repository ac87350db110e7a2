//go:build !linux && !windows

package workstation

import (
	"fmt"
	"runtime"

	"github.com/google/go-tpm/tpm2/transport"
)

// OpenSystemTPM reports ErrNoTPM: counter workstations run Windows or
// Linux; macOS has no TPM 2.0.
func OpenSystemTPM() (transport.TPMCloser, error) {
	return nil, fmt.Errorf("%w: not supported on %s", ErrNoTPM, runtime.GOOS)
}
