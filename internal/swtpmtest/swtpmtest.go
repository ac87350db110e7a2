//go:build linux

// Package swtpmtest runs a real software TPM 2.0 (swtpm) for one test, with its
// own state directory: two of them are two different machines' TPMs. It needs
// the swtpm binary (testenv: skipped locally, a failure under UKEY_TEST_STRICT=1).
package swtpmtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

// TPM is a running swtpm. Socket is its command socket (linuxudstpm), State
// its state directory.
type TPM struct {
	Socket string
	State  string
	cmd    *exec.Cmd
}

// Start runs swtpm on a new state directory.
func Start(t testing.TB) *TPM {
	t.Helper()
	return StartState(t, t.TempDir())
}

// StartState runs swtpm on an existing state directory (absolute: a
// relative one puts swtpm in failure mode).
func StartState(t testing.TB, state string) *TPM {
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
	s := &TPM{Socket: sock, State: state, cmd: cmd}
	t.Cleanup(func() {
		s.Stop()
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

// Stop kills swtpm (a power cut: its state directory stays).
func (s *TPM) Stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// Pause freezes swtpm (SIGSTOP): a TPM that hangs. Resume undoes it.
func (s *TPM) Pause() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused swtpm run again (SIGCONT).
func (s *TPM) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

// Open connects to this TPM (an OpenTPM option of client/session and client/workstation).
func (s *TPM) Open() (transport.TPMCloser, error) { return linuxudstpm.Open(s.Socket) }

// Clear runs TPM2_Clear: a new owner seed, as when an owner clears the TPM
// in the firmware settings.
func (s *TPM) Clear(t testing.TB) {
	t.Helper()
	tpm, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	if _, err := (tpm2.Clear{AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHLockout, Auth: tpm2.PasswordAuth(nil)}}).Execute(tpm); err != nil {
		t.Fatalf("TPM2_Clear: %v", err)
	}
}

// SetOwnerAuth sets the owner hierarchy's authorization value.
func (s *TPM) SetOwnerAuth(t testing.TB, auth []byte) {
	t.Helper()
	tpm, err := s.Open()
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
