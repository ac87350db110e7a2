package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/internal/atomicfile"
)

// UserCAFile is the name of the CA file SaveUserFile keeps beside the
// user's config file.
const UserCAFile = "service-ca.pem"

// SaveUserFile writes the user's config file at path (UserFile) naming
// service and, with caPEM, the CA to pin: caPEM is kept in UserCAFile
// beside it, which the file's service_ca names (the file the clerk chose
// may be on a USB stick or in Downloads, gone tomorrow). The folder is
// made 0700 and the files are written 0600, each whole
// (internal/atomicfile), the config file last: a crash leaves the old
// settings or the new, never a file naming a CA not yet written. Without
// caPEM, the CA file an earlier save kept is removed.
func SaveUserFile(path, service string, caPEM []byte) error {
	if err := CheckURL(service); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if runtime.GOOS != "windows" { // the folder is this program's: the user's alone
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
	}
	caPath := filepath.Join(dir, UserCAFile)
	f := struct {
		Service   string `json:"service"`
		ServiceCA string `json:"service_ca,omitempty"`
	}{Service: strings.TrimRight(service, "/")}
	if len(caPEM) > 0 {
		if err := atomicfile.WriteFile(caPath, caPEM, 0o600); err != nil {
			return err
		}
		f.ServiceCA = caPath
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return err
	}
	if len(caPEM) == 0 {
		if err := os.Remove(caPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
