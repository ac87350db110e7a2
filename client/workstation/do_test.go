package workstation

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
)

// nopTPM stands for a TPM connection where none is used: do's slot
// handling is under test, not the TPM.
type nopTPM struct{}

func (nopTPM) Send([]byte) ([]byte, error) { return nil, errors.New("nopTPM: no TPM here") }
func (nopTPM) Close() error                { return nil }

func TestBackToBackCallsNeverSeeABusySlot(t *testing.T) {
	o, err := Options{Timeout: time.Minute, OpenTPM: func() (transport.TPMCloser, error) { return nopTPM{}, nil }}.check()
	if err != nil {
		t.Fatal(err)
	}
	k := newKey(o)
	for i := 0; i < 200000; i++ {
		if err := k.do(context.Background(), func(transport.TPM) error { return nil }); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func TestNoTPM(t *testing.T) {
	_, err := Create(context.Background(), Options{OpenTPM: func() (transport.TPMCloser, error) {
		return nil, errors.New("open /dev/tpmrm0: no such file or directory")
	}})
	if !errors.Is(err, ErrNoTPM) {
		t.Fatalf("Create without a TPM = %v, want ErrNoTPM", err)
	}
}
