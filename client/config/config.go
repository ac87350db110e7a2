// Package config finds the renewal service a client talks to, the same way
// for the desktop client and ukeyctl. In order, the first that names one:
//
//  1. the command line (--service, --ca);
//  2. the environment: UKEY_SERVICE_URL (UKEY_SERVICE, the desktop
//     client's older name, is read too for one release) and UKEY_SERVICE_CA;
//  3. the user's config file, UserFile: {"service": URL, "service_ca": PEM file};
//  4. the machine's configuration, set by IT (readable by all users,
//     writable by administrators only): on Windows first the registry,
//     HKEY_LOCAL_MACHINE\Software\UKeyRenew values ServiceURL and ServiceCA
//     (written by the MSI: msiexec /i … SERVICE_URL=https://…), then the
//     machine's config file, MachineFile;
//  5. the default baked into a CA's branded build: BuildService and
//     BuildServiceCAPEM (or BuildServiceCA, a file), set with -ldflags "-X".
//
// With none of them, the desktop client asks in its first-run dialog and
// saves the answer with SaveUserFile.
//
// A file or registry key that exists but cannot be read or holds a bad
// address is an error naming it, never skipped: a clerk must not end up at
// another service than the one the CA configured.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// The environment's names, one set for every client.
const (
	EnvService    = "UKEY_SERVICE_URL"
	EnvServiceOld = "UKEY_SERVICE" // the desktop client's name before; read for one release
	EnvServiceCA  = "UKEY_SERVICE_CA"
)

// BuildService and BuildServiceCA are a branded build's defaults (the
// service's base URL, the path of a PEM file of the CA to pin), set at
// link time: -ldflags "-X github.com/ukeyrenew/ukeyrenew/client/config.BuildService=https://…".
var BuildService, BuildServiceCA string

// MaxFileBytes bounds a config file.
const MaxFileBytes = 64 << 10

// The machine's registry key (under HKEY_LOCAL_MACHINE, in the view of the
// program's architecture, as the MSI of the same architecture writes it)
// and its values, both REG_SZ (REG_EXPAND_SZ is expanded).
const (
	MachineKey       = `Software\UKeyRenew`
	MachineKeyName   = `HKLM\` + MachineKey // how errors and --show-service name it
	RegServiceURL    = "ServiceURL"
	RegServiceCA     = "ServiceCA"
	MaxRegistryChars = 2048 // bounds each value
)

// Registry is what the machine's registry key holds: zero when the key or
// its values are absent (and off Windows).
type Registry struct {
	Service   string // ServiceURL
	ServiceCA string // ServiceCA
	Err       error  // the key or a value is there but cannot be used (wrong type, too long, no access)
}

// Check refuses a value longer than MaxRegistryChars and trims the white
// space around the service's address (as for the environment's).
func (r Registry) Check() Registry {
	if r.Err != nil {
		return r
	}
	for _, v := range []struct{ name, value string }{{RegServiceURL, r.Service}, {RegServiceCA, r.ServiceCA}} {
		if len(v.value) > MaxRegistryChars {
			return Registry{Err: fmt.Errorf("value %s is longer than %d characters", v.name, MaxRegistryChars)}
		}
	}
	r.Service = strings.TrimSpace(r.Service)
	return r
}

// File is a config file's content.
type File struct {
	Service   string `json:"service"`    // base URL of the renewal service
	ServiceCA string `json:"service_ca"` // PEM file of the CA to pin for its TLS (optional)
}

// Source says where the service was found.
type Source string

// Sources, in order.
const (
	FromCommandLine Source = "command line"
	FromEnvironment Source = "environment"
	FromUserFile    Source = "user config"
	FromMachineFile Source = "machine config" // the registry (Windows) or MachineFile
	FromBuild       Source = "build"
	FromNowhere     Source = ""
)

// Service is the service found: its URL (empty if none was), the CA file
// to pin (empty: the system's roots), and where they came from.
type Service struct {
	URL    string
	CAFile string
	From   Source
	Path   string // the config file or registry key (MachineKeyName), for FromUserFile and FromMachineFile
	CAPEM  []byte // the build's baked CA (BuildServiceCAPEM), for FromBuild; replaces CAFile
}

// Inputs are what Find looks at; Default fills in this machine's.
type Inputs struct {
	FlagService, FlagCA string
	Getenv              func(string) string
	UserFile            string   // "" to skip
	MachineRegistry     Registry // read before MachineFile; zero to skip
	MachineFile         string   // "" to skip
	BuildService        string
	BuildServiceCA      string
	BuildServiceCAPEM   string // base64 of PEM
}

// Default returns the inputs of this process: the given flags, the
// environment, this user's file, this machine's registry (Windows) and
// file, the build's defaults.
func Default(flagService, flagCA string) Inputs {
	user, _ := UserFile()
	return Inputs{FlagService: flagService, FlagCA: flagCA, Getenv: os.Getenv, UserFile: user,
		MachineRegistry: ReadMachineRegistry(), MachineFile: MachineFile(),
		BuildService: BuildService, BuildServiceCA: BuildServiceCA, BuildServiceCAPEM: BuildServiceCAPEM}
}

// UserFile is the user's config file: UKeyRenew/config.json in the user's
// config folder (%AppData% on Windows, ~/.config on Linux).
func UserFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "UKeyRenew", "config.json"), nil
}

// MachineFile is the machine-wide config file the installer writes:
// %ProgramData%\UKeyRenew\config.json on Windows, /etc/ukeyrenew/config.json
// elsewhere.
func MachineFile() string {
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "UKeyRenew", "config.json")
	}
	return "/etc/ukeyrenew/config.json"
}

// Find picks the service from in, in the package's order. The flag's and
// the environment's CA go with whichever service is found first among
// them; a file's CA goes with that file's service.
func Find(in Inputs) (Service, error) {
	getenv := in.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	ca := in.FlagCA
	if ca == "" {
		ca = getenv(EnvServiceCA)
	}
	pick := func(u, caFile string, from Source, path string) (Service, error) {
		if err := CheckURL(u); err != nil {
			if path != "" {
				return Service{}, fmt.Errorf("%s (%s): %w", path, from, err)
			}
			return Service{}, fmt.Errorf("%s: %w", from, err)
		}
		return Service{URL: strings.TrimRight(u, "/"), CAFile: caFile, From: from, Path: path}, nil
	}
	if in.FlagService != "" {
		return pick(in.FlagService, ca, FromCommandLine, "")
	}
	for _, name := range []string{EnvService, EnvServiceOld} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return pick(v, ca, FromEnvironment, "")
		}
	}
	withCA := func(own string) string {
		if ca != "" {
			return ca // the command line or the environment pins another CA
		}
		return own
	}
	// file reads a config file; found: it names a service.
	file := func(path string) (c File, found bool, err error) {
		if path == "" {
			return File{}, false, nil
		}
		c, err = ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return File{}, false, nil
		}
		return c, err == nil && c.Service != "", err // a file may set only other things
	}
	if c, found, err := file(in.UserFile); err != nil {
		return Service{}, err
	} else if found {
		return pick(c.Service, withCA(c.ServiceCA), FromUserFile, in.UserFile)
	}
	if r := in.MachineRegistry; r.Err != nil {
		return Service{}, fmt.Errorf("%s (%s): %w", MachineKeyName, FromMachineFile, r.Err)
	} else if r.Service != "" { // a CA alone names no service
		return pick(r.Service, withCA(r.ServiceCA), FromMachineFile, MachineKeyName)
	}
	if c, found, err := file(in.MachineFile); err != nil {
		return Service{}, err
	} else if found {
		return pick(c.Service, withCA(c.ServiceCA), FromMachineFile, in.MachineFile)
	}
	if in.BuildService != "" {
		svc, err := pick(in.BuildService, withCA(in.BuildServiceCA), FromBuild, "")
		if err != nil || ca != "" || in.BuildServiceCAPEM == "" {
			return svc, err
		}
		return withBakedCA(svc, in.BuildServiceCAPEM) // ca.go
	}
	return Service{CAFile: ca}, nil
}

// ReadFile reads a config file, refusing one too large, not JSON, or with
// unknown keys (a typo would otherwise be silently ignored).
func ReadFile(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return File{}, fmt.Errorf("%s: larger than %d bytes", path, MaxFileBytes)
	}
	data = []byte(strings.TrimPrefix(string(data), "\ufeff")) // Notepad's BOM
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var c File
	if err := dec.Decode(&c); err != nil {
		return File{}, fmt.Errorf("%s: not a UKey Renew config file (%v); expected {\"service\": \"https://…\"}", path, err)
	}
	if dec.More() {
		return File{}, fmt.Errorf("%s: data after the JSON object", path)
	}
	return c, nil
}

// CheckURL checks a service base URL: http or https, a host, no query,
// fragment or user information.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("service address %q is not a URL", s)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("service address %q must start with https://", s)
	case u.Host == "":
		return fmt.Errorf("service address %q has no host", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("service address %q must be a plain base URL (no user, query or fragment)", s)
	}
	return nil
}
