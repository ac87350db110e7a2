package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on a record. The encoded record must fit the smallest keyring
// with room to spare: Windows Credential Manager takes 2,560 bytes a
// secret; go-keyring on macOS base64-encodes it into a 4,096-byte command
// for /usr/bin/security (2,048 bytes become about 2,900 with the names).
const (
	MaxServiceURL   = 512  // bytes
	MaxUser         = 128  // bytes of UTF-8
	MaxRefreshToken = 1024 // bytes of printable ASCII
	MaxEncoded      = 2048 // bytes of the encoded record
)

// recordVersion is the version of the encoded record; a record with another
// version is treated as corrupt (and the user signs in again).
const recordVersion = 1

// Record is the part of a session that survives a restart.
type Record struct {
	ServiceURL   string    // base URL of the renewal service, https (http only for loopback)
	User         string    // who signed in, as shown to the user
	RefreshToken string    // opaque refresh token issued by the service
	Expiry       time.Time // when the refresh token stops working
}

// FieldError says which field of a Record is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "session: " + e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Validate checks every field against its limit and form.
func (r Record) Validate() error {
	if err := validateServiceURL(r.ServiceURL); err != nil {
		return err
	}
	switch {
	case r.User == "":
		return &FieldError{"User", "is empty"}
	case len(r.User) > MaxUser:
		return &FieldError{"User", fmt.Sprintf("is %d bytes, more than %d", len(r.User), MaxUser)}
	case !utf8.ValidString(r.User):
		return &FieldError{"User", "is not valid UTF-8"}
	case strings.IndexFunc(r.User, unicode.IsControl) >= 0:
		return &FieldError{"User", "contains a control character"}
	}
	switch {
	case r.RefreshToken == "":
		return &FieldError{"RefreshToken", "is empty"}
	case len(r.RefreshToken) > MaxRefreshToken:
		return &FieldError{"RefreshToken", fmt.Sprintf("is %d bytes, more than %d", len(r.RefreshToken), MaxRefreshToken)}
	case strings.IndexFunc(r.RefreshToken, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0:
		return &FieldError{"RefreshToken", "contains a character outside printable ASCII"}
	}
	if r.Expiry.IsZero() {
		return &FieldError{"Expiry", "is not set"}
	}
	return nil
}

func validateServiceURL(s string) error {
	if s == "" {
		return &FieldError{"ServiceURL", "is empty"}
	}
	if len(s) > MaxServiceURL {
		return &FieldError{"ServiceURL", fmt.Sprintf("is %d bytes, more than %d", len(s), MaxServiceURL)}
	}
	u, err := url.Parse(s)
	if err != nil {
		return &FieldError{"ServiceURL", "does not parse: " + err.Error()}
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return &FieldError{"ServiceURL", "has no host"}
	case u.User != nil:
		return &FieldError{"ServiceURL", "must not carry a user name or password"}
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return &FieldError{"ServiceURL", "must not have a query or fragment"}
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return &FieldError{"ServiceURL", "must use https (http only for a loopback address)"}
	default:
		return &FieldError{"ServiceURL", fmt.Sprintf("has scheme %q, want https", u.Scheme)}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// wireRecord is the encoded form. Unknown fields are refused on decode, so
// nothing but these four fields can ever be kept (no access token).
type wireRecord struct {
	V            int       `json:"v"`
	ServiceURL   string    `json:"service_url"`
	User         string    `json:"user"`
	RefreshToken string    `json:"refresh_token"`
	Expiry       time.Time `json:"expiry"`
}

func encodeRecord(r Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(wireRecord{recordVersion, r.ServiceURL, r.User, r.RefreshToken, r.Expiry.UTC()}); err != nil {
		return nil, fmt.Errorf("session: encode record: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxEncoded {
		return nil, &FieldError{"Record", fmt.Sprintf("encodes to %d bytes, more than %d", len(b), MaxEncoded)}
	}
	return b, nil
}

func decodeRecord(b []byte) (Record, error) {
	if len(b) > MaxEncoded {
		return Record{}, fmt.Errorf("%w: %d bytes, more than %d", ErrCorrupt, len(b), MaxEncoded)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wireRecord
	if err := dec.Decode(&w); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if dec.More() {
		return Record{}, fmt.Errorf("%w: trailing data", ErrCorrupt)
	}
	if w.V != recordVersion {
		return Record{}, fmt.Errorf("%w: record version %d, want %d", ErrCorrupt, w.V, recordVersion)
	}
	r := Record{w.ServiceURL, w.User, w.RefreshToken, w.Expiry}
	if err := r.Validate(); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return r, nil
}

// Errors a caller can tell apart with errors.Is.
var (
	// ErrNoSession: nothing is saved; the user signs in.
	ErrNoSession = errors.New("session: no saved session")
	// ErrExpired: the saved refresh token has expired; it was deleted.
	ErrExpired = errors.New("session: saved session has expired")
	// ErrInvalid: a Record field is wrong (see *FieldError).
	ErrInvalid = errors.New("session: invalid record")
	// ErrCorrupt: the saved copy could not be read back; it was deleted.
	ErrCorrupt = errors.New("session: saved session is unreadable")
	// ErrSealedElsewhere: the sealed file belongs to another TPM, another
	// machine or this machine's TPM before it was cleared; it was deleted.
	ErrSealedElsewhere = errors.New("session: saved session was sealed by another TPM (another machine, or the TPM was cleared)")
	// ErrTPMAuth: the TPM refused the authorization value (owner hierarchy
	// or sealed key); the file is kept.
	ErrTPMAuth = errors.New("session: the TPM refused the authorization value")
	// ErrNoTPM: no TPM 2.0 could be opened.
	ErrNoTPM = errors.New("session: no TPM 2.0 available")
	// ErrNoKeyring: no OS keyring is reachable.
	ErrNoKeyring = errors.New("session: no OS keyring available")
	// ErrTimeout: the keyring or TPM did not answer within the store's timeout.
	ErrTimeout = errors.New("session: no answer in time")
)
