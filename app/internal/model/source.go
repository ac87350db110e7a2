package model

import (
	"context"
	"errors"
	"time"
)

// TokenSource is what the Tokens screen needs from the PKCS#11 layer. The
// real one is an adapter over the token package (p11source.go, built with
// cgo); tests also use a fake that is named as such.
//
// Every method may block on the module (tens of milliseconds, more on a slow
// token): the view-models call them from their own goroutines, never from the
// UI goroutine.
type TokenSource interface {
	// List returns the tokens present now, sorted by serial. A token whose
	// label or certificates cannot be read is still listed, with the problem
	// in LabelErr or CertsErr; an error means the module itself failed.
	List(ctx context.Context) ([]Token, error)
	// Watch reports on the returned channel each time a token is inserted
	// or removed (the view-model then calls List). The channel is closed
	// when ctx is done or the watcher fails for good.
	Watch(ctx context.Context) (<-chan struct{}, error)
}

// PINSource reads a token's PIN state and checks a PIN. Check logs in with
// the PIN and out again; it must wipe the PIN's bytes whatever happens, and
// return an error wrapping ErrPINIncorrect, ErrPINLocked or ErrTokenRemoved
// when that is the cause.
type PINSource interface {
	PINState(ctx context.Context, serial string) (PINState, error)
	CheckPIN(ctx context.Context, serial string, pin []byte) error
}

// Errors a source wraps so that screens can say what happened in words.
var (
	ErrPINIncorrect = errors.New("pin incorrect")
	ErrPINLocked    = errors.New("pin locked")
	ErrTokenRemoved = errors.New("token removed")
	// ErrNoModule means no PKCS#11 module (the UKey vendor's driver)
	// could be loaded: nothing can be listed until one is installed.
	ErrNoModule = errors.New("no pkcs#11 module loaded")
)

// Token is one inserted token as the client shows it.
type Token struct {
	Serial       string
	Label        string
	LabelErr     error // the label could not be read or decoded
	Manufacturer string
	Model        string
	PIN          PINState
	Certs        []Cert
	CertsErr     error // the certificate inventory could not be read at all
}

// Cert is one certificate on a token. Err is set when the object exists but
// cannot be parsed; the other fields are then empty apart from Label.
type Cert struct {
	Label     string // the object's CKA_LABEL
	ID        []byte // CKA_ID, which ties the certificate to its key
	Holder    string // organisation (and person), as the clerk knows it
	Serial    string // upper-case hex
	Issuer    string
	NotBefore time.Time
	NotAfter  time.Time
	KeyType   string // "RSA 2048", "ECDSA P-256", "SM2"
	Err       error
}

// PINState is what the token says about its user PIN.
type PINState struct {
	CountLow   bool // a wrong PIN was entered since the last good one
	FinalTry   bool // the next wrong PIN locks the token
	Locked     bool
	MustChange bool
}

// Clock gives the current time; the Tokens screen computes days left from it.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
