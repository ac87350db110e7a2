package token

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/atomicfile"
)

// The install journal: one small JSON file per token serial that says which
// step of a certificate install is in flight, so that Recover can finish or
// undo it after a crash, an unplugged token or a killed process.
//
// Every write is atomic: the new content goes to a temporary file in the same
// directory, which is synced, renamed over the journal, and the directory is
// synced too. A reader therefore sees the previous step or the next one,
// never a torn file. The first write of an install is an exclusive create (a
// hard link), so two installs on one token cannot both start.

// Journal limits.
const (
	journalVersion    = 1
	journalMaxBytes   = 64 << 10 // a journal is a few hundred bytes; refuse anything larger
	journalMaxSerial  = 64       // CK_TOKEN_INFO.serialNumber is 16 bytes; leave room
	journalSuffix     = ".json"
	journalLockSuffix = ".lock"
	journalTmpGlob    = ".tmp-*"
)

// ErrInstallInProgress means a journal already exists for the token: an
// earlier install was interrupted (run Recover) or is still running.
var ErrInstallInProgress = errors.New("an install is already in progress on this token")

// InstallMode says whether an install keeps the token's key pair or makes a new one.
type InstallMode string

// Install modes.
const (
	// SameKey installs a new certificate for the key pair already on the token.
	SameKey InstallMode = "same-key"
	// Rekey makes a new key pair on the token (with a new CKA_ID), has its CSR
	// signed, and installs the certificate for it.
	Rekey InstallMode = "rekey"
)

func (m InstallMode) valid() bool { return m == SameKey || m == Rekey }

// JournalStep is the step of an install that is in flight.
type JournalStep string

// Journal steps, in the order an install goes through them.
const (
	// StepIntent: nothing has been written to the token yet, except that on
	// re-key a key pair with NewID may be being generated.
	StepIntent JournalStep = "intent"
	// StepAwaitingCert: re-key only; the new key pair is on the token and its
	// CSR went to the CA. With Hold set (the CSR was handed out of the process,
	// `ukeyctl install-cert --rekey --csr-out`), Recover keeps the pending key.
	StepAwaitingCert JournalStep = "awaiting-cert"
	// StepWritingCert: the certificate whose hash is NewCertSHA256 may be
	// being written to the token; it was verified before the write.
	StepWritingCert JournalStep = "writing-cert"
	// StepVerified: the new certificate was read back from the token and
	// matches; the old certificate (and on re-key the old key pair) may be
	// being removed.
	StepVerified JournalStep = "verified"
)

func (s JournalStep) valid() bool {
	switch s {
	case StepIntent, StepAwaitingCert, StepWritingCert, StepVerified:
		return true
	}
	return false
}

// HexBytes is a byte string written as hex in JSON (CKA_IDs, hashes).
type HexBytes []byte

// MarshalJSON writes the bytes as a lower-case hex string.
func (h HexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// UnmarshalJSON reads a hex string.
func (h *HexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("hex bytes: %w", err)
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("hex bytes: %w", err)
	}
	*h = d
	return nil
}

// String returns the hex form.
func (h HexBytes) String() string { return hex.EncodeToString(h) }

// JournalEntry is the state of one install on one token.
type JournalEntry struct {
	Version int         `json:"version"`
	Serial  string      `json:"token_serial"`
	Mode    InstallMode `json:"mode"`
	Step    JournalStep `json:"step"`
	// OldID is the CKA_ID of the certificate (and key pair) being replaced.
	OldID HexBytes `json:"old_id"`
	// NewID is the CKA_ID the new certificate gets: OldID on same-key, a new
	// one on re-key (the new key pair is made with it).
	NewID HexBytes `json:"new_id"`
	// OldCertSHA256 and NewCertSHA256 are the SHA-256 of the certificates'
	// DER: two certificates share a CKA_ID during a same-key install.
	OldCertSHA256 HexBytes `json:"old_cert_sha256"`
	NewCertSHA256 HexBytes `json:"new_cert_sha256,omitempty"`
	// Label is the CKA_LABEL the new objects get at the end (the old one's).
	Label string `json:"label"`
	// KeyType of the new key pair on re-key (ec-p256, rsa-2048...).
	KeyType KeyPairType `json:"key_type,omitempty"`
	// Hold marks a re-key whose CSR was handed out of the process: Recover
	// keeps its pending key pair until the certificate is installed or the
	// caller abandons it.
	Hold    bool      `json:"hold,omitempty"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
}

func (e *JournalEntry) validate() error {
	switch {
	case e.Version != journalVersion:
		return fmt.Errorf("journal version %d, want %d", e.Version, journalVersion)
	case e.Serial == "" || len(e.Serial) > journalMaxSerial:
		return fmt.Errorf("journal token serial %q is empty or longer than %d", e.Serial, journalMaxSerial)
	case !e.Mode.valid():
		return fmt.Errorf("journal mode %q is not %q or %q", e.Mode, SameKey, Rekey)
	case !e.Step.valid():
		return fmt.Errorf("journal step %q is unknown", e.Step)
	case len(e.OldID) == 0 || len(e.NewID) == 0:
		return errors.New("journal lacks the old or new CKA_ID")
	case len(e.OldCertSHA256) != 32:
		return errors.New("journal lacks the old certificate's SHA-256")
	case e.Step == StepWritingCert || e.Step == StepVerified:
		if len(e.NewCertSHA256) != 32 {
			return fmt.Errorf("journal at step %s lacks the new certificate's SHA-256", e.Step)
		}
	}
	if e.Mode == SameKey && !bytes.Equal(e.OldID, e.NewID) {
		return errors.New("same-key journal with different old and new CKA_IDs")
	}
	if e.Mode == Rekey && bytes.Equal(e.OldID, e.NewID) {
		return errors.New("re-key journal with the same old and new CKA_ID")
	}
	return nil
}

// Journal is a directory of install journals, one file per token serial.
type Journal struct {
	dir string
	now func() time.Time
}

// DefaultJournalDir is <user config dir>/ukeyrenew/journal.
func DefaultJournalDir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("journal directory: %w", err)
	}
	return filepath.Join(base, "ukeyrenew", "journal"), nil
}

// OpenJournal opens (and creates, mode 0700) the journal directory dir; an
// empty dir means DefaultJournalDir. now stamps the entries (nil: time.Now);
// the stamps are for people reading the file, nothing depends on them.
func OpenJournal(dir string, now func() time.Time) (*Journal, error) {
	if dir == "" {
		d, err := DefaultJournalDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal directory: %w", err)
	}
	return &Journal{dir: dir, now: now}, nil
}

// Dir is the journal directory.
func (j *Journal) Dir() string { return j.dir }

var journalPlainSerial = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// path is the journal file of a token: the serial itself when it is a plain
// file name, else its hex (serials are bytes chosen by the vendor).
func (j *Journal) path(serial string) (string, error) {
	if serial == "" || len(serial) > journalMaxSerial {
		return "", fmt.Errorf("token serial %q is empty or longer than %d", serial, journalMaxSerial)
	}
	name := serial
	if !journalPlainSerial.MatchString(serial) {
		name = "x-" + hex.EncodeToString([]byte(serial))
	}
	return filepath.Join(j.dir, name+journalSuffix), nil
}

// Load returns the journal entry of the token, or nil when there is none.
func (j *Journal) Load(serial string) (*JournalEntry, error) {
	p, err := j.path(serial)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, journalMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", p, err)
	}
	if len(b) > journalMaxBytes {
		return nil, fmt.Errorf("journal %s is larger than %d bytes", p, journalMaxBytes)
	}
	var e JournalEntry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("journal %s is damaged: %w", p, err)
	}
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("journal %s: %w", p, err)
	}
	if e.Serial != serial {
		return nil, fmt.Errorf("journal %s belongs to token %q, not %q", p, e.Serial, serial)
	}
	return &e, nil
}

// Begin writes the first entry of an install. It fails with
// ErrInstallInProgress when the token already has a journal.
func (j *Journal) Begin(e *JournalEntry) error {
	e.Version = journalVersion
	e.Started = j.now().UTC()
	return j.write(e, true)
}

// Update replaces the token's journal entry with e (atomically).
func (j *Journal) Update(e *JournalEntry) error { return j.write(e, false) }

func (j *Journal) write(e *JournalEntry, exclusive bool) error {
	e.Updated = j.now().UTC()
	if err := e.validate(); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	p, err := j.path(e.Serial)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	b = append(b, '\n')
	if exclusive {
		err = atomicfile.WriteNew(p, b, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("token %s: %w (journal %s)", e.Serial, ErrInstallInProgress, p)
		}
	} else {
		err = atomicfile.WriteFile(p, b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// Lock marks the token busy for this process until unlock is called (or
// the process dies, however it dies: the operating system drops the lock).
// Install, PrepareRekey, AbandonRekey and Recover hold it while they work,
// so a journal whose lock is free belongs to an install that was
// interrupted, never to one still running in another process. A token
// already locked gives ErrInstallInProgress.
func (j *Journal) Lock(serial string) (unlock func(), err error) {
	p, err := j.path(serial)
	if err != nil {
		return nil, err
	}
	lockPath := strings.TrimSuffix(p, journalSuffix) + journalLockSuffix
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock token %s: %w", serial, err)
	}
	held, err := lockFile(f)
	if err != nil || held {
		f.Close()
		if held {
			return nil, fmt.Errorf("token %s: %w in another process or window", serial, ErrInstallInProgress)
		}
		return nil, fmt.Errorf("lock token %s: %w", serial, err)
	}
	// The lock file stays: removing it would let a third process lock a
	// new file while the second still holds the old one.
	return func() { f.Close() }, nil
}

// Remove deletes the token's journal: the install is over (done or undone).
// Removing a journal that does not exist is not an error.
func (j *Journal) Remove(serial string) error {
	p, err := j.path(serial)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove journal: %w", err)
	}
	// Temporary files of a writer killed between create and rename.
	if stale, _ := filepath.Glob(p + journalTmpGlob); len(stale) > 0 {
		for _, s := range stale {
			os.Remove(s)
		}
	}
	return journalSyncDir(j.dir)
}
