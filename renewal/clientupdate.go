package renewal

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Client updates: the service tells a desktop client which version of it is
// current for its platform, where the installer is and its SHA-256. The
// releases are the CA's to set (renewd's configuration, client_update);
// the client downloads, checks the hash and, for a Windows installer, the
// Authenticode signer, then hands over to the installer (client/update).

// ClientPlatform names an installer kind the service may offer.
type ClientPlatform string

// The platforms.
const (
	PlatformWindowsX64 ClientPlatform = "windows-x64"     // the 64-bit MSI
	PlatformWindowsX86 ClientPlatform = "windows-x86"     // the 32-bit MSI
	PlatformLinuxDeb   ClientPlatform = "linux-amd64-deb" // the Debian/Ubuntu package
)

// ClientPlatforms lists the platforms in a fixed order.
func ClientPlatforms() []ClientPlatform {
	return []ClientPlatform{PlatformWindowsX64, PlatformWindowsX86, PlatformLinuxDeb}
}

// Valid reports whether p is one of the platforms.
func (p ClientPlatform) Valid() bool {
	for _, q := range ClientPlatforms() {
		if p == q {
			return true
		}
	}
	return false
}

// Windows reports whether p's installer is an Authenticode-signed MSI.
func (p ClientPlatform) Windows() bool { return p == PlatformWindowsX64 || p == PlatformWindowsX86 }

// Limits of client updates.
const (
	// MaxClientInstallerBytes is the largest installer the service may
	// announce and a client downloads (the MSI is about 12 MB).
	MaxClientInstallerBytes = 200 << 20
	// MaxReleaseNotesRunes bounds each language's notes: a few lines of
	// what changed, not a manual.
	MaxReleaseNotesRunes = 500
	// MaxInstallerURLBytes bounds the installer's address.
	MaxInstallerURLBytes = 2048
	maxVersionBytes      = 64
)

// Version is a client version, MAJOR.MINOR.PATCH with an optional fourth
// number, the build (as Windows Installer's ProductVersion and Fyne's
// Version+Build). Versions compare number by number; a missing build is 0.
type Version struct{ Major, Minor, Patch, Build int }

// ParseVersion reads "1.2.3" or "1.2.3.4": decimal numbers of at most 9
// digits, no sign, no leading "v", no suffix.
func ParseVersion(s string) (Version, error) {
	bad := func() (Version, error) {
		return Version{}, invalid(CodeInvalidField, "version %q is not MAJOR.MINOR.PATCH (or MAJOR.MINOR.PATCH.BUILD), e.g. 1.2.4", clip(s, maxVersionBytes))
	}
	if s == "" || len(s) > maxVersionBytes {
		return bad()
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 && len(parts) != 4 {
		return bad()
	}
	var n [4]int
	for i, p := range parts {
		if p == "" || len(p) > 9 || strings.TrimLeft(p, "0123456789") != "" {
			return bad()
		}
		n[i], _ = strconv.Atoi(p)
	}
	return Version{n[0], n[1], n[2], n[3]}, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// String is "1.2.3", or "1.2.3.4" with a build.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Build != 0 {
		s += "." + strconv.Itoa(v.Build)
	}
	return s
}

// Compare is -1, 0 or +1 as v is older than, the same as or newer than w.
func (v Version) Compare(w Version) int {
	a := [4]int{v.Major, v.Minor, v.Patch, v.Build}
	b := [4]int{w.Major, w.Minor, w.Patch, w.Build}
	for i := range a {
		switch {
		case a[i] < b[i]:
			return -1
		case a[i] > b[i]:
			return 1
		}
	}
	return 0
}

// ClientRelease is the current client for one platform, as the CA
// configures it (renewd's client_update section, keyed by platform).
type ClientRelease struct {
	Version string `json:"version"`
	// URL is where the installer is downloaded from: https, or http on a
	// loopback address for development and tests only.
	URL    string `json:"url"`
	SHA256 string `json:"sha256"` // 64 hex digits of the installer
	Size   int64  `json:"size"`   // the installer's length in bytes
	// NotesZH and NotesEN say in a few lines what changed.
	NotesZH string `json:"notes_zh"`
	NotesEN string `json:"notes_en"`
	// MinimumVersion, if set: a client below it must update (the banner
	// then does not offer 稍后 as the only way out; see ClientUpdate.Required).
	MinimumVersion string `json:"minimum_version,omitempty"`
}

// Validate checks a release; devLoopback lets the URL be http on a
// loopback address (renewd --dev and tests). Fields are named as in the
// configuration (version, url, sha256, size, notes_zh, notes_en,
// minimum_version).
func (r ClientRelease) Validate(devLoopback bool) error {
	var fe fieldErrors
	v, err := ParseVersion(r.Version)
	fe.add("version", err)
	fe.add("url", ValidateInstallerURL(r.URL, devLoopback))
	if len(r.SHA256) != 64 || !isLowerHex(strings.ToLower(r.SHA256)) {
		fe.add("sha256", invalid(CodeInvalidField, "sha256 must be the installer's SHA-256 in 64 hex digits (sha256sum FILE)"))
	}
	if r.Size <= 0 || r.Size > MaxClientInstallerBytes {
		fe.add("size", invalid(CodeInvalidField, "size must be the installer's length in bytes, 1 to %d (stat -c %%s FILE)", MaxClientInstallerBytes))
	}
	for _, n := range []struct{ name, text string }{{"notes_zh", r.NotesZH}, {"notes_en", r.NotesEN}} {
		if strings.TrimSpace(n.text) == "" {
			fe.add(n.name, invalid(CodeRequired, "%s is required: a few lines on what changed", n.name))
		} else {
			fe.add(n.name, ValidateText(n.text, MaxReleaseNotesRunes))
		}
	}
	if r.MinimumVersion != "" {
		m, err := ParseVersion(r.MinimumVersion)
		fe.add("minimum_version", err)
		if err == nil && r.Version != "" && m.Compare(v) > 0 {
			fe.add("minimum_version", invalid(CodeInvalidField, "minimum_version %s is above version %s", m, v))
		}
	}
	return fe.err()
}

func isLowerHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// ValidateInstallerURL checks an installer's address: an absolute https
// URL, or with devLoopback an http URL on a loopback address.
func ValidateInstallerURL(raw string, devLoopback bool) error {
	if raw == "" {
		return invalid(CodeRequired, "url is required: the https:// address of the installer")
	}
	if len(raw) > MaxInstallerURLBytes {
		return invalid(CodeTooLong, "url has at most %d bytes", MaxInstallerURLBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return invalid(CodeInvalidField, "url %q must be an absolute https:// address without user or #fragment", clip(raw, 100))
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && devLoopback && isLoopbackHost(u.Hostname()):
		return nil
	}
	return invalid(CodeInvalidField, "url %q must be https:// (a client refuses to download an installer over plain http)", clip(raw, 100))
}

func isLoopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// Offer is what the release offers a client at version current.
func (r ClientRelease) Offer(current Version) ClientUpdate {
	v, err := ParseVersion(r.Version)
	if err != nil || v.Compare(current) <= 0 {
		return ClientUpdate{Available: false}
	}
	required := false
	if m, err := ParseVersion(r.MinimumVersion); err == nil {
		required = current.Compare(m) < 0
	}
	return ClientUpdate{Available: true, Version: v.String(), URL: r.URL, SHA256: strings.ToLower(r.SHA256), Size: r.Size,
		NotesZH: r.NotesZH, NotesEN: r.NotesEN, Required: required}
}

// ClientUpdateRequest asks whether a newer client is there.
// GET /v1/client/update?platform=…&version=….
type ClientUpdateRequest struct {
	Platform ClientPlatform
	Version  string
}

// Validate checks the request.
func (r ClientUpdateRequest) Validate() error {
	var fe fieldErrors
	if !r.Platform.Valid() {
		fe.add("platform", invalid(CodeInvalidField, "platform %q: one of windows-x64, windows-x86, linux-amd64-deb", clip(string(r.Platform), 40)))
	}
	_, err := ParseVersion(r.Version)
	fe.add("version", err)
	return fe.err()
}

// ClientUpdate is the answer: whether a newer client is available and, if
// so, where and what it is.
type ClientUpdate struct {
	Available bool   `json:"available"`
	Version   string `json:"version,omitempty"`
	URL       string `json:"url,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	Size      int64  `json:"size,omitempty"`
	NotesZH   string `json:"notes_zh,omitempty"`
	NotesEN   string `json:"notes_en,omitempty"`
	// Required: the client's version is below the release's minimum.
	Required bool `json:"required,omitempty"`
}

// Validate checks an answer before a client acts on it (the same rules as
// the configuration, loopback http allowed only with devLoopback).
func (u ClientUpdate) Validate(devLoopback bool) error {
	if !u.Available {
		return nil
	}
	return ClientRelease{Version: u.Version, URL: u.URL, SHA256: u.SHA256, Size: u.Size, NotesZH: u.NotesZH, NotesEN: u.NotesEN}.Validate(devLoopback)
}
