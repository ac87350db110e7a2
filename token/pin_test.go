package token

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

func TestLoginRealPINStates(t *testing.T) {
	_, m, serials := openEnv(t, "pin")
	ctx := context.Background()
	tok := openToken(t, m, serials[0])

	wrong := []byte("0000")
	err := tok.Login(ctx, wrong)
	var pe *PINError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPINIncorrect) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if !pe.StateKnown || !pe.State.CountLow || pe.State.Locked || pe.Serial != serials[0] {
		t.Errorf("PIN state after a wrong PIN: %+v", pe)
	}
	if string(wrong) != "\x00\x00\x00\x00" {
		t.Errorf("PIN not wiped: %q", wrong)
	}
	if tok.LoggedIn() {
		t.Error("logged in after a wrong PIN")
	}
	if err := tok.Login(ctx, []byte{}); !errors.Is(err, ErrPINInvalid) {
		t.Errorf("empty PIN: %v", err)
	}
	long := make([]byte, MaxPINLen+1)
	long[0] = '1'
	if err := tok.Login(ctx, long); !errors.Is(err, ErrPINInvalid) || long[0] != 0 {
		t.Errorf("over-long PIN: %v", err)
	}
	good := []byte(userPIN)
	if err := tok.Login(ctx, good); err != nil {
		t.Fatal(err)
	}
	if string(good) != "\x00\x00\x00\x00" {
		t.Errorf("PIN not wiped after login: %q", good)
	}
	// Logging in again is not an error (CKR_USER_ALREADY_LOGGED_IN).
	if err := tok.Login(ctx, []byte(userPIN)); err != nil {
		t.Errorf("second login: %v", err)
	}
	info, err := tok.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.PIN.CountLow {
		t.Errorf("count low after a good login: %+v", info.PIN)
	}
	if err := tok.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tok.Logout(ctx); err != nil {
		t.Errorf("second logout: %v", err)
	}
}

func TestChangePIN(t *testing.T) {
	_, m, serials := openEnv(t, "change")
	ctx := context.Background()
	tok := openToken(t, m, serials[0])
	if err := tok.ChangePIN(ctx, []byte("9999"), []byte("2222")); !errors.Is(err, ErrPINIncorrect) {
		t.Fatalf("change with wrong old PIN: %v", err)
	}
	if err := tok.ChangePIN(ctx, []byte(userPIN), []byte{}); !errors.Is(err, ErrPINInvalid) {
		t.Fatalf("change to empty PIN: %v", err)
	}
	oldPIN, newPIN := []byte(userPIN), []byte("2222")
	if err := tok.ChangePIN(ctx, oldPIN, newPIN); err != nil {
		t.Fatal(err)
	}
	if string(oldPIN)+string(newPIN) != "\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Error("PINs not wiped")
	}
	if err := tok.Login(ctx, []byte(userPIN)); !errors.Is(err, ErrPINIncorrect) {
		t.Errorf("old PIN still works: %v", err)
	}
	if err := tok.Login(ctx, []byte("2222")); err != nil {
		t.Errorf("new PIN: %v", err)
	}
}

// fakeP11 is a fake of the module's PIN functions, for the PIN states
// SoftHSM2 never reaches (final try, locked, expired). It answers every
// Login with loginErr and reports flags as the token's state.
type fakeP11 struct {
	loginErr  error
	flags     uint
	infoErrs  int // GetTokenInfo fails this many times first (a busy token)
	infoCalls int
	logins    int
	gotPIN    string
}

func (f *fakeP11) Login(_ pkcs11.SessionHandle, _ uint, pin string) error {
	f.logins++
	f.gotPIN = string([]byte(pin)) // copy: the caller wipes its bytes
	return f.loginErr
}

func (f *fakeP11) Logout(pkcs11.SessionHandle) error { return nil }

func (f *fakeP11) SetPIN(_ pkcs11.SessionHandle, _, _ string) error { return f.loginErr }

func (f *fakeP11) GetTokenInfo(uint) (pkcs11.TokenInfo, error) {
	f.infoCalls++
	if f.infoCalls <= f.infoErrs {
		return pkcs11.TokenInfo{}, pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)
	}
	return pkcs11.TokenInfo{SerialNumber: "FAKE", Flags: f.flags}, nil
}

func TestLoginPINStatesFromFake(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		flags    uint
		sentinel error
		want     PINState
	}{
		{"final try", pkcs11.Error(pkcs11.CKR_PIN_INCORRECT),
			pkcs11.CKF_USER_PIN_INITIALIZED | pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY,
			ErrPINIncorrect, PINState{CountLow: true, FinalTry: true, Set: true}},
		{"locked", pkcs11.Error(pkcs11.CKR_PIN_LOCKED),
			pkcs11.CKF_USER_PIN_INITIALIZED | pkcs11.CKF_USER_PIN_LOCKED,
			ErrPINLocked, PINState{Locked: true, Set: true}},
		{"locked, flag not set by module", pkcs11.Error(pkcs11.CKR_PIN_LOCKED),
			pkcs11.CKF_USER_PIN_INITIALIZED,
			ErrPINLocked, PINState{Locked: true, Set: true}},
		{"expired", pkcs11.Error(pkcs11.CKR_PIN_EXPIRED),
			pkcs11.CKF_USER_PIN_INITIALIZED | pkcs11.CKF_USER_PIN_TO_BE_CHANGED,
			ErrPINExpired, PINState{MustChange: true, Set: true}},
		{"length", pkcs11.Error(pkcs11.CKR_PIN_LEN_RANGE),
			pkcs11.CKF_USER_PIN_INITIALIZED, ErrPINInvalid, PINState{Set: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeP11{loginErr: c.err, flags: c.flags}
			tok := &Token{serial: "FAKE", pins: f, open: true}
			pin := []byte("123456")
			err := tok.Login(context.Background(), pin)
			var pe *PINError
			if !errors.As(err, &pe) || !errors.Is(err, c.sentinel) {
				t.Fatalf("got %v, want a *PINError wrapping %v", err, c.sentinel)
			}
			if pe.State != c.want || !pe.StateKnown {
				t.Errorf("state %+v (known %v), want %+v", pe.State, pe.StateKnown, c.want)
			}
			if f.logins != 1 {
				t.Errorf("Login called %d times: a PIN must never be retried", f.logins)
			}
			if f.gotPIN != "123456" || string(pin) != "\x00\x00\x00\x00\x00\x00" {
				t.Errorf("module got %q, caller's bytes now %q", f.gotPIN, pin)
			}
			if tok.LoggedIn() {
				t.Error("logged in after a failed login")
			}
			if err := tok.ChangePIN(context.Background(), []byte("1"), []byte("2")); !errors.Is(err, c.sentinel) {
				t.Errorf("change pin: %v", err)
			}
		})
	}
	t.Run("final try, token busy when asked", func(t *testing.T) {
		f := &fakeP11{loginErr: pkcs11.Error(pkcs11.CKR_PIN_INCORRECT), infoErrs: 2,
			flags: pkcs11.CKF_USER_PIN_INITIALIZED | pkcs11.CKF_USER_PIN_FINAL_TRY}
		tok := &Token{serial: "FAKE", pins: f, open: true}
		var pe *PINError
		if err := tok.Login(context.Background(), []byte("1")); !errors.As(err, &pe) || !pe.StateKnown || !pe.State.FinalTry {
			t.Errorf("got %v", err)
		}
		if f.logins != 1 {
			t.Errorf("%d logins", f.logins)
		}
	})
	t.Run("state unknown", func(t *testing.T) {
		f := &fakeP11{loginErr: pkcs11.Error(pkcs11.CKR_PIN_INCORRECT), infoErrs: 100}
		tok := &Token{serial: "FAKE", pins: f, open: true}
		var pe *PINError
		err := tok.Login(context.Background(), []byte("1"))
		if !errors.As(err, &pe) || pe.StateKnown || !strings.Contains(err.Error(), "pin state unknown") {
			t.Errorf("got %v", err)
		}
		if f.infoCalls != openAttempts {
			t.Errorf("asked the token %d times, want %d", f.infoCalls, openAttempts)
		}
	})
	t.Run("already logged in", func(t *testing.T) {
		f := &fakeP11{loginErr: pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)}
		tok := &Token{serial: "FAKE", pins: f, open: true}
		if err := tok.Login(context.Background(), []byte("1")); err != nil || !tok.LoggedIn() {
			t.Errorf("got %v", err)
		}
	})
	t.Run("token removed", func(t *testing.T) {
		f := &fakeP11{loginErr: pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)}
		tok := &Token{serial: "FAKE", pins: f, open: true}
		err := tok.Login(context.Background(), []byte("1"))
		var pe *PINError
		if !errors.Is(err, ErrTokenRemoved) || errors.As(err, &pe) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		f := &fakeP11{}
		tok := &Token{serial: "FAKE", pins: f}
		pin := []byte("1")
		if err := tok.Login(context.Background(), pin); !errors.Is(err, ErrClosed) || f.logins != 0 || pin[0] != 0 {
			t.Errorf("got %v, %d logins, pin %q", err, f.logins, pin)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		f := &fakeP11{}
		tok := &Token{serial: "FAKE", pins: f, open: true}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := tok.Login(ctx, []byte("1")); !errors.Is(err, context.Canceled) || f.logins != 0 {
			t.Errorf("got %v", err)
		}
	})
}
