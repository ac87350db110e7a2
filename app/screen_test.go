package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

// newUI builds the main window over a fake source in a test app with the
// product's theme, at a fixed size.
func newUI(t *testing.T, src *apptest.FakeSource) *UI {
	t.Helper()
	return newUIWith(t, src, src)
}

// newUIWith is newUI over any token source.
func newUIWith(t *testing.T, tokens model.TokenSource, pins model.PINSource) *UI {
	t.Helper()
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	u := New(context.Background(), a, Deps{Tokens: tokens, PINs: pins, clock: fakeclock.New(apptest.T0), loc: time.UTC})
	t.Cleanup(u.Win.Close)
	u.Win.Resize(fyne.NewSize(900, 640))
	return u
}

// walkVisible calls visit for each visible object under o, in layout
// order; where visit returns true it does not look inside that object.
func walkVisible(o fyne.CanvasObject, visit func(fyne.CanvasObject) (stop bool)) {
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if !o.Visible() || visit(o) {
			return
		}
		switch w := o.(type) {
		case *fyne.Container:
			for _, c := range w.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.LaidOutObjects(w) {
				if c != o {
					walk(c)
				}
			}
		}
	}
	walk(o)
}

// texts lists the text of every visible label under o, in layout order.
func texts(o fyne.CanvasObject) []string {
	var out []string
	walkVisible(o, func(o fyne.CanvasObject) bool {
		switch w := o.(type) {
		case *widget.Label:
			out = append(out, w.Text)
		case *appwidget.Badge:
			out = append(out, "["+w.Text+"]")
		case *widget.Button:
			out = append(out, "<"+w.Text+">")
		default:
			return false
		}
		return true
	})
	return out
}

func TestTokensScreenInsertShowsAndRemoveHides(t *testing.T) {
	src := apptest.NewFakeSource()
	u := newUI(t, src)
	ctx := context.Background()
	if err := u.vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	screen := strings.Join(texts(u.tokens.Object()), "|")
	if !strings.Contains(screen, "请插入您的 UKey") || !strings.Contains(screen, "未检测到 UKey") {
		t.Fatalf("empty screen shows: %s", screen)
	}
	test.AssertRendersToMarkup(t, "tokens_empty.xml", u.Win.Canvas())
	test.AssertImageMatches(t, "tokens_empty.png", u.Win.Canvas().Capture())

	toks := apptest.DemoTokens()
	src.Insert(toks[0], "12345678", 10)
	if err := u.vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	screen = strings.Join(texts(u.tokens.Object()), "|")
	for _, want := range []string{"UKey-Demo", "UKey 序列号 9A1B2C3D4E5F6071 · SoftHSM project SoftHSM v2",
		"深圳市示例科技有限公司", "[剩余 20 天]", "有效期至|2026年12月13日", "颁发者|UKey Renew Demo CA",
		"证书序列号|3F2A9C", "密钥类型|ECDSA P-256", "<验证口令>", "已检测到 1 个 UKey"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "请插入您的 UKey") {
		t.Error("the insert prompt stays with a token present")
	}

	src.Insert(toks[1], "1111", 6)
	src.Insert(model.Token{Serial: "BAD0000000000001", LabelErr: apptest.ErrFakeModule, CertsErr: apptest.ErrFakeModule}, "0", 6)
	if err := u.vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	test.AssertRendersToMarkup(t, "tokens_three.xml", u.Win.Canvas())
	test.AssertImageMatches(t, "tokens_three.png", u.Win.Canvas().Capture())
	screen = strings.Join(texts(u.tokens.Object()), "|")
	for _, want := range []string{"名称无法读取", "无法读取这个 UKey 上的证书", "[已过期 3 天]", "北京示例贸易有限公司 / 李四", "已检测到 3 个 UKey"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}

	src.Remove(toks[0].Serial)
	src.Remove(toks[1].Serial)
	src.Remove("BAD0000000000001")
	if err := u.vm.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	screen = strings.Join(texts(u.tokens.Object()), "|")
	if !strings.Contains(screen, "请插入您的 UKey") || strings.Contains(screen, "UKey-Demo") {
		t.Errorf("after removal the screen shows: %s", screen)
	}
}

// TestTokensScreenDamagedObjectAndRenew: the good certificate is a card with
// a 续期 button that hands the token and the certificate to OnRenew; the
// damaged object is one line with a 修复 button that hands the token to
// OnRepair; a certificate without its key pair has no 续期 button.
func TestTokensScreenDamagedObjectAndRenew(t *testing.T) {
	src := apptest.NewFakeDetailSource()
	toks := apptest.DemoTokens()
	src.Insert(toks[0], "1", 3)
	src.KeyPairs[toks[0].Serial] = []bool{true}
	src.Damaged[toks[0].Serial] = []model.DamagedObject{{Reason: "CKR_ATTRIBUTE_VALUE_INVALID", Repairable: true}}
	src.Insert(toks[1], "1", 3) // its certificate has no key pair on the token
	u := newUIWith(t, src, src)
	// Not wired: no button that would do nothing.
	if err := u.vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(u.tokens.renewBtn) != 0 || len(u.tokens.repair) != 0 {
		t.Errorf("buttons without callbacks: renew %v, repair %v", u.tokens.renewBtn, u.tokens.repair)
	}
	var renewed []string
	var repaired []string
	u.tokens.OnRenew = func(serial string, c model.CertView) { renewed = append(renewed, serial+" "+c.Serial+" "+c.Holder) }
	u.tokens.OnRepair = func(serial string) { repaired = append(repaired, serial) }
	u.tokens.tokensChanged() // as the next listing would
	screen := strings.Join(texts(u.tokens.Object()), "|")
	for _, want := range []string{"深圳市示例科技有限公司", "[剩余 20 天]|<续期>",
		"这枚 UKey 上有一个对象无法读取，其余证书不受影响；可以运行“修复”或联系证书机构。|<修复>", "北京示例贸易有限公司 / 李四"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if len(u.tokens.renewBtn) != 1 || u.tokens.renewBtn[toks[1].Serial+"/01AB"] != nil {
		t.Errorf("renew buttons %v, want one: the certificate without its key pair has none", u.tokens.renewBtn)
	}
	b := u.tokens.renewBtn[toks[0].Serial+"/3F2A9C"]
	if b == nil {
		t.Fatal("no renew button for the certificate with its key pair")
	}
	test.Tap(b)
	if len(renewed) != 1 || renewed[0] != "9A1B2C3D4E5F6071 3F2A9C 深圳市示例科技有限公司" {
		t.Errorf("OnRenew got %q", renewed)
	}
	r := u.tokens.repair[toks[0].Serial]
	if r == nil || u.tokens.repair[toks[1].Serial] != nil {
		t.Fatalf("repair buttons: %v", u.tokens.repair)
	}
	test.Tap(r)
	if len(repaired) != 1 || repaired[0] != toks[0].Serial {
		t.Errorf("OnRepair got %q", repaired)
	}
}

func TestTokensScreenModuleProblemShown(t *testing.T) {
	src := apptest.NewFakeSource()
	src.FailList(apptest.ErrFakeModule)
	u := newUI(t, src)
	_ = u.vm.Reload(context.Background())
	screen := strings.Join(texts(u.tokens.Object()), "|")
	if !strings.Contains(screen, "无法读取 UKey：fake module: CKR_GENERAL_ERROR") {
		t.Errorf("module failure not shown: %s", screen)
	}
}

func TestPINDialogWrongThenRight(t *testing.T) {
	src := apptest.NewFakeSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "12345678", 3)
	u := newUI(t, src)
	if err := u.vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	btn := u.tokens.pinBtns[tok.Serial]
	if btn == nil {
		t.Fatal("no PIN button for the token")
	}
	test.Tap(btn)
	d := u.pin
	if d == nil || !dialogOpen(u) {
		t.Fatal("PIN dialog not shown")
	}
	if !d.ok.Disabled() {
		t.Error("OK enabled with an empty entry")
	}
	test.Type(d.entry, "1111")
	if d.ok.Disabled() {
		t.Fatal("OK disabled with a PIN typed")
	}
	test.Tap(d.ok)
	if d.entry.Text != "" {
		t.Error("the entry still holds the PIN after sending it")
	}
	apptest.Eventually(t, "the wrong-PIN message", func() bool {
		m, _ := d.vm.Message.Get()
		n, _ := d.vm.Note.Get()
		return strings.Contains(m, "口令不正确") && strings.Contains(n, "剩余尝试次数不多")
	})
	if src.Checks(tok.Serial) != 1 {
		t.Fatalf("the token received %d PINs, want 1", src.Checks(tok.Serial))
	}
	apptest.Eventually(t, "the entry enabled again", func() bool { return !d.entry.Disabled() })
	if !dialogOpen(u) {
		t.Fatal("the dialog closed after a wrong PIN")
	}
	// Enter submits too.
	test.Type(d.entry, "12345678")
	d.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	apptest.Eventually(t, "the dialog to close", func() bool { return !dialogOpen(u) })
	if src.Checks(tok.Serial) != 2 {
		t.Errorf("the token received %d PINs, want 2", src.Checks(tok.Serial))
	}
}

func TestPINDialogEscapeCancelsWithoutSending(t *testing.T) {
	src := apptest.NewFakeSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "12345678", 3)
	u := newUI(t, src)
	if err := u.vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	test.Tap(u.tokens.pinBtns[tok.Serial])
	d := u.pin
	if u.Win.Canvas().Focused() != d.entry {
		t.Error("the focus is not in the PIN entry")
	}
	test.Type(d.entry, "1234")
	d.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if dialogOpen(u) {
		t.Fatal("Esc did not close the dialog")
	}
	if d.entry.Text != "" || src.Checks(tok.Serial) != 0 {
		t.Errorf("after Esc: entry %q, %d PINs sent", d.entry.Text, src.Checks(tok.Serial))
	}
}

func TestPINDialogLockedTokenCannotBeTried(t *testing.T) {
	src := apptest.NewFakeSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "12345678", 1)
	src.Lock(tok.Serial) // locked before the dialog opens
	u := newUI(t, src)
	if err := u.vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	screen := strings.Join(texts(u.tokens.Object()), "|")
	if !strings.Contains(screen, "[口令已锁定") {
		t.Errorf("locked PIN not shown on the card: %s", screen)
	}
	test.Tap(u.tokens.pinBtns[tok.Serial])
	d := u.pin
	apptest.Eventually(t, "the locked state", func() bool { l, _ := d.vm.Locked.Get(); return l })
	apptest.Eventually(t, "the entry disabled", func() bool { return d.entry.Disabled() })
	test.Type(d.entry, "12345678")
	test.Tap(d.ok)
	d.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if src.Checks(tok.Serial) != 0 {
		t.Errorf("a PIN was sent to a locked token")
	}
	test.AssertRendersToMarkup(t, "pin_locked.xml", u.Win.Canvas())
	test.AssertImageMatches(t, "pin_locked.png", u.Win.Canvas().Capture())
}

func dialogOpen(u *UI) bool { return u.Win.Canvas().Overlays().Top() != nil }
