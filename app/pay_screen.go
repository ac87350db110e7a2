package app

import (
	"context"
	"image"
	"image/color"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/skip2/go-qrcode"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
)

// qrSize is the QR code's side on screen, in Fyne units: large enough for
// a phone held at arm's length; drawn pixel for pixel so the modules stay sharp.
const qrSize = 280

// payScreen shows the WeChat Pay QR code, the amount and the countdown;
// at zero the code greys out and "get a new code" appears.
type payScreen struct {
	vm  *model.PayVM
	ctx context.Context

	root    *fyne.Container
	qr      *canvas.Image
	NewCode *appwidget.KeyButton
	// Retry asks again after the service could not be reached (for the
	// code, or while watching the payment): the live code comes back, or
	// the payment that arrived meanwhile.
	Retry  *appwidget.KeyButton
	failed binding.Bool
	// running counts the screen's goroutines (the ticker, each payment
	// watched); they end with the screen's context.
	running sync.WaitGroup
	shown   string // the code drawn
	greyed  bool
}

// newPayScreen builds the screen and starts its countdown ticker (4 Hz),
// which stops with ctx.
func newPayScreen(ctx context.Context, vm *model.PayVM) *payScreen {
	s := &payScreen{vm: vm, ctx: ctx, failed: binding.NewBool()}
	s.makeUI()
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		tickEvery(ctx, 250*time.Millisecond, vm.Tick)
	}()
	return s
}

// Object is the screen's root.
func (s *payScreen) Object() fyne.CanvasObject { return s.root }

// Pay starts paying application id (from the Applications screen).
func (s *payScreen) Pay(id string) {
	_ = s.failed.Set(false)
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		err := s.vm.Start(s.ctx, id)
		paid, _ := s.vm.Paid.Get()
		expired, _ := s.vm.Expired.Get()
		if err != nil && s.ctx.Err() == nil && s.vm.AppID() == id && !paid && !expired {
			_ = s.failed.Set(true)
		}
	}()
}

func (s *payScreen) makeUI() {
	s.qr = canvas.NewImageFromImage(nil)
	s.qr.FillMode = canvas.ImageFillContain
	s.qr.ScaleMode = canvas.ImageScalePixels
	s.qr.SetMinSize(fyne.NewSize(qrSize, qrSize))
	redraw := binding.NewDataListener(s.redraw)
	s.vm.Code.AddListener(redraw)
	s.vm.Expired.AddListener(redraw)

	countdown := widget.NewLabelWithData(s.vm.Countdown)
	countdown.SizeName = theme.SizeNameHeadingText
	countdown.TextStyle = fyne.TextStyle{Bold: true, Monospace: true}
	countdown.Alignment = fyne.TextAlignCenter
	bar := widget.NewProgressBarWithData(s.vm.Left)
	bar.TextFormatter = func() string { return "" }
	amount := widget.NewLabelWithData(s.vm.Amount)
	amount.TextStyle.Bold = true
	amount.SizeName = theme.SizeNameSubHeadingText
	amount.Alignment = fyne.TextAlignCenter

	s.NewCode = appwidget.NewKeyButton(lang.X("pay.new_code", "获取新二维码"), theme.ViewRefreshIcon(), func() {
		if id := s.vm.AppID(); id != "" {
			s.Pay(id)
		}
	})
	s.NewCode.Importance = widget.HighImportance
	bindVisible(s.vm.Expired, s.NewCode, false)
	s.Retry = appwidget.NewKeyButton(lang.X("pay.retry", "重新查询"), theme.ViewRefreshIcon(), func() {
		if id := s.vm.AppID(); id != "" {
			s.Pay(id)
		}
	})
	bindVisible(s.failed, s.Retry, false)
	paid := widget.NewLabelWithStyle(lang.X("pay.paid_badge", "✓ 已支付"), fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	paid.Importance = widget.SuccessImportance
	paid.SizeName = theme.SizeNameHeadingText
	bindVisible(s.vm.Paid, paid, false)
	timer := container.NewVBox(countdown, bar)
	bindVisible(s.vm.Paid, timer, true)

	msg := messageLabel(s.vm.Message)
	msg.Alignment = fyne.TextAlignCenter
	hint := hintLabel(lang.X("pay.hint", "二维码 300 秒内有效。请勿重复支付：付款后稍等片刻，本页会自动更新。"))
	hint.Alignment = fyne.TextAlignCenter
	qr := container.NewCenter(s.qr)
	bindVisible(s.vm.Paid, qr, true) // a paid code is not shown to be scanned again
	center := container.NewVBox(amount, qr, timer, paid, container.NewCenter(container.NewHBox(s.NewCode, s.Retry)), msg, hint)
	// Lay out again when a button or the timer comes or goes (not for
	// the first call of each listener: nothing is on screen yet).
	built := false
	relayout := binding.NewDataListener(func() {
		if built && s.ctx.Err() == nil {
			center.Refresh()
		}
	})
	for _, b := range []binding.DataItem{s.failed, s.vm.Expired, s.vm.Paid} {
		b.AddListener(relayout)
	}
	defer func() { built = true }()
	s.root = container.NewBorder(heading(lang.X("pay.title", "微信支付")), nil, nil, nil,
		container.NewVScroll(container.NewHBox(layout.NewSpacer(), container.NewGridWrap(fyne.NewSize(440, 720), center), layout.NewSpacer())))
}

// redraw draws the code, greyed out once expired (the modules stay
// visible but faint, so nobody scans a dead code by mistake).
func (s *payScreen) redraw() {
	code, _ := s.vm.Code.Get()
	expired, _ := s.vm.Expired.Get()
	if code == s.shown && expired == s.greyed {
		return
	}
	s.shown, s.greyed = code, expired
	if code == "" {
		s.qr.Image = nil
		s.qr.Refresh()
		return
	}
	q, err := qrcode.New(code, qrcode.Medium)
	if err != nil {
		_ = s.vm.Message.Set(lang.X("pay.qr_failed", "无法生成二维码：{{.Err}}", map[string]any{"Err": err}))
		return
	}
	img := q.Image(qrSize * 2) // 2 px per unit: sharp on HiDPI screens too
	if expired {
		img = faded(img)
	}
	s.qr.Image = img
	s.qr.Refresh()
}

// faded returns img in light grey. The codes go-qrcode draws are
// paletted: recolouring the palette costs nothing, whatever the size.
func faded(img image.Image) image.Image {
	grey := func(c color.Color) color.Gray {
		g := color.GrayModel.Convert(c).(color.Gray)
		return color.Gray{Y: 200 + g.Y/5}
	}
	if p, ok := img.(*image.Paletted); ok {
		out := *p
		out.Palette = make(color.Palette, len(p.Palette))
		for i, c := range p.Palette {
			out.Palette[i] = grey(c)
		}
		return &out
	}
	b := img.Bounds()
	out := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.SetGray(x, y, grey(img.At(x, y)))
		}
	}
	return out
}

// FocusFirst puts the keyboard focus on the button the clerk may press: a
// new code once expired, asking again after a failure. It is for when the
// screen is shown: a code running out while the clerk is on another screen
// must not pull the focus to a button they cannot see.
func (s *payScreen) FocusFirst() {
	switch {
	case s.NewCode.Visible():
		focusIn(s.root, s.NewCode)
	case s.Retry.Visible():
		focusIn(s.root, s.Retry)
	}
}
