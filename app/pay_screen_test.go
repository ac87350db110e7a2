package app

import (
	"image"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

func TestPayScreenQRGreysOutAndNewCode(t *testing.T) {
	e := newSvcEnv(t)
	acc := e.signedIn()
	a := e.approvedApp(acc)
	clk := &stepClock{t: e.clock.Now()}
	vm := NewPayVM(acc, clk, Formatter{Lang: LangZH, Loc: time.UTC})
	s := NewPayScreen(t.Context(), vm)
	newTestWindow(t, s.Object())
	s.Pay(a.ID)
	var first image.Image
	onUI(t, "qr drawn", func() bool { first = s.qr.Image; return first != nil })
	if b := first.Bounds(); b.Dx() < QRSize || b.Dx() != b.Dy() {
		t.Fatalf("qr image %v: want a square of at least %d px", b, QRSize)
	}
	if _, ok := first.(*image.Gray); ok {
		t.Fatal("a live code is drawn greyed")
	}
	onUI(t, "no new-code button while live", func() bool { return !s.NewCode.Visible() })
	clk.Add(301 * time.Second)
	vm.Tick()
	onUI(t, "greyed out with a new-code button", func() bool {
		_, grey := s.qr.Image.(*image.Gray)
		return grey && s.NewCode.Visible()
	})
	e.clock.Add(301 * time.Second)
	code := get[string](t, vm.Code)
	test.Tap(s.NewCode)
	onUI(t, "a new live code", func() bool {
		c, _ := vm.Code.Get()
		_, grey := s.qr.Image.(*image.Gray)
		return c != code && !grey && !s.NewCode.Visible()
	})
	e.scan(a.ID)
	onUI(t, "paid", func() bool { return get[bool](t, vm.Paid) })
	fyne.DoAndWait(func() {})
}
