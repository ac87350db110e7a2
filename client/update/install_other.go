//go:build !windows

package update

import "fmt"

// Install installs nothing outside Windows: a Debian package is the
// user's to install (InstallCommand); the error says the command.
func (u *Updater) Install(path string) error {
	if err := u.CanInstall(); err != nil && err != ErrManualInstall {
		return err
	}
	return fmt.Errorf("%w: %s", ErrManualInstall, InstallCommand(path))
}
