package token

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/miekg/pkcs11"
)

// MaxPINLen bounds the PINs Login and ChangePIN pass to a module, in bytes
// (PKCS#11 tokens allow far less; this only keeps absurd input out).
const MaxPINLen = 256

// Token is an open token: one PKCS#11 session, guarded by a mutex because a
// session runs one operation at a time. Keep a Token open while working with
// it: closing the last session of a token logs it out and invalidates
// object handles (SoftHSM2 then answers 0x82).
type Token struct {
	lib    *library
	serial string
	slot   uint
	pins   pinOps // the module, or a fake in tests

	mu       sync.Mutex
	session  pkcs11.SessionHandle
	open     bool
	loggedIn bool
}

// pinOps is the part of a module the PIN logic needs; tests put a fake
// behind it to reach the states SoftHSM2 never reaches (final try, locked).
type pinOps interface {
	Login(sh pkcs11.SessionHandle, userType uint, pin string) error
	Logout(sh pkcs11.SessionHandle) error
	SetPIN(sh pkcs11.SessionHandle, oldPIN, newPIN string) error
	GetTokenInfo(slotID uint) (pkcs11.TokenInfo, error)
}

// Open tries to find a token this many times, openRetryGap apart, while some
// slot's C_GetTokenInfo fails (a busy token, see tokensLocked).
const (
	openAttempts = 5
	openRetryGap = 10 * time.Millisecond
)

// Open finds the initialised token with the given serial and opens a
// read-write session on it (read-only if the token is write-protected).
func (m *Module) Open(ctx context.Context, serial string) (*Token, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tok, unreadable, err := m.openOnce(serial)
		if tok != nil || err != nil {
			return tok, err
		}
		if unreadable == 0 || attempt == openAttempts {
			return nil, fmt.Errorf("token %s in %s: %w", serial, m.lib.path, ErrTokenNotFound)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(openRetryGap):
		}
	}
}

// openOnce opens the token if it is listed now; (nil, n, nil) when it is not.
func (m *Module) openOnce(serial string) (*Token, int, error) {
	lib := m.lib
	lib.mu.Lock()
	defer lib.mu.Unlock()
	infos, unreadable, err := lib.tokensLocked()
	if err != nil {
		return nil, 0, err
	}
	for _, ti := range infos {
		if ti.Serial != serial {
			continue
		}
		flags := uint(pkcs11.CKF_SERIAL_SESSION)
		if !ti.ReadOnly {
			flags |= pkcs11.CKF_RW_SESSION
		}
		sh, err := lib.ctx.OpenSession(ti.Slot, flags)
		if err != nil {
			return nil, 0, fmt.Errorf("token %s: %w", serial, p11err("open session", err))
		}
		lib.acquireToken()
		return &Token{lib: lib, serial: serial, slot: ti.Slot, pins: lib.ctx, session: sh, open: true}, 0, nil
	}
	return nil, unreadable, nil
}

// Serial is the token's serial number.
func (t *Token) Serial() string { return t.serial }

// Module is the path of the module the token was opened through.
func (t *Token) Module() string { return t.lib.path }

// Close logs out, closes the session and releases the module.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.open {
		return nil
	}
	t.open = false
	err := p11err("close session", t.lib.ctx.CloseSession(t.session))
	if isCode(err, pkcs11.CKR_SESSION_HANDLE_INVALID) || isCode(err, pkcs11.CKR_SESSION_CLOSED) ||
		isCode(err, pkcs11.CKR_DEVICE_REMOVED) || isCode(err, pkcs11.CKR_TOKEN_NOT_PRESENT) {
		err = nil
	}
	if rerr := t.lib.release(true); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("token %s: %w", t.serial, err)
	}
	return nil
}

// lock takes the session for one operation.
func (t *Token) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	if !t.open {
		t.mu.Unlock()
		return fmt.Errorf("token %s: %w", t.serial, ErrClosed)
	}
	return nil
}

// Info reads the token's current information (label, PIN state...).
func (t *Token) Info(ctx context.Context) (TokenInfo, error) {
	if err := t.lock(ctx); err != nil {
		return TokenInfo{}, err
	}
	defer t.mu.Unlock()
	ti, err := t.tokenInfoLocked()
	if err != nil {
		return TokenInfo{}, fmt.Errorf("token %s: %w", t.serial, p11err("get token info", err))
	}
	return tokenInfo(t.lib.path, t.slot, ti), nil
}

// tokenInfoLocked reads C_GetTokenInfo, trying again (openAttempts times,
// openRetryGap apart) when it fails: SoftHSM2 fails it transiently while
// another process logs in.
func (t *Token) tokenInfoLocked() (pkcs11.TokenInfo, error) {
	var (
		ti  pkcs11.TokenInfo
		err error
	)
	for attempt := 1; attempt <= openAttempts; attempt++ {
		if ti, err = t.pins.GetTokenInfo(t.slot); err == nil {
			return ti, nil
		}
		if isCode(err, pkcs11.CKR_SLOT_ID_INVALID) || isCode(err, pkcs11.CKR_TOKEN_NOT_PRESENT) || isCode(err, pkcs11.CKR_DEVICE_REMOVED) {
			break
		}
		time.Sleep(openRetryGap)
	}
	return ti, err
}

// LoggedIn reports whether this Token has logged in the user.
func (t *Token) LoggedIn() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.loggedIn
}

// Login logs the user in with pin and then wipes pin's bytes, whatever the
// outcome. It tries exactly once: a wrong PIN is never retried. A PIN
// failure is a *PINError carrying the token's PIN state after the attempt
// (errors.Is(err, ErrPINIncorrect), ErrPINLocked, ErrPINExpired...).
// A token already logged in (CKR_USER_ALREADY_LOGGED_IN) counts as success.
func (t *Token) Login(ctx context.Context, pin []byte) error {
	defer wipe(pin)
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if len(pin) == 0 || len(pin) > MaxPINLen {
		return fmt.Errorf("token %s: login: pin of %d bytes: %w", t.serial, len(pin), ErrPINInvalid)
	}
	err := t.pins.Login(t.session, pkcs11.CKU_USER, bytesAsString(pin))
	if err == nil || isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		t.loggedIn = true
		return nil
	}
	return t.pinError("login", err)
}

// Logout logs the user out. Not being logged in is not an error.
func (t *Token) Logout(ctx context.Context) error {
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.mu.Unlock()
	err := t.pins.Logout(t.session)
	t.loggedIn = false
	if err != nil && !isCode(err, pkcs11.CKR_USER_NOT_LOGGED_IN) {
		return fmt.Errorf("token %s: %w", t.serial, p11err("logout", err))
	}
	return nil
}

// ChangePIN changes the user PIN from oldPIN to newPIN (C_SetPIN in a
// read-write session, logged in or not), then wipes both.
func (t *Token) ChangePIN(ctx context.Context, oldPIN, newPIN []byte) error {
	defer wipe(oldPIN)
	defer wipe(newPIN)
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if len(oldPIN) == 0 || len(newPIN) == 0 || len(oldPIN) > MaxPINLen || len(newPIN) > MaxPINLen {
		return fmt.Errorf("token %s: change pin: %w", t.serial, ErrPINInvalid)
	}
	err := t.pins.SetPIN(t.session, bytesAsString(oldPIN), bytesAsString(newPIN))
	if err == nil {
		return nil
	}
	return t.pinError("change pin", err)
}

// pinError turns a failed PIN operation into a *PINError when it is about
// the PIN, reading the PIN state the token reports now.
func (t *Token) pinError(op string, err error) error {
	werr := p11err(op, err)
	pinCodes := []uint{pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_PIN_EXPIRED,
		pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE}
	for _, c := range pinCodes {
		if isCode(err, c) {
			pe := &PINError{Serial: t.serial, Err: werr}
			if ti, ierr := t.tokenInfoLocked(); ierr == nil {
				pe.State = pinStateFromFlags(ti.Flags)
				pe.StateKnown = true
			}
			if c == pkcs11.CKR_PIN_LOCKED {
				pe.State.Locked, pe.StateKnown = true, true
			}
			if c == pkcs11.CKR_PIN_EXPIRED {
				pe.State.MustChange, pe.StateKnown = true, true
			}
			return pe
		}
	}
	return fmt.Errorf("token %s: %w", t.serial, werr)
}

// bytesAsString views pin as a string without copying it into memory the
// garbage collector owns, so wiping pin wipes the only Go copy. (The module
// binding makes a short-lived C copy that it frees.)
func bytesAsString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
