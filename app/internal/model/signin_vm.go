package model

import (
	"context"
	"errors"
	"sync"
	"time"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// DefaultResendWait is how long the send button waits before another SMS
// code may be asked for, when the service does not say (it answers
// resend_after, 60 s by default).
const DefaultResendWait = 60 * time.Second

// MaxPasswordLen is the longest password the sign-in screen sends, in bytes
// (the service's own limit is lower; this catches a paste of the wrong text).
const MaxPasswordLen = 1024

// SignInVM is the state of the sign-in screen: mobile and SMS code, or
// account and password. The resend countdown is computed from an injected
// clock by Tick, which the screen calls once a second. The password is
// passed through, never kept.
type SignInVM struct {
	acc   *Account
	clock Clock

	Mobile, Code, AccountName binding.String
	// MobileMsg and CodeMsg are the messages next to those fields.
	MobileMsg, CodeMsg binding.String
	// SendLabel is the text of the send button ("获取验证码", "重新发送（42 秒）").
	SendLabel binding.String
	// CanSend is false while a code may not be asked for again.
	CanSend binding.Bool
	// Message is the outcome of the last action.
	Message binding.String
	Busy    binding.Bool

	mu       sync.Mutex
	resendAt time.Time
	codeSent bool
	busy     bool
}

// NewSignInVM returns the view-model over acc.
func NewSignInVM(acc *Account, clock Clock) *SignInVM {
	if clock == nil {
		clock = SystemClock{}
	}
	vm := &SignInVM{acc: acc, clock: clock,
		Mobile: binding.NewString(), Code: binding.NewString(), AccountName: binding.NewString(),
		MobileMsg: binding.NewString(), CodeMsg: binding.NewString(),
		SendLabel: binding.NewString(), CanSend: binding.NewBool(), Message: binding.NewString(), Busy: binding.NewBool()}
	vm.Tick()
	vm.Code.AddListener(binding.NewDataListener(func() { _ = vm.CodeMsg.Set("") }))
	vm.Mobile.AddListener(binding.NewDataListener(func() {
		m, _ := vm.Mobile.Get()
		_ = vm.MobileMsg.Set(fieldText(renewal.CheckTyping(renewal.FieldRepMobile, m)))
	}))
	return vm
}

// Tick brings the resend countdown up to the clock.
func (vm *SignInVM) Tick() {
	vm.mu.Lock()
	left := vm.resendAt.Sub(vm.clock.Now())
	sent := vm.codeSent
	vm.mu.Unlock()
	switch {
	case left > 2*time.Minute:
		// A daily cap: the wait is hours, not a countdown of seconds.
		_ = vm.SendLabel.Set(lang.X("signin.resend_after", "重新发送（{{.Wait}}后）", map[string]any{"Wait": WaitText(left)}))
		_ = vm.CanSend.Set(false)
	case left > 0:
		secs := int((left + time.Second - 1) / time.Second)
		_ = vm.SendLabel.Set(lang.X("signin.resend_in", "重新发送（{{.N}} 秒）", map[string]any{"N": secs}))
		_ = vm.CanSend.Set(false)
	case sent:
		_ = vm.SendLabel.Set(lang.X("signin.resend", "重新发送验证码"))
		_ = vm.CanSend.Set(true)
	default:
		_ = vm.SendLabel.Set(lang.X("signin.send", "获取验证码"))
		_ = vm.CanSend.Set(true)
	}
}

// ResendIn is the time left before another code may be asked for.
func (vm *SignInVM) ResendIn() time.Duration {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return max(vm.resendAt.Sub(vm.clock.Now()), 0)
}

func (vm *SignInVM) waitResend(d time.Duration) {
	if d <= 0 {
		d = DefaultResendWait
	}
	vm.mu.Lock()
	vm.resendAt = vm.clock.Now().Add(d)
	vm.codeSent = true
	vm.mu.Unlock()
	vm.Tick()
}

func (vm *SignInVM) begin() bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.busy {
		return false
	}
	vm.busy = true
	_ = vm.Busy.Set(true)
	return true
}

func (vm *SignInVM) end() {
	vm.mu.Lock()
	vm.busy = false
	vm.mu.Unlock()
	_ = vm.Busy.Set(false)
}

// Errors of the sign-in view-model that are refused before any call.
var (
	ErrResendTooSoon = errors.New("an sms code was sent moments ago")
	ErrInvalidInput  = errors.New("invalid input")
)

// SendCode asks the service for an SMS code to the mobile typed. It blocks
// on the network: call it from a goroutine.
func (vm *SignInVM) SendCode(ctx context.Context) error {
	if vm.ResendIn() > 0 {
		return ErrResendTooSoon
	}
	m, _ := vm.Mobile.Get()
	if err := renewal.ValidateMobile(renewal.NormalizeMobile(m)); err != nil {
		_ = vm.MobileMsg.Set(fieldText(err))
		return errors.Join(ErrInvalidInput, err)
	}
	if !vm.begin() {
		return ErrInProgress
	}
	defer vm.end()
	sent, err := vm.acc.Client().SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: m})
	if err != nil {
		var api *client.APIError
		if errors.As(err, &api) && api.RetryAfter > 0 {
			vm.waitResend(api.RetryAfter) // the service says when
		}
		vm.showErr(err)
		return err
	}
	vm.waitResend(time.Duration(sent.ResendAfter) * time.Second)
	_ = vm.Message.Set(lang.X("signin.code_sent", "验证码已发送到 {{.Mobile}}，{{.Min}} 分钟内有效。",
		map[string]any{"Mobile": renewal.MaskMobile(renewal.NormalizeMobile(m)), "Min": max(sent.ExpiresIn/60, 1)}))
	return nil
}

// SignInSMS signs in with the mobile and the code typed.
func (vm *SignInVM) SignInSMS(ctx context.Context) error {
	m, _ := vm.Mobile.Get()
	code, _ := vm.Code.Get()
	req := renewal.SMSLoginRequest{Mobile: m, Code: code}
	if err := req.Validate(); err != nil {
		e := renewal.AsError(err)
		_ = vm.MobileMsg.Set(fieldText(fieldErr(e, "mobile")))
		_ = vm.CodeMsg.Set(fieldText(fieldErr(e, "code")))
		return errors.Join(ErrInvalidInput, err)
	}
	_ = vm.CodeMsg.Set("")
	return vm.signIn(ctx, func() error {
		_, err := vm.acc.Client().LoginSMS(ctx, req)
		return err
	})
}

// SignInPassword signs in with the account typed and password, which is
// not kept.
func (vm *SignInVM) SignInPassword(ctx context.Context, password string) error {
	acct, _ := vm.AccountName.Get()
	if len(password) > MaxPasswordLen {
		_ = vm.Message.Set(lang.X("signin.password_long", "密码太长（最多 {{.Max}} 字节）。", map[string]any{"Max": MaxPasswordLen}))
		return ErrInvalidInput
	}
	req := renewal.PasswordLoginRequest{Account: acct, Password: password}
	if err := req.Validate(); err != nil {
		_ = vm.Message.Set(fieldText(err))
		return errors.Join(ErrInvalidInput, err)
	}
	return vm.signIn(ctx, func() error {
		_, err := vm.acc.Client().Login(ctx, req)
		return err
	})
}

func (vm *SignInVM) signIn(ctx context.Context, call func() error) error {
	if !vm.begin() {
		return ErrInProgress
	}
	defer vm.end()
	_ = vm.Message.Set(lang.X("signin.signing_in", "正在登录…"))
	if err := call(); err != nil {
		vm.showErr(err)
		return err
	}
	_ = vm.Code.Set("")
	_ = vm.Message.Set("")
	return nil
}

// showErr shows what went wrong with a call: beside the mobile or the
// code when the service names that field (the day's cap on codes, a wrong
// code), else as the screen's message.
func (vm *SignInVM) showErr(err error) {
	text := ServiceErrText(err)
	var api *client.APIError
	if errors.As(err, &api) {
		switch api.Field {
		case "mobile":
			_ = vm.Message.Set("")
			_ = vm.MobileMsg.Set(text)
			return
		case "code":
			_ = vm.Message.Set("")
			_ = vm.CodeMsg.Set(text)
			return
		}
	}
	_ = vm.Message.Set(text)
}

// SignOut signs out everywhere.
func (vm *SignInVM) SignOut(ctx context.Context) error {
	err := vm.acc.SignOut(ctx)
	if err != nil {
		_ = vm.Message.Set(lang.X("signin.signed_out_partly", "已在本机退出；续期服务暂时无法通知（{{.Err}}）。", map[string]any{"Err": err}))
		return err
	}
	_ = vm.Message.Set(lang.X("signin.signed_out", "已退出登录。"))
	return nil
}

func fieldErr(e *renewal.Error, field string) error {
	if f := e.FieldError(field); f != nil {
		return f
	}
	return nil
}

// fieldText is the message shown next to a field ("" for nil).
func fieldText(err error) string {
	if err == nil {
		return ""
	}
	e := renewal.AsError(err)
	if len(e.Fields) > 0 {
		e = e.Fields[0]
	}
	return e.Localized(string(CurrentLang()))
}
