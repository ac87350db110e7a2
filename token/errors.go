package token

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Sentinel errors. Every error a module returns is translated once, in
// p11err, into one of these (wrapped together with the original
// pkcs11.Error), so callers test with errors.Is and a GUI can explain the
// failure in words.
var (
	ErrPINIncorrect   = errors.New("pin incorrect")
	ErrPINLocked      = errors.New("pin locked")
	ErrPINExpired     = errors.New("pin expired, it must be changed")
	ErrPINInvalid     = errors.New("pin has invalid characters or length")
	ErrNotLoggedIn    = errors.New("not logged in")
	ErrTokenRemoved   = errors.New("token removed")
	ErrSessionClosed  = errors.New("session closed")
	ErrReadOnly       = errors.New("token is write-protected")
	ErrNoMemory       = errors.New("token memory full")
	ErrUnsupported    = errors.New("operation not supported by the module")
	ErrObjectNotFound = errors.New("object not found")
	ErrTokenNotFound  = errors.New("token not found")
	ErrClosed         = errors.New("token handle closed")
	ErrDeviceError    = errors.New("device error")
)

// codes maps PKCS#11 return values to sentinels. Codes not listed keep only
// the module's own error.
var codes = map[uint]error{
	pkcs11.CKR_PIN_INCORRECT:            ErrPINIncorrect,
	pkcs11.CKR_PIN_LOCKED:               ErrPINLocked,
	pkcs11.CKR_PIN_EXPIRED:              ErrPINExpired,
	pkcs11.CKR_PIN_INVALID:              ErrPINInvalid,
	pkcs11.CKR_PIN_LEN_RANGE:            ErrPINInvalid,
	pkcs11.CKR_USER_NOT_LOGGED_IN:       ErrNotLoggedIn,
	pkcs11.CKR_DEVICE_REMOVED:           ErrTokenRemoved,
	pkcs11.CKR_TOKEN_NOT_PRESENT:        ErrTokenRemoved,
	pkcs11.CKR_TOKEN_NOT_RECOGNIZED:     ErrTokenRemoved,
	pkcs11.CKR_SLOT_ID_INVALID:          ErrTokenRemoved,
	pkcs11.CKR_SESSION_HANDLE_INVALID:   ErrSessionClosed,
	pkcs11.CKR_SESSION_CLOSED:           ErrSessionClosed,
	pkcs11.CKR_TOKEN_WRITE_PROTECTED:    ErrReadOnly,
	pkcs11.CKR_SESSION_READ_ONLY:        ErrReadOnly,
	pkcs11.CKR_DEVICE_MEMORY:            ErrNoMemory,
	pkcs11.CKR_FUNCTION_NOT_SUPPORTED:   ErrUnsupported,
	pkcs11.CKR_MECHANISM_INVALID:        ErrUnsupported,
	pkcs11.CKR_OBJECT_HANDLE_INVALID:    ErrObjectNotFound,
	pkcs11.CKR_KEY_HANDLE_INVALID:       ErrObjectNotFound,
	pkcs11.CKR_DEVICE_ERROR:             ErrDeviceError,
	pkcs11.CKR_GENERAL_ERROR:            ErrDeviceError,
	pkcs11.CKR_FUNCTION_FAILED:          ErrDeviceError,
	pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED: ErrClosed,
}

// p11err wraps err, from the module call op, with its sentinel.
func p11err(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe pkcs11.Error
	if errors.As(err, &pe) {
		if s, ok := codes[uint(pe)]; ok {
			return fmt.Errorf("%s: %w (%w)", op, s, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isCode reports whether err carries the PKCS#11 return value code.
func isCode(err error, code uint) bool {
	var pe pkcs11.Error
	return errors.As(err, &pe) && uint(pe) == code
}

// PINState is what a token says about its user PIN (CKF_USER_PIN_* flags).
type PINState struct {
	CountLow   bool `json:"count_low"`   // at least one wrong PIN since the last good one
	FinalTry   bool `json:"final_try"`   // the next wrong PIN locks the token
	Locked     bool `json:"locked"`      // the user PIN is locked
	MustChange bool `json:"must_change"` // the PIN is the default or expired and must be changed
	Set        bool `json:"initialized"` // a user PIN has been set
}

func pinStateFromFlags(flags uint) PINState {
	return PINState{
		CountLow:   flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0,
		FinalTry:   flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0,
		Locked:     flags&pkcs11.CKF_USER_PIN_LOCKED != 0,
		MustChange: flags&(pkcs11.CKF_USER_PIN_TO_BE_CHANGED) != 0,
		Set:        flags&pkcs11.CKF_USER_PIN_INITIALIZED != 0,
	}
}

// String gives the state in words, for messages.
func (s PINState) String() string {
	switch {
	case s.Locked:
		return "locked"
	case s.FinalTry:
		return "final try: the next wrong PIN locks the token"
	case s.CountLow:
		return "a wrong PIN was entered before"
	case s.MustChange:
		return "must be changed"
	case !s.Set:
		return "not set"
	}
	return "ok"
}

// PINError is a failed login or PIN change, with the token's PIN state read
// right after the failure (when the token still answers). Err is one of the
// sentinels (ErrPINIncorrect, ErrPINLocked, ErrPINExpired, ErrPINInvalid)
// wrapped with the module's error.
type PINError struct {
	Serial string
	State  PINState
	// StateKnown is false when the token could not be asked for its PIN
	// state after the failure; then State says nothing (a GUI should warn
	// that tries may be running out).
	StateKnown bool
	Err        error
}

func (e *PINError) Error() string {
	if !e.StateKnown {
		return fmt.Sprintf("token %s: %v; pin state unknown", e.Serial, e.Err)
	}
	return fmt.Sprintf("token %s: %v; pin state: %s", e.Serial, e.Err, e.State)
}

func (e *PINError) Unwrap() error { return e.Err }
