//go:build windows

package tpmdev

import (
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/windowstpm"
)

// Open opens the machine's TPM 2.0 through the TPM Base Services (Tbs.dll),
// which share it between programs.
func Open() (transport.TPMCloser, error) {
	return windowstpm.Open()
}
