//go:build linux

package workstation

import (
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// OpenSystemTPM opens the machine's TPM 2.0 through the kernel's resource
// manager (/dev/tpmrm0), which lets several programs share it.
func OpenSystemTPM() (transport.TPMCloser, error) {
	t, err := linuxtpm.Open("/dev/tpmrm0")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTPM, err)
	}
	return t, nil
}
