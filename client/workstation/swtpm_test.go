//go:build linux

package workstation_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

// swtpm is a real software TPM 2.0 (swtpm) run for one test, with its own
// state directory: two of them are two different machines' TPMs.
type swtpm struct {
	socket string
	state  string
	cmd    *exec.Cmd
}

func startSWTPM(t testing.TB) *swtpm {
	t.Helper()
	return startSWTPMState(t, t.TempDir())
}

// startSWTPMState runs swtpm on an existing state directory (absolute: a
// relative one puts swtpm in failure mode).
func startSWTPMState(t testing.TB, state string) *swtpm {
	t.Helper()
	bin := testenv.LookPath(t, "swtpm")
	sock := filepath.Join(t.TempDir(), "s")
	cmd := exec.Command(bin, "socket", "--tpm2",
		"--tpmstate", "dir="+state,
		"--server", "type=unixio,path="+sock,
		"--ctrl", "type=unixio,path="+sock+".ctrl",
		"--flags", "not-need-init,startup-clear")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	s := &swtpm{socket: sock, state: state, cmd: cmd}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			out := strings.ReplaceAll(stderr.String(), "swtpm: Data client disconnected\n", "")
			if len(out) > 2048 {
				out = out[len(out)-2048:]
			}
			t.Logf("swtpm stderr (last 2 KiB, without disconnect notices):\n%s", out)
		}
	})
	// Poll until it answers; the limit is only a hang guard.
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			tpm, err := linuxudstpm.Open(sock)
			if err == nil {
				_, err = tpm2.GetRandom{BytesRequested: 1}.Execute(tpm)
				tpm.Close()
				if err == nil {
					return s
				}
			}
		}
		if i == 500 {
			t.Fatalf("swtpm at %s did not answer", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *swtpm) stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// open is an Options.OpenTPM for this TPM.
func (s *swtpm) open() (transport.TPMCloser, error) { return linuxudstpm.Open(s.socket) }

// clear runs TPM2_Clear: a new owner seed, as when an owner clears the TPM
// in the firmware settings.
func (s *swtpm) clear(t testing.TB) {
	t.Helper()
	tpm, err := s.open()
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	if _, err := (tpm2.Clear{AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHLockout, Auth: tpm2.PasswordAuth(nil)}}).Execute(tpm); err != nil {
		t.Fatalf("TPM2_Clear: %v", err)
	}
}

// setOwnerAuth sets the owner hierarchy's authorization value.
func (s *swtpm) setOwnerAuth(t *testing.T, auth []byte) {
	t.Helper()
	tpm, err := s.open()
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	_, err = tpm2.HierarchyChangeAuth{
		AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		NewAuth:    tpm2.TPM2BAuth{Buffer: auth},
	}.Execute(tpm)
	if err != nil {
		t.Fatalf("TPM2_HierarchyChangeAuth: %v", err)
	}
}
