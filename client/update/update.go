// Package update brings the desktop client up to the version its renewal
// service announces (GET /v1/client/update): it asks, downloads the
// installer into the user's cache folder with a size cap and a deadline,
// checks its length and SHA-256 while it streams, and for a Windows
// installer checks its Authenticode signature — the PKCS#7 signature, the
// Authenticode digest against the file's content, and that the signer is
// the running program's own publisher — then hands over to msiexec. A
// Debian package is not installed by the program: the clerk is told the
// command. Anything that fails a check is deleted.
//
// The signer is the same when the subject and the public key are byte for
// byte those of the running program's signing certificate: a publisher's
// certificate renewed on the same key keeps updating, any other key (even
// one issued to the same name, by any CA) is refused. Windows itself checks
// the chain, its trust and revocation when msiexec opens the MSI; this
// package does not, on purpose: its question is "same publisher as me".
//
// What the window may do when (never during a token write, in counter mode
// only between customers) is the view-model's business
// (app/internal/model.UpdateVM), not this package's.
package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Limits.
const (
	// DefaultTimeout bounds one download: 200 MiB at 1 Mbit/s takes 27
	// minutes; the 12 MB MSI on such a line under two.
	DefaultTimeout = 30 * time.Minute
	// DirName is the folder under the user's cache folder the installers
	// are downloaded to (one at a time: older ones are removed).
	DirName = "ukeyrenew-updates"
)

// Why an update was refused. Each comes wrapped with the detail.
var (
	ErrHashMismatch = errors.New("the downloaded installer's SHA-256 is not the one the service announced")
	ErrSizeMismatch = errors.New("the downloaded installer's length is not the one the service announced")
	ErrTooLarge     = errors.New("the installer is larger than allowed")
	ErrUnsigned     = errors.New("the installer carries no Authenticode signature")
	ErrBadSignature = errors.New("the installer's Authenticode signature does not verify")
	ErrOtherSigner  = errors.New("the installer is signed by another publisher than this program")
	// ErrProgramUnsigned: this program is not signed (a development
	// build), so there is no publisher to compare with: it installs no
	// update itself (the download page may be opened instead).
	ErrProgramUnsigned = errors.New("this program is not signed, so it cannot check an installer's publisher")
	// ErrManualInstall: the platform's package is installed by the user
	// (InstallCommand says how).
	ErrManualInstall = errors.New("this package is installed by hand")
	ErrNotInstaller  = errors.New("the file is neither an MSI nor a Windows program")
	ErrUnsupported   = errors.New("no updates for this platform")
)

// Config is what an Updater needs.
type Config struct {
	Client   *client.Client
	Platform renewal.ClientPlatform
	Current  renewal.Version
	// Dir is the download folder (default: DirName under the user's cache
	// folder).
	Dir string
	// MaxBytes caps a download (default and at most
	// renewal.MaxClientInstallerBytes).
	MaxBytes int64
	// Timeout bounds one download (default DefaultTimeout).
	Timeout time.Duration
	// Signer gives the running program's Authenticode signing
	// certificate (ProgramSigner, which reads and hashes the whole
	// program: it is asked once, when first needed); nil, or a nil
	// certificate: an unsigned build, which installs no Windows update
	// itself. An error (a signature that does not verify) is kept and
	// refuses every install.
	Signer func() (*x509.Certificate, error)
}

// BuildVersion is the client's version, MAJOR.MINOR.PATCH.BUILD, set at
// link time by scripts/package.sh (-X …/client/update.BuildVersion=…);
// empty in a development build.
var BuildVersion string

// Updater checks for, downloads and hands over client updates.
type Updater struct {
	cfg    Config
	signer func() (*x509.Certificate, error)
}

// New checks cfg and fills in the defaults.
func New(cfg Config) (*Updater, error) {
	if cfg.Client == nil {
		return nil, errors.New("update: no client")
	}
	if !cfg.Platform.Valid() {
		return nil, fmt.Errorf("update: %w: %q", ErrUnsupported, cfg.Platform)
	}
	if cfg.MaxBytes <= 0 || cfg.MaxBytes > renewal.MaxClientInstallerBytes {
		cfg.MaxBytes = renewal.MaxClientInstallerBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
		cfg.Dir = filepath.Join(cache, DirName)
	}
	u := &Updater{cfg: cfg, signer: func() (*x509.Certificate, error) { return nil, nil }}
	if cfg.Signer != nil {
		u.signer = sync.OnceValues(cfg.Signer)
	}
	return u, nil
}

// programSigner is the running program's signer: nil for an unsigned
// build, ErrBadSignature when its own signature does not verify.
func (u *Updater) programSigner() (*x509.Certificate, error) {
	c, err := u.signer()
	if err != nil {
		return nil, fmt.Errorf("%w: this program's own: %w", ErrBadSignature, err)
	}
	if c == nil {
		return nil, ErrProgramUnsigned
	}
	return c, nil
}

// Platform is the platform the updater asks for.
func (u *Updater) Platform() renewal.ClientPlatform { return u.cfg.Platform }

// Current is the running program's version.
func (u *Updater) Current() renewal.Version { return u.cfg.Current }

// CanInstall says whether Install may run the installer itself: a Windows
// MSI, with a signed running program to compare its signer with.
func (u *Updater) CanInstall() error {
	if !u.cfg.Platform.Windows() {
		return ErrManualInstall
	}
	_, err := u.programSigner()
	return err
}

// Check asks the service; a nil answer with a nil error means none.
func (u *Updater) Check(ctx context.Context) (*renewal.ClientUpdate, error) {
	a, err := u.cfg.Client.ClientUpdate(ctx, renewal.ClientUpdateRequest{Platform: u.cfg.Platform, Version: u.cfg.Current.String()})
	if err != nil || !a.Available {
		return nil, err
	}
	return a, nil
}

// Download fetches the announced installer into the download folder and
// checks it: its length and SHA-256 against the announcement and, for a
// Windows installer, its Authenticode signature and signer (a Windows
// download is refused before it starts when this program is unsigned).
// progress, if not nil, is called with the bytes so far. On success it
// returns the installer's path; on any failure nothing is left behind.
func (u *Updater) Download(ctx context.Context, a renewal.ClientUpdate, progress func(done, total int64)) (path string, err error) {
	var want []byte
	if !a.Available {
		return "", errors.New("update: no update to download")
	}
	u.removeAll() // an earlier download, kept or cut short, is not reused
	var signer *x509.Certificate
	if u.cfg.Platform.Windows() {
		if signer, err = u.programSigner(); err != nil {
			return "", err
		}
	}
	want, err = hex.DecodeString(a.SHA256)
	if err != nil || len(want) != sha256.Size {
		return "", fmt.Errorf("%w: announced %q", ErrHashMismatch, a.SHA256)
	}
	if a.Size > u.cfg.MaxBytes {
		return "", fmt.Errorf("%w: %d bytes announced, at most %d", ErrTooLarge, a.Size, u.cfg.MaxBytes)
	}
	if err := os.MkdirAll(u.cfg.Dir, 0o700); err != nil {
		return "", err
	}
	name := installerName(a.Version, u.cfg.Platform)
	f, err := os.CreateTemp(u.cfg.Dir, name+".*.part")
	if err != nil {
		return "", err
	}
	part := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(part)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	h := sha256.New()
	pw := &progressWriter{total: a.Size, f: progress}
	// One byte more than announced is enough to know it is longer.
	n, err := u.cfg.Client.DownloadInstaller(ctx, a.URL, io.MultiWriter(f, h, pw), a.Size+1)
	if errors.Is(err, client.ErrTooLarge) {
		return "", fmt.Errorf("%w: %w", ErrSizeMismatch, err)
	}
	if err != nil {
		return "", err
	}
	if n != a.Size {
		return "", fmt.Errorf("%w: %d bytes downloaded, %d announced", ErrSizeMismatch, n, a.Size)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return "", fmt.Errorf("%w: got %x, announced %s", ErrHashMismatch, got, a.SHA256)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if u.cfg.Platform.Windows() {
		if !isMSI(part) { // msiexec takes nothing else
			return "", fmt.Errorf("%w: a Windows update must be an MSI", ErrNotInstaller)
		}
		if err := SameSigner(part, signer); err != nil {
			return "", err
		}
	}
	final := filepath.Join(u.cfg.Dir, name)
	if err := os.Rename(part, final); err != nil {
		return "", err
	}
	ok = true
	return final, nil
}

// removeAll removes earlier installers and partial downloads.
func (u *Updater) removeAll() {
	ents, _ := os.ReadDir(u.cfg.Dir)
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "ukeyrenew-") {
			_ = os.Remove(filepath.Join(u.cfg.Dir, n))
		}
	}
}

// installerName is the downloaded installer's file name.
func installerName(version string, p renewal.ClientPlatform) string {
	if p == renewal.PlatformLinuxDeb {
		return "ukeyrenew-" + version + "-amd64.deb"
	}
	return "ukeyrenew-" + version + "-" + string(p) + ".msi"
}

// InstallCommand is the command that installs a downloaded Debian package.
func InstallCommand(path string) string { return "sudo apt install " + shellQuote(path) }

func shellQuote(s string) string {
	if strings.ContainsAny(s, " '\"\\$`!*?[]{}()<>|&;#~") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

type progressWriter struct {
	done, total int64
	f           func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.f != nil {
		p.f(p.done, p.total)
	}
	return len(b), nil
}

// PlatformOf is the update platform of a build (runtime.GOOS, GOARCH).
func PlatformOf(goos, goarch string) (renewal.ClientPlatform, bool) {
	switch {
	case goos == "windows" && goarch == "amd64":
		return renewal.PlatformWindowsX64, true
	case goos == "windows" && goarch == "386":
		return renewal.PlatformWindowsX86, true
	case goos == "linux" && goarch == "amd64":
		return renewal.PlatformLinuxDeb, true
	}
	return "", false
}
