//go:build linux

package tpmdev

import (
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// Device is the kernel's TPM resource manager, which lets several programs
// share the TPM (the raw /dev/tpm0 admits one at a time).
const Device = "/dev/tpmrm0"

// Open opens the machine's TPM 2.0 through the kernel's resource manager.
func Open() (transport.TPMCloser, error) {
	return linuxtpm.Open(Device)
}
