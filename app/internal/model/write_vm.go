package model

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// WriteStep is one step of writing the renewed certificate (the steps of
// client/renewflow).
type WriteStep int

// The steps, in order.
const (
	WriteFetch   WriteStep = iota + 1 // fetch (having it issued) the certificate
	WriteWrite                        // write it to the token
	WriteVerify                       // read it back
	WriteConfirm                      // tell the service
)

// WriteSteps is the number of steps.
const WriteSteps = 4

// Errors an Installer wraps so the screen can say what to do.
var (
	// ErrNotConfirmed: the certificate is on the token, the service was not told.
	ErrNotConfirmed = errors.New("certificate on the token, service not told")
	// ErrJobUnfinished: an earlier write on this token was interrupted.
	ErrJobUnfinished = errors.New("an earlier write on this token is unfinished")
)

// Installer writes renewed certificates to tokens. The real one
// (write_p11.go, cgo) runs client/renewflow over the token package. A
// logged-in session stays open from Login to Close, so the PIN is asked once.
type Installer interface {
	// Login opens the token with serial and logs in with pin, which it wipes.
	Login(ctx context.Context, serial string, pin []byte) error
	// Install writes application a's certificate to the logged-in token,
	// reporting each step as it starts.
	Install(ctx context.Context, c *client.Client, a *renewal.Application, progress func(WriteStep)) error
	// Finish completes or rolls back an interrupted write on the logged-in
	// token (token.Recover) and says which: FinishCompleted,
	// FinishRolledBack, FinishPending or FinishNothing.
	Finish(ctx context.Context) (FinishOutcome, error)
	// Unfinished lists the inserted tokens whose journal holds an
	// interrupted write.
	Unfinished(ctx context.Context) ([]string, error)
	// Close logs out and closes the token.
	Close()
}

// FinishOutcome is what finishing an interrupted write did (the outcomes
// of token.Recover).
type FinishOutcome string

// The outcomes.
const (
	FinishCompleted  FinishOutcome = "completed"     // the new certificate is in place
	FinishRolledBack FinishOutcome = "rolled_back"   // the old certificate is in place
	FinishPending    FinishOutcome = "pending"       // a re-key's new key pair waits for its certificate
	FinishNothing    FinishOutcome = "nothing_to_do" // there was nothing to finish
)

// WriteVM is the Write screen: the PIN (through a PINVM, so the dialog
// shows the PIN state and never retries), then the steps with a progress
// bar. A re-key asks first. At start-up, Check offers to finish a write that
// was interrupted (unplugged token, crash).
type WriteVM struct {
	acc  *Account
	inst Installer
	pins PINSource

	// Progress is 0–1; StepText names the step running.
	Progress binding.Float
	StepText binding.String
	Message  binding.String
	Busy     binding.Bool
	// Done is true once the certificate is on the token and confirmed.
	Done binding.Bool
	// Unfinished lists tokens with an interrupted write (Check).
	Unfinished binding.StringList
	// NeedsRekeyOK is true while a re-key waits for the clerk's consent.
	NeedsRekeyOK binding.Bool

	mu        sync.Mutex
	jobs      int // writes and finishes running (job)
	updating  int // update handovers holding writes off (HoldForUpdate)
	app       *renewal.Application
	serial    string
	rekeyOK   bool
	finishing string // the token FinishPINVM logged in to
}

// NewWriteVM returns the view-model.
func NewWriteVM(acc *Account, inst Installer, pins PINSource) *WriteVM {
	return &WriteVM{acc: acc, inst: inst, pins: pins, Progress: binding.NewFloat(), StepText: binding.NewString(),
		Message: binding.NewString(), Busy: binding.NewBool(), Done: binding.NewBool(),
		Unfinished: binding.NewStringList(), NeedsRekeyOK: binding.NewBool()}
}

// StepName names a step.
func StepName(s WriteStep) string {
	switch s {
	case WriteFetch:
		return lang.X("write.step_fetch", "正在获取新证书…")
	case WriteWrite:
		return lang.X("write.step_write", "正在写入 UKey，请勿拔出…")
	case WriteVerify:
		return lang.X("write.step_verify", "正在校验…")
	case WriteConfirm:
		return lang.X("write.step_confirm", "正在通知续期服务…")
	}
	return ""
}

// Target is what the screen writes: application a onto the token with
// serial (the one holding the certificate being renewed).
func (vm *WriteVM) Target() (*renewal.Application, string) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.app, vm.serial
}

// ErrWriteRunning: a certificate is being written to a UKey; the next
// write (or counter mode's next customer) waits until it ends.
var ErrWriteRunning = errors.New("a certificate is being written to a ukey")

// ErrNoToken: the certificate to renew is on no inserted token.
var ErrNoToken = errors.New("the certificate is on no inserted token")

// Prepare chooses application a and finds the token holding its
// certificate among the inserted ones. A re-key then waits for ConfirmRekey.
func (vm *WriteVM) Prepare(ctx context.Context, src TokenSource, a renewal.Application) error {
	if vm.Running() {
		_ = vm.Message.Set(lang.X("write.busy", "正在写入另一份申请的证书，请等它完成后再写入这一份。"))
		return ErrWriteRunning
	}
	_ = vm.Done.Set(false)
	_ = vm.Progress.Set(0)
	_ = vm.StepText.Set("")
	if a.Status != renewal.StatusReadyToDownload {
		st, _ := StatusText(a.Status)
		_ = vm.Message.Set(lang.X("write.not_ready", "这份申请现在是“{{.Status}}”，还不能写入 UKey。", map[string]any{"Status": st}))
		return fmt.Errorf("application %s is %s: %w", a.ID, a.Status, ErrActionNotOffered)
	}
	toks, err := src.List(ctx)
	if err != nil {
		_ = vm.Message.Set(lang.X("write.no_tokens", "无法读取 UKey：{{.Err}}", map[string]any{"Err": errText(err)}))
		return err
	}
	serial := holding(toks, a.CertSerial)
	if serial == "" {
		// A write that was finished after an interruption (Finish) left
		// the renewed certificate in place of the old one: the service
		// still waits to be told, and the token is found by the new one.
		if is, err := vm.acc.Client().Certificate(ctx, a.ID); err == nil {
			serial = holding(toks, is.Serial)
		}
	}
	if serial == "" {
		_ = vm.Message.Set(lang.X("write.insert", "请插入存有证书 {{.Serial}} 的 UKey。", map[string]any{"Serial": a.CertSerial}))
		return ErrNoToken
	}
	vm.mu.Lock()
	vm.app, vm.serial, vm.rekeyOK = &a, serial, !a.Rekey
	vm.mu.Unlock()
	_ = vm.NeedsRekeyOK.Set(a.Rekey)
	if a.Rekey {
		_ = vm.Message.Set(lang.X("write.rekey_ask", "这次续期会在 UKey 上生成新的密钥对。用旧证书加密的数据（例如尚未开标的投标文件）以后仍需要旧密钥才能解密。确定继续吗？"))
	} else {
		_ = vm.Message.Set(lang.X("write.ready", "请输入 UKey 口令开始写入。口令只用于这一次操作，不会被保存。"))
	}
	return nil
}

// holding is the serial of the token holding the certificate with
// certSerial, or "".
func holding(toks []Token, certSerial string) string {
	for _, t := range toks {
		for _, c := range t.Certs {
			if c.Err == nil && renewal.NormalizeSerial(c.Serial) == renewal.NormalizeSerial(certSerial) {
				return t.Serial
			}
		}
	}
	return ""
}

// ConfirmRekey records the clerk's consent to a re-key.
func (vm *WriteVM) ConfirmRekey() {
	vm.mu.Lock()
	vm.rekeyOK = true
	vm.mu.Unlock()
	_ = vm.NeedsRekeyOK.Set(false)
	_ = vm.Message.Set(lang.X("write.ready", "请输入 UKey 口令开始写入。口令只用于这一次操作，不会被保存。"))
}

// ErrRekeyNotConfirmed: a re-key was not agreed to.
var ErrRekeyNotConfirmed = errors.New("re-key not confirmed")

// PINVM returns the PIN dialog's view-model for the target token: its
// action logs in (once per press; never retried).
func (vm *WriteVM) PINVM() *PINVM {
	_, serial := vm.Target()
	return NewPINVM(vm.pins, serial, func(ctx context.Context, pin []byte) error {
		vm.mu.Lock()
		ok := vm.rekeyOK
		vm.mu.Unlock()
		if !ok {
			clear(pin)
			return ErrRekeyNotConfirmed
		}
		return vm.inst.Login(ctx, serial, pin)
	})
}

// Run writes the target application's certificate on the logged-in token.
// It blocks: call it from a goroutine after the PIN dialog succeeded.
func (vm *WriteVM) Run(ctx context.Context) error {
	if err := vm.begin(); err != nil {
		return err
	}
	defer vm.job(-1)
	_ = vm.Busy.Set(true)
	defer vm.Busy.Set(false)
	defer vm.inst.Close() // before Busy goes: a next press logs in anew
	return vm.install(ctx)
}

// install runs the steps on the logged-in token. A token pulled out on the
// way is offered to finish (the journal may hold the write) even while it
// is out: the message asks to insert it again first.
func (vm *WriteVM) install(ctx context.Context) error {
	a, serial := vm.Target()
	if a == nil {
		return ErrNoToken
	}
	err := vm.inst.Install(ctx, vm.acc.Client(), a, func(s WriteStep) {
		_ = vm.Progress.Set(float64(s-1) / WriteSteps)
		_ = vm.StepText.Set(StepName(s))
	})
	if err != nil {
		_ = vm.Check(ctx) // an interrupted write is offered to finish
		if errors.Is(err, ErrTokenRemoved) {
			vm.offer(serial)
		}
		_ = vm.StepText.Set("")
		_ = vm.Progress.Set(0) // the steps start again on the next press
		_ = vm.Message.Set(vm.writeErrText(err, serial))
		vm.acc.Ended(ctx, err)
		return err
	}
	_ = vm.Progress.Set(1)
	_ = vm.StepText.Set("")
	_ = vm.Done.Set(true)
	_ = vm.Message.Set(lang.X("write.done", "新证书已写入 UKey 并校验通过，续期完成。"))
	return nil
}

// offer adds serial to the tokens offered to finish.
func (vm *WriteVM) offer(serial string) {
	cur, _ := vm.Unfinished.Get()
	for _, s := range cur {
		if s == serial {
			return
		}
	}
	_ = vm.Unfinished.Set(append(append([]string{}, cur...), serial))
}

func (vm *WriteVM) writeErrText(err error, serial string) string {
	switch {
	case errors.Is(err, ErrTokenRemoved):
		return lang.X("write.removed", "UKey 在写入过程中被拔出，证书没有丢失。请重新插入同一枚 UKey，然后点击“继续未完成的写入”。")
	case errors.Is(err, ErrJobUnfinished):
		return lang.X("write.unfinished", "UKey {{.Serial}} 上有一次未完成的写入，请先点击“继续未完成的写入”。", map[string]any{"Serial": serial})
	case errors.Is(err, ErrNotConfirmed):
		return lang.X("write.not_confirmed", "新证书已写入 UKey，但未能通知续期服务（{{.Err}}）。请再次点击“输入口令并写入”，不会重复写入。",
			map[string]any{"Err": ServiceErrText(err)})
	}
	var api *client.APIError
	if errors.As(err, &api) || renewal.CodeOf(err) != renewal.CodeUnknown {
		return ServiceErrText(err)
	}
	if ne := net.Error(nil); errors.As(err, &ne) {
		return lang.X("write.service_down", "无法连接续期服务，新证书还没有写入，UKey 上的原证书仍然可用。请检查网络后再次点击“输入口令并写入”。")
	}
	return lang.X("write.failed", "写入失败：{{.Err}}。UKey 上的原证书仍然可用，可以重试。", map[string]any{"Err": errText(err)})
}

// job counts a write or a finish starting (+1) or ending (-1), under mu so
// that CheckUnlessBusy never reads a running write's journal as an
// interrupted one.
func (vm *WriteVM) job(d int) {
	vm.mu.Lock()
	vm.jobs += d
	vm.mu.Unlock()
}

// Running reports whether a write or a finish is running.
func (vm *WriteVM) Running() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.jobs > 0
}

// CheckUnlessBusy is Check, skipped while a write or a finish runs (its
// journal is its own, not an interrupted write's); a write cannot start
// while it looks.
func (vm *WriteVM) CheckUnlessBusy(ctx context.Context) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.jobs > 0 {
		return nil
	}
	return vm.Check(ctx)
}

// Check looks for interrupted writes on the inserted tokens (at start-up
// and when a token is inserted).
func (vm *WriteVM) Check(ctx context.Context) error {
	serials, err := vm.inst.Unfinished(ctx)
	if err != nil {
		return err
	}
	_ = vm.Unfinished.Set(serials)
	if len(serials) > 0 {
		_ = vm.Message.Set(lang.X("write.offer_finish", "UKey {{.Serial}} 上次的证书写入没有完成（可能中途拔出或断电）。UKey 上仍保留可用的证书。输入口令即可继续完成。",
			map[string]any{"Serial": serials[0]}))
	}
	return nil
}

// FinishPINVM returns the PIN dialog's view-model for finishing the
// interrupted write on the token with serial.
func (vm *WriteVM) FinishPINVM(serial string) *PINVM {
	return NewPINVM(vm.pins, serial, func(ctx context.Context, pin []byte) error {
		if err := vm.inst.Login(ctx, serial, pin); err != nil {
			return err
		}
		vm.mu.Lock()
		vm.finishing = serial
		vm.mu.Unlock()
		return nil
	})
}

// Finish completes or rolls back the interrupted write on the logged-in
// token and checks again. When the write was this screen's own target, it
// then carries on with it (with the PIN already given): the new
// certificate is written if the interrupted write was undone, and the
// service is told; so one press finishes the renewal.
func (vm *WriteVM) Finish(ctx context.Context) error {
	if err := vm.begin(); err != nil {
		return err
	}
	defer vm.job(-1)
	_ = vm.Busy.Set(true)
	defer vm.Busy.Set(false)
	defer vm.inst.Close() // before Busy goes: a next press logs in anew
	outcome, err := vm.inst.Finish(ctx)
	if err != nil {
		_ = vm.Message.Set(lang.X("write.finish_failed", "未能完成上次的写入：{{.Err}}", map[string]any{"Err": errText(err)}))
		return err
	}
	vm.mu.Lock()
	finishing := vm.finishing
	vm.mu.Unlock()
	a, serial := vm.Target()
	done, _ := vm.Done.Get()
	vm.mu.Lock()
	consented := vm.rekeyOK
	vm.mu.Unlock()
	if a != nil && serial == finishing && !done && consented { // a re-key goes on only once the clerk agreed
		_ = vm.Check(ctx)
		return vm.install(ctx)
	}
	_ = vm.Message.Set(FinishText(outcome))
	return vm.Check(ctx)
}

// FinishText says what finishing an interrupted write did, and what is
// left to do.
func FinishText(o FinishOutcome) string {
	switch o {
	case FinishCompleted:
		return lang.X("write.finished_completed", "上次的写入已完成：新证书已在 UKey 上。请在“申请进度”中对这份申请再点一次“写入 UKey”，通知续期服务（不会重复写入）。")
	case FinishRolledBack:
		return lang.X("write.finished_rolled_back", "上次的写入已撤销：UKey 上是原来的证书，可以重新写入。")
	case FinishPending:
		return lang.X("write.finished_pending", "新密钥对已保留在 UKey 上，等待签发证书：请再次点击“写入 UKey”。")
	}
	return lang.X("write.finished_nothing", "UKey 上没有需要完成的写入。")
}
