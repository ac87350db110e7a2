package model

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
)

// MaxPINLen is the longest PIN the dialog accepts, in characters. PKCS#11
// tokens report their own limits (ulMaxPinLen, commonly 16 or 32); 64 leaves
// room for every one seen while catching a paste of the wrong text.
const MaxPINLen = 64

// PINVM is the state of the PIN dialog for one token. It shows the token's
// PIN state (tries running low, last try, locked), passes one PIN to one
// action per Submit and never retries by itself: after a wrong PIN the clerk
// must type again. The PIN's bytes are wiped when Submit returns.
type PINVM struct {
	src    PINSource
	serial string
	action func(ctx context.Context, pin []byte) error

	// Note is "" or what the PIN state means ("只剩最后一次机会…").
	Note binding.String
	// NoteLevel is the urgency of Note (a Level).
	NoteLevel binding.Int
	// Message is the outcome of the last Submit, or why it was refused.
	Message binding.String
	// Failed is true when Message reports a failure or a refusal.
	Failed binding.Bool
	// Busy is true while the action runs; Submit is refused meanwhile.
	Busy binding.Bool
	// Locked is true when the token's PIN is locked: nothing more to try.
	Locked binding.Bool
	// Done is true once the action succeeded.
	Done binding.Bool

	mu   sync.Mutex
	busy bool
}

// NewPINVM returns the view-model for the token with serial. action is what
// the PIN is for; nil means only checking it (PINSource.CheckPIN).
func NewPINVM(src PINSource, serial string, action func(ctx context.Context, pin []byte) error) *PINVM {
	if action == nil {
		action = func(ctx context.Context, pin []byte) error { return src.CheckPIN(ctx, serial, pin) }
	}
	return &PINVM{
		src: src, serial: serial, action: action,
		Note: binding.NewString(), NoteLevel: binding.NewInt(), Message: binding.NewString(), Failed: binding.NewBool(),
		Busy: binding.NewBool(), Locked: binding.NewBool(), Done: binding.NewBool(),
	}
}

// Serial is the token the dialog is for.
func (vm *PINVM) Serial() string { return vm.serial }

// LoadState reads the token's PIN state and publishes it.
func (vm *PINVM) LoadState(ctx context.Context) error {
	st, err := vm.src.PINState(ctx, vm.serial)
	if err != nil {
		vm.say(lang.X("pin.state_failed", "无法读取口令状态：{{.Err}}", map[string]any{"Err": errText(err)}), true)
		return fmt.Errorf("pin state of %s: %w", vm.serial, err)
	}
	vm.setState(st)
	return nil
}

// say publishes the outcome message; failed marks it as a failure.
func (vm *PINVM) say(msg string, failed bool) {
	_ = vm.Failed.Set(failed)
	_ = vm.Message.Set(msg)
}

func (vm *PINVM) setState(st PINState) {
	note, lvl := PINNote(st)
	_ = vm.Note.Set(note)
	_ = vm.NoteLevel.Set(int(lvl))
	_ = vm.Locked.Set(st.Locked)
}

// Errors Submit returns when it refuses a PIN without passing it on.
var (
	ErrPINEmpty   = errors.New("pin empty")
	ErrPINTooLong = errors.New("pin too long")
	ErrBusy       = errors.New("a pin is being checked")
	ErrLocked     = errors.New("pin locked: not tried")
)

// Submit passes pin once to the action and publishes the outcome. It wipes
// pin before returning, whatever happens. It blocks on the token: call it
// from a goroutine, not the UI goroutine.
func (vm *PINVM) Submit(ctx context.Context, pin []byte) error {
	defer clear(pin)
	switch n := utf8.RuneCount(pin); {
	case n == 0:
		vm.say(lang.X("pin.empty", "请输入口令。"), true)
		return ErrPINEmpty
	case n > MaxPINLen:
		vm.say(lang.X("pin.too_long", "口令不能超过 {{.Max}} 个字符。", map[string]any{"Max": MaxPINLen}), true)
		return ErrPINTooLong
	}
	if locked, _ := vm.Locked.Get(); locked {
		vm.say(lang.X("pin.locked", "口令已锁定：请联系发证机构解锁，不要再尝试。"), true)
		return ErrLocked
	}
	vm.mu.Lock()
	if vm.busy {
		vm.mu.Unlock()
		return ErrBusy
	}
	vm.busy = true
	vm.mu.Unlock()
	_ = vm.Busy.Set(true)
	vm.say(lang.X("pin.checking", "正在验证口令…"), false)
	defer func() {
		vm.mu.Lock()
		vm.busy = false
		vm.mu.Unlock()
		_ = vm.Busy.Set(false)
	}()

	err := vm.action(ctx, pin)
	clear(pin)
	if err == nil {
		_ = vm.Done.Set(true)
		vm.say(lang.X("pin.ok", "口令正确。"), false)
		if st, serr := vm.src.PINState(ctx, vm.serial); serr == nil {
			vm.setState(st) // a good PIN resets the counter
		}
		return nil
	}
	switch {
	case errors.Is(err, ErrPINLocked):
		vm.setState(PINState{Locked: true})
		vm.say(lang.X("pin.locked", "口令已锁定：请联系发证机构解锁，不要再尝试。"), true)
	case errors.Is(err, ErrPINIncorrect):
		vm.say(lang.X("pin.incorrect", "口令不正确。请核对后重新输入（注意大小写）。"), true)
		// The token counts the try: show what is left. A failure to read the
		// state keeps the incorrect-PIN message, which matters more.
		if st, serr := vm.src.PINState(ctx, vm.serial); serr == nil {
			vm.setState(st)
		}
	case errors.Is(err, ErrTokenRemoved):
		vm.say(lang.X("pin.removed", "UKey 已拔出。请插回后再输入口令。"), true)
	default:
		vm.say(lang.X("pin.failed", "无法验证口令：{{.Err}}", map[string]any{"Err": err}), true)
	}
	return fmt.Errorf("pin for %s: %w", vm.serial, err)
}
