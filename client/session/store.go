package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/ukeyrenew/ukeyrenew/internal/tpmdev"
)

// Where says where a session is kept.
type Where int

// The places, best first. The zero Where means "nowhere".
const (
	InKeyring    Where = iota + 1 // the OS keyring
	InSealedFile                  // a file sealed by this machine's TPM
	InMemory                      // this process only: lost at exit
)

func (w Where) String() string {
	switch w {
	case InKeyring:
		return "keyring"
	case InSealedFile:
		return "tpm-sealed file"
	case InMemory:
		return "memory"
	}
	return "nowhere"
}

// Persistent reports whether a session kept there survives a restart.
func (w Where) Persistent() bool { return w == InKeyring || w == InSealedFile }

// Defaults and limits of Options.
const (
	DefaultService = "ukeyrenew"
	DefaultAccount = "session"
	DefaultTimeout = 5 * time.Second
	MaxTimeout     = time.Minute
)

// Options configure a Store. The zero value is the desktop client's setup.
type Options struct {
	// Service and Account name the keyring entry; Account also names the
	// sealed file (Account + ".sealed"). Letters, digits, '.', '_', '-',
	// at most 64 each. Defaults: DefaultService, DefaultAccount.
	Service, Account string
	// Dir holds the sealed file. Default: the user config dir + "/ukeyrenew"
	// (on Windows %AppData%, which may roam: a copy that roamed to another
	// machine is discarded there with ErrSealedElsewhere).
	Dir string
	// NoKeyring and NoTPM skip a backend (for example when policy forbids it).
	NoKeyring, NoTPM bool
	// OpenTPM opens a connection to the TPM; default tpmdev.Open. Each
	// call must return a new connection that the store closes.
	OpenTPM func() (transport.TPMCloser, error)
	// OwnerAuth is the owner hierarchy's authorization value (usually
	// empty); KeyAuth protects the sealed key. At most MaxAuth bytes each.
	OwnerAuth, KeyAuth []byte
	// Timeout bounds every keyring and TPM call; default DefaultTimeout,
	// at most MaxTimeout.
	Timeout time.Duration
	// Now is the clock used to judge expiry; default time.Now.
	Now func() time.Time
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Store saves, loads and deletes one session record.
type Store struct {
	mu      sync.Mutex
	now     func() time.Time
	keyring *keyringBackend // nil when unavailable
	sealed  *sealedBackend  // nil when no config dir
	tpmOK   bool            // sealed can seal and unseal
	memory  []byte
	where   Where
	why     error
}

// Open finds the best place to keep the session (see the package comment).
// It fails only on invalid options: without keyring and TPM the store keeps
// the session in memory, and Where and Unavailable say so.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Service == "" {
		o.Service = DefaultService
	}
	if o.Account == "" {
		o.Account = DefaultAccount
	}
	if !nameRE.MatchString(o.Service) {
		return nil, fmt.Errorf("session: service name %q: want 1-64 letters, digits, '.', '_' or '-'", o.Service)
	}
	if !nameRE.MatchString(o.Account) || o.Account == "." || o.Account == ".." {
		return nil, fmt.Errorf("session: account name %q: want 1-64 letters, digits, '.', '_' or '-'", o.Account)
	}
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0 || o.Timeout > MaxTimeout:
		return nil, fmt.Errorf("session: timeout %v: want more than 0 and at most %v", o.Timeout, MaxTimeout)
	}
	if len(o.OwnerAuth) > MaxAuth || len(o.KeyAuth) > MaxAuth {
		return nil, fmt.Errorf("session: tpm authorization values are limited to %d bytes", MaxAuth)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OpenTPM == nil {
		o.OpenTPM = tpmdev.Open
	}
	s := &Store{now: o.Now}
	var why []error

	dir := o.Dir
	if dir == "" {
		if cfg, err := os.UserConfigDir(); err == nil {
			dir = filepath.Join(cfg, "ukeyrenew")
		} else {
			why = append(why, fmt.Errorf("session: no config dir for the sealed file: %w", err))
		}
	}
	if dir != "" {
		s.sealed = &sealedBackend{
			path:      filepath.Join(dir, o.Account+".sealed"),
			open:      o.OpenTPM,
			ownerAuth: append([]byte(nil), o.OwnerAuth...),
			keyAuth:   append([]byte(nil), o.KeyAuth...),
			g:         newGuard("tpm", o.Timeout),
		}
	}

	if o.NoKeyring {
		why = append(why, fmt.Errorf("%w: turned off", ErrNoKeyring))
	} else {
		k := &keyringBackend{service: o.Service, account: o.Account, g: newGuard("keyring", o.Timeout)}
		if err := k.probe(ctx); err != nil {
			why = append(why, err)
		} else {
			s.keyring = k
		}
	}
	switch {
	case o.NoTPM:
		why = append(why, fmt.Errorf("%w: turned off", ErrNoTPM))
	case s.sealed != nil:
		if err := s.sealed.probe(ctx); err != nil {
			why = append(why, err)
		} else {
			s.tpmOK = true
		}
	}

	switch {
	case s.keyring != nil:
		s.where = InKeyring
	case s.tpmOK:
		s.where = InSealedFile
	default:
		s.where = InMemory
	}
	if s.where != InKeyring {
		s.why = errors.Join(why...)
	}
	return s, nil
}

// Where is the best place this store found: where Save will try first.
// When it is not Persistent, the GUI tells the user that the session will
// not survive a restart.
func (s *Store) Where() Where {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.where
}

// Unavailable says why better places were not used by Open or the last
// Save, and any failure to remove an older copy; nil when all went well.
func (s *Store) Unavailable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
}

type backend interface {
	save(ctx context.Context, data []byte) error
	load(ctx context.Context) ([]byte, error)
	remove(ctx context.Context) error
}

type memoryBackend struct{ s *Store }

func (m memoryBackend) save(_ context.Context, data []byte) error {
	m.s.memory = append([]byte(nil), data...)
	return nil
}

func (m memoryBackend) load(context.Context) ([]byte, error) {
	if m.s.memory == nil {
		return nil, ErrNoSession
	}
	return m.s.memory, nil
}

func (m memoryBackend) remove(context.Context) error {
	clear(m.s.memory)
	m.s.memory = nil
	return nil
}

type place struct {
	where Where
	b     backend
}

// usable lists the places that can save and load, best first.
func (s *Store) usable() []place {
	var ps []place
	if s.keyring != nil {
		ps = append(ps, place{InKeyring, s.keyring})
	}
	if s.tpmOK {
		ps = append(ps, place{InSealedFile, s.sealed})
	}
	return append(ps, place{InMemory, memoryBackend{s}})
}

// removable lists every place a copy may be in, including a sealed file
// that this TPM can no longer open.
func (s *Store) removable() []place {
	var ps []place
	if s.keyring != nil {
		ps = append(ps, place{InKeyring, s.keyring})
	}
	if s.sealed != nil {
		ps = append(ps, place{InSealedFile, s.sealed})
	}
	return append(ps, place{InMemory, memoryBackend{s}})
}

// Save keeps r in the best place that takes it and returns that place; the
// copies in other places are removed, so only one is ever kept. If the
// keyring or TPM fails, the next place is used, memory at the end: the
// record is never lost while the process runs.
func (s *Store) Save(ctx context.Context, r Record) (Where, error) {
	data, err := encodeRecord(r)
	if err != nil {
		return 0, err
	}
	if !s.now().Before(r.Expiry) {
		return 0, &FieldError{"Expiry", "is not in the future"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, p := range s.usable() {
		if err := p.b.save(ctx, data); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, q := range s.removable() {
			if q.where != p.where {
				if err := q.b.remove(ctx); err != nil {
					errs = append(errs, err)
				}
			}
		}
		s.why = errors.Join(errs...)
		return p.where, nil
	}
	return 0, errors.Join(errs...) // unreachable: memory always takes it
}

// Load returns the saved record, looking in every usable place, best first.
// ErrNoSession when there is none; ErrExpired when it has expired (it is
// then deleted). A copy that cannot be read (ErrCorrupt) or was sealed by
// another TPM (ErrSealedElsewhere) is deleted and its error returned when no
// other copy is found: the user signs in again.
func (s *Store) Load(ctx context.Context) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, p := range s.usable() {
		data, err := p.b.load(ctx)
		if err == nil {
			var r Record
			if r, err = decodeRecord(data); err == nil {
				if !s.now().Before(r.Expiry) {
					return Record{}, errors.Join(ErrExpired, s.removeAll(ctx))
				}
				return r, nil
			}
		}
		if errors.Is(err, ErrNoSession) {
			continue
		}
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrSealedElsewhere) {
			if rerr := p.b.remove(ctx); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		if first == nil {
			first = fmt.Errorf("%s: %w", p.where, err)
		}
	}
	if first != nil {
		return Record{}, first
	}
	return Record{}, ErrNoSession
}

// Delete removes the session from every place (sign-out). A place that
// fails is reported, after the others have been tried.
func (s *Store) Delete(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeAll(ctx)
}

func (s *Store) removeAll(ctx context.Context) error {
	var errs []error
	for _, p := range s.removable() {
		if err := p.b.remove(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
