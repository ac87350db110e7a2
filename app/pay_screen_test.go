package app

import (
	"image"
	"image/color"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"github.com/skip2/go-qrcode"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
)

func TestPayScreenQRGreysOutAndNewCode(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	a := e.ApprovedApp(acc)
	clk := apptest.NewStepClock(e.Clock.Now())
	vm := model.NewPayVM(acc, clk, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	s, _ := newPayScreenInWindow(t, vm)
	s.Pay(a.ID)
	var first image.Image
	onUI(t, "qr drawn", func() bool { first = s.qr.Image; return first != nil })
	if b := first.Bounds(); b.Dx() < qrSize || b.Dx() != b.Dy() {
		t.Fatalf("qr image %v: want a square of at least %d px", b, qrSize)
	}
	if d := darkest(first); d != 0 {
		t.Fatalf("a live code's darkest grey is %d, want black", d)
	}
	onUI(t, "no new-code button while live", func() bool { return !s.NewCode.Visible() })
	clk.Advance(301 * time.Second)
	vm.Tick()
	onUI(t, "greyed out with a new-code button", func() bool {
		return darkest(s.qr.Image) >= 200 && s.NewCode.Visible()
	})
	e.Clock.Advance(301 * time.Second)
	code := apptest.Get[string](t, vm.Code)
	test.Tap(s.NewCode)
	onUI(t, "a new live code", func() bool {
		c, _ := vm.Code.Get()
		return c != code && darkest(s.qr.Image) == 0 && !s.NewCode.Visible()
	})
	e.Scan(a.ID)
	onUI(t, "paid", func() bool { return apptest.Get[bool](t, vm.Paid) })
	fyne.DoAndWait(func() {})
}

// BenchmarkQRDraw is the cost of drawing one WeChat Pay code at the size
// shown, live and greyed (run by hand: go test -bench QRDraw ./app/).
func BenchmarkQRDraw(b *testing.B) {
	const code = "weixin://wxpay/bizpayurl?pr=wwi4e7s5ZsH70783"
	for _, greyed := range []bool{false, true} {
		name := "live"
		if greyed {
			name = "greyed"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				q, err := qrcode.New(code, qrcode.Medium)
				if err != nil {
					b.Fatal(err)
				}
				img := q.Image(qrSize * 2)
				if greyed {
					img = faded(img)
				}
				_ = img
			}
		})
	}
}

// darkest is the darkest grey level in img.
func darkest(img image.Image) uint8 {
	d := uint8(255)
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			d = min(d, color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
		}
	}
	return d
}
