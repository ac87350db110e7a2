package update

import (
	"fmt"
	"os/exec"
	"syscall"
)

// Windows process creation flags: the installer outlives this program.
const (
	detachedProcess       = 0x00000008
	createNewProcessGroup = 0x00000200
)

// Install starts msiexec on the downloaded MSI (installing over this
// version; Windows asks for elevation when needed and checks the
// signature's chain), detached, and returns: the caller then quits, so
// that the installer can replace the program's files. /passive shows
// progress without questions; /norestart leaves a reboot to the user.
// The signer is checked again first, in case the file changed since the
// download.
func (u *Updater) Install(path string) error {
	if err := u.CanInstall(); err != nil {
		return err
	}
	signer, _ := u.programSigner()
	if err := SameSigner(path, signer); err != nil {
		return err
	}
	cmd := exec.Command("msiexec", "/i", path, "/passive", "/norestart")
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: detachedProcess | createNewProcessGroup}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start msiexec: %w", err)
	}
	return cmd.Process.Release()
}
