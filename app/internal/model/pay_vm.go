package model

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// QRWindow is how long a WeChat Pay code is valid; the countdown itself
// comes from the service's expiry, this is only the bar's full length.
const QRWindow = 300 * time.Second

// PayVM is the Pay screen: the QR code of one application, a countdown
// from the service's expiry (corrected for clock skew), and the payment
// state, polled by client.PaymentWatcher until paid, expired or cancelled.
// At zero the code is marked expired and a new one may be asked for; the
// watcher keeps polling for a while, so a payment made at the last second
// still shows as paid.
type PayVM struct {
	acc   *Account
	clock client.Clock
	fmt   Formatter

	// Code is the code_url to draw as a QR code ("" when none).
	Code binding.String
	// Countdown is "04:59"; Left is the fraction of the window left (0–1).
	Countdown binding.String
	Left      binding.Float
	Amount    binding.String
	// Expired is true once the countdown reached zero (the code greys out).
	Expired binding.Bool
	// Paid is true once the money arrived.
	Paid    binding.Bool
	Message binding.String
	Busy    binding.Bool
	// OnPaid, if set, runs once when the payment arrives (from a background
	// goroutine): the shell moves on.
	OnPaid func(appID string)

	mu      sync.Mutex
	appID   string
	cd      client.Countdown
	hasCode bool
	gen     int // bumps with every new code: an old watch stops publishing
	cancel  context.CancelFunc
}

// NewPayVM returns the view-model. clock is the client's clock (nil: the
// wall clock); the watcher sleeps on it.
func NewPayVM(acc *Account, clock client.Clock, f Formatter) *PayVM {
	if clock == nil {
		clock = client.SystemClock()
	}
	vm := &PayVM{acc: acc, clock: clock, fmt: f, Code: binding.NewString(), Countdown: binding.NewString(), Left: binding.NewFloat(),
		Amount: binding.NewString(), Expired: binding.NewBool(), Paid: binding.NewBool(), Message: binding.NewString(), Busy: binding.NewBool()}
	_ = vm.Message.Set(lang.X("pay.choose", "在“申请进度”中，对需要支付的申请点击“支付”，这里会显示微信支付二维码。"))
	return vm
}

// AppID is the application being paid.
func (vm *PayVM) AppID() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.appID
}

// Start asks for the application's QR code (the live one, or a new one)
// and watches the payment until it is final or ctx ends. It blocks: run it
// in a goroutine. A new Start (a new code) stops the previous watch.
func (vm *PayVM) Start(ctx context.Context, appID string) error {
	ctx, cancel := context.WithCancel(ctx)
	vm.mu.Lock()
	if vm.cancel != nil {
		vm.cancel()
	}
	vm.cancel = cancel
	vm.gen++
	gen := vm.gen
	vm.appID = appID
	vm.hasCode = false
	vm.mu.Unlock()
	defer cancel()
	_ = vm.Busy.Set(true)
	_ = vm.Paid.Set(false)
	_ = vm.Expired.Set(false)
	c := vm.acc.Client()
	sent := vm.clock.Now()
	qr, err := c.PaymentQR(ctx, appID, renewal.PaymentQRRequest{})
	received := vm.clock.Now()
	_ = vm.Busy.Set(false)
	if err != nil {
		vm.acc.Ended(ctx, err)
		if renewal.CodeOf(err) == renewal.CodeActionNotAllowed {
			// Already paid, or not payable in this state: say which.
			if p, perr := c.Payment(ctx, appID); perr == nil && p.State == renewal.PaymentPaid {
				vm.paid(gen, appID, false)
				return nil
			}
		}
		_ = vm.Message.Set(ServiceErrText(err))
		return err
	}
	if qr.Order.CodeURL == "" {
		_ = vm.Message.Set(lang.X("pay.no_code", "续期服务没有返回二维码，请稍后点击“获取新二维码”。"))
		return errors.New("payment qr without a code url")
	}
	vm.mu.Lock()
	vm.cd = client.NewCountdown(qr.Order.ExpiresAt, qr.ServerTime, sent, received)
	vm.hasCode = true
	vm.mu.Unlock()
	_ = vm.Code.Set(qr.Order.CodeURL)
	_ = vm.Amount.Set(vm.fmt.Money(qr.Order.AmountFen))
	_ = vm.Message.Set(lang.X("pay.scan", "请用微信扫描二维码支付。支付完成后本页会自动进入下一步。"))
	vm.Tick()

	w := &client.PaymentWatcher{Fetch: c.PaymentFetch(appID), Clock: vm.clock, OnUpdate: func(u client.PaymentUpdate) {
		if u.Err != nil {
			return
		}
		vm.mu.Lock()
		if vm.gen == gen {
			vm.cd.Offset = client.NewCountdown(u.Poll.ExpiresAt, u.Poll.ServerTime, vm.clock.Now(), vm.clock.Now()).Offset
		}
		vm.mu.Unlock()
	}}
	st, err := w.Watch(ctx)
	vm.mu.Lock()
	current := vm.gen == gen
	vm.mu.Unlock()
	if !current || ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case err == nil && st.State == client.PaymentPaid:
		greyed, _ := vm.Expired.Get() // the screen had counted down to zero
		vm.paid(gen, appID, greyed)
		return nil
	case err == nil && st.State == client.PaymentExpired:
		vm.expire()
		return nil
	case err == nil && st.State == client.PaymentCancelled:
		_ = vm.Message.Set(lang.X("pay.cancelled", "这份申请已取消，不需要再支付。"))
		return nil
	case errors.Is(err, client.ErrPaymentUndecided):
		vm.expire()
		return err
	}
	vm.acc.Ended(ctx, err)
	_ = vm.Message.Set(lang.X("pay.watch_failed", "暂时无法查询支付结果（{{.Err}}）。如果已经付款，请稍后在“申请进度”中查看，不要重复支付。",
		map[string]any{"Err": ServiceErrText(err)}))
	return fmt.Errorf("watch payment of %s: %w", appID, err)
}

func (vm *PayVM) paid(gen int, appID string, late bool) {
	vm.mu.Lock()
	if vm.gen != gen {
		vm.mu.Unlock()
		return
	}
	vm.mu.Unlock()
	_ = vm.Paid.Set(true)
	_ = vm.Expired.Set(false)
	if late {
		_ = vm.Message.Set(lang.X("pay.paid_late", "支付已到账：二维码到期前完成的支付同样有效。"))
	} else {
		_ = vm.Message.Set(lang.X("pay.paid", "支付成功，费用已到账。"))
	}
	if vm.OnPaid != nil {
		vm.OnPaid(appID)
	}
}

func (vm *PayVM) expire() {
	_ = vm.Expired.Set(true)
	_ = vm.Countdown.Set("00:00")
	_ = vm.Left.Set(0)
	_ = vm.Message.Set(lang.X("pay.expired", "二维码已过期，请点击“获取新二维码”。"))
}

// Remaining is how long the code on screen is still good (0 without one).
func (vm *PayVM) Remaining() time.Duration {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if !vm.hasCode {
		return 0
	}
	return vm.cd.Remaining(vm.clock.Now())
}

// Tick brings the countdown up to the clock; the screen calls it a few
// times a second. At zero the code is marked expired.
func (vm *PayVM) Tick() {
	vm.mu.Lock()
	has := vm.hasCode
	vm.mu.Unlock()
	if !has {
		return
	}
	if paid, _ := vm.Paid.Get(); paid {
		return
	}
	left := vm.Remaining()
	secs := int((left + time.Second - 1) / time.Second)
	_ = vm.Countdown.Set(fmt.Sprintf("%02d:%02d", secs/60, secs%60))
	_ = vm.Left.Set(min(float64(left)/float64(QRWindow), 1))
	if left == 0 {
		if exp, _ := vm.Expired.Get(); !exp {
			vm.expire()
		}
	}
}

// Stop ends the watch (leaving the screen).
func (vm *PayVM) Stop() {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.cancel != nil {
		vm.cancel()
	}
}
