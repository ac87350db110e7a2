//go:build windows

package workstation

import (
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/windowstpm"
)

// OpenSystemTPM opens the machine's TPM 2.0 through the TPM Base Services
// (Tbs.dll), which share it between programs.
func OpenSystemTPM() (transport.TPMCloser, error) {
	t, err := windowstpm.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTPM, err)
	}
	return t, nil
}
