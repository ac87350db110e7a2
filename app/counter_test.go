package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// counterUI is a window in counter mode over the real renewal service of
// e, with one demo token (fake source: PKCS#11 needs cgo) and a UI clock
// the test moves. d's other fields are kept.
func counterUI(t *testing.T, e *apptest.Service, d Deps) (*UI, *fakeclock.Clock) {
	t.Helper()
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	clk := fakeclock.New(apptest.T0)
	src := apptest.NewFakeSource()
	src.Insert(apptest.DemoTokens()[0], "123456", 10)
	d.Tokens, d.PINs, d.clock, d.loc = src, src, clk, time.UTC
	d.Account = e.Account(nil)
	if d.counterDir == "" {
		d.counterDir = t.TempDir()
	}
	if d.payClock == nil {
		d.payClock = apptest.NewStepClock(e.Clock.Now())
	}
	u := New(t.Context(), a, d)
	t.Cleanup(u.Win.Close)
	u.Win.Resize(fyne.NewSize(960, 680))
	return u, clk
}

// signInCustomer signs the demo clerk in through the window's account as
// the sign-in screen does, and returns the session's refresh token.
func signInCustomer(t *testing.T, e *apptest.Service, u *UI) string {
	t.Helper()
	acc := u.account()
	_ = u.journey.SignInVM.Mobile.Set(apptest.DemoMobile)
	if _, err := acc.Client().SendSMSCode(t.Context(), renewal.SMSCodeRequest{Mobile: apptest.DemoMobile}); err != nil {
		t.Fatal(err)
	}
	tok, err := acc.Client().LoginSMS(t.Context(), renewal.SMSLoginRequest{Mobile: apptest.DemoMobile, Code: e.SMSCode(apptest.DemoMobile)})
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(61 * time.Second) // past the resend wait, for the next sign-in
	apptest.Eventually(t, "signed in", func() bool { return apptest.Get[bool](t, acc.SignedIn) })
	return tok.RefreshToken
}

// refreshRefused checks that the service no longer takes refresh token rt.
func refreshRefused(t *testing.T, e *apptest.Service, rt string) {
	t.Helper()
	c, err := client.New(e.URL, client.WithRefreshToken(rt))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Refresh(t.Context())
	if !errors.Is(err, client.ErrSessionEnded) && !errors.Is(err, client.ErrNotSignedIn) {
		t.Fatalf("the old customer's refresh token: %v, want the session ended", err)
	}
}

func counterText(u *UI) string { return screenText(u.Win.Content()) }

// A customer signed in, filled in forms, downloaded the form PDF, has a
// payment code and a dialog open, copied a text: "next customer" leaves
// nothing of it, and the session is over at the service too.
func TestCounterNextCustomerWipesEverything(t *testing.T) {
	e := apptest.NewService(t)
	u, _ := counterUI(t, e, Deps{Counter: true})
	if !strings.Contains(counterText(u), "<下一位客户>") {
		t.Fatalf("no next customer button in counter mode: %s", counterText(u))
	}
	rt := signInCustomer(t, e, u)
	old, oldAcc := u.journey, u.account()

	app := e.ApprovedApp(oldAcc)
	if err := old.AppsVM.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	pdf, err := old.AppsVM.OpenFormPDF(t.Context(), app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pdf); err != nil {
		t.Fatalf("form pdf not saved: %v", err)
	}
	row, ok := old.AppsVM.Row(app.ID)
	if !ok {
		t.Fatal("the application is not listed")
	}
	fyne.DoAndWait(func() { old.pay(row) })
	apptest.Eventually(t, "a payment code", func() bool { return apptest.Get[string](t, old.PayVM.Code) != "" })
	fyne.DoAndWait(func() {
		_ = old.RenewVM.Serial.Set(e.Serials["near"])
		for f, b := range old.RenewVM.Fields {
			_ = b.Set("客户填写的 " + f)
		}
		test.Type(old.Renew.Entries[renewal.FieldRepIDNumber], "110105")
		u.app.Clipboard().SetContent("110105194912310021")
		u.showPIN(apptest.DemoTokens()[0].Serial)
		dialog.ShowInformation("客户的信息", "张三", u.Win)
	})

	var done <-chan error
	fyne.DoAndWait(func() { done, err = u.nextCustomer() })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("sign-out at the service: %v", err)
	}
	refreshRefused(t, e, rt)

	j := u.journey
	if j == old || u.account() == oldAcc || u.account().Client().SignedIn() {
		t.Fatal("the old customer's journey or account survived")
	}
	if old.ctx.Err() == nil {
		t.Fatal("the old customer's goroutines still run")
	}
	if old.onTokens != nil || old.tabs != nil {
		t.Fatal("the old journey still hangs on the tokens list or the tabs")
	}
	if s := apptest.Get[string](t, j.RenewVM.Serial); s != "" || apptest.Get[bool](t, j.RenewVM.Ready) {
		t.Fatalf("a certificate (%q) is chosen on the fresh renew screen", s)
	}
	if s := apptest.Get[string](t, j.SignInVM.Mobile); s != "" {
		t.Fatalf("mobile %q on the fresh sign-in screen", s)
	}
	for f, b := range j.RenewVM.Fields {
		if s := apptest.Get[string](t, b); s != "" {
			t.Fatalf("renew field %s is %q", f, s)
		}
	}
	var idEntry, clip string
	var overlay fyne.CanvasObject
	var selected int
	fyne.DoAndWait(func() {
		idEntry = j.Renew.Entries[renewal.FieldRepIDNumber].Text
		clip = u.app.Clipboard().Content()
		overlay = u.Win.Canvas().Overlays().Top()
		selected = u.nav.SelectedIndex()
	})
	if idEntry != "" || clip != "" || overlay != nil || u.pin != nil {
		t.Fatalf("left over: id entry %q, clipboard %q, overlay %v, pin dialog %v", idEntry, clip, overlay, u.pin)
	}
	if rows := apptest.Get[[]model.AppRow](t, j.AppsVM.Rows); len(rows) != 0 {
		t.Fatalf("applications listed: %v", rows)
	}
	if c := apptest.Get[string](t, j.PayVM.Code); c != "" || j.PayVM.AppID() != "" {
		t.Fatalf("payment code %q for %q", c, j.PayVM.AppID())
	}
	if selected != 0 || len(u.nav.Items) != 8 || u.nav.Items[1] != j.Item(screenSignIn) {
		t.Fatalf("tabs: selected %d of %d", selected, len(u.nav.Items))
	}
	if _, err := os.Stat(pdf); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the form pdf is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(pdf)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the customer's folder is still there: %v", err)
	}
	if !strings.Contains(counterText(u), "上一位客户的信息已全部清除") {
		t.Fatalf("no word of the wipe: %s", counterText(u))
	}

	// The fresh journey works: the next customer signs in.
	rt2 := signInCustomer(t, e, u)
	if rt2 == rt || !u.account().Client().SignedIn() {
		t.Fatal("the next customer could not sign in")
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	refreshRefused(t, e, rt2)
}

// After IdleAfter without input the customer is signed out and the screens
// wiped; a pointer move, a focus change or typing in an entry start the
// count again; the last IdleWarnBefore are counted down on the bar.
func TestCounterIdleSignsOutAndActivityPostpones(t *testing.T) {
	e := apptest.NewService(t)
	u, clk := counterUI(t, e, Deps{Counter: true, IdleAfter: 5 * time.Minute})
	rt := signInCustomer(t, e, u)
	old, oldAcc := u.journey, u.account()
	check := func() { fyne.DoAndWait(u.checkIdle) }

	clk.Advance(4 * time.Minute)
	check()
	u.Win.Content().(*appwidget.ActivitySensor).MouseMoved(&desktop.MouseEvent{})
	clk.Advance(4 * time.Minute)
	check()
	if u.journey != old {
		t.Fatal("signed out 4 minutes after a pointer move")
	}
	// The PIN dialog takes the focus; typing the PIN is seen by its cursor.
	fyne.DoAndWait(func() { u.showPIN(apptest.DemoTokens()[0].Serial) })
	entry := u.pin.entry
	if u.Win.Canvas().Focused() != entry {
		t.Fatal("the PIN entry did not take the focus")
	}
	check() // the focus moved: input
	clk.Advance(4 * time.Minute)
	fyne.DoAndWait(func() { test.Type(entry, "12") })
	check() // typed: input
	clk.Advance(4*time.Minute + 40*time.Second)
	check()
	if u.journey != old {
		t.Fatal("signed out while typing")
	}
	if s := counterText(u); !strings.Contains(s, "20 秒后将因无操作自动退出登录") {
		t.Fatalf("no countdown 20 s before the sign-out: %s", s)
	}
	clk.Advance(20 * time.Second)
	check()
	if u.journey == old {
		t.Fatal("not signed out after 5 minutes without input")
	}
	if u.Win.Canvas().Overlays().Top() != nil {
		t.Fatal("the PIN dialog outlived the sign-out")
	}
	if s := counterText(u); !strings.Contains(s, "因长时间无操作已退出登录") || strings.Contains(s, "秒后将") {
		t.Fatalf("the fresh screen: %s", s)
	}
	apptest.Eventually(t, "the old session signed out", func() bool { return !apptest.Get[bool](t, oldAcc.SignedIn) })
	refreshRefused(t, e, rt)

	// Nobody there, or only a pointer passing by: no wipe after wipe.
	fresh := u.journey
	u.Win.Content().(*appwidget.ActivitySensor).MouseIn(&desktop.MouseEvent{})
	clk.Advance(time.Hour)
	check()
	if u.journey != fresh {
		t.Fatal("an empty counter was wiped again")
	}
}

// gateInstaller is a fake Installer (PKCS#11 needs cgo, which these tests
// run without) whose Install holds in the middle of the write until the
// test opens the gate, as a real write to a slow token does. Finishing an
// interrupted write is not part of these tests: the embedded nil Installer
// would panic if it were called.
type gateInstaller struct {
	model.Installer
	writing chan struct{}
	gate    chan struct{}
}

func (g *gateInstaller) Login(_ context.Context, _ string, pin []byte) error {
	clear(pin)
	return nil
}

func (g *gateInstaller) Install(ctx context.Context, _ *client.Client, _ *renewal.Application, progress func(model.WriteStep)) error {
	progress(model.WriteWrite)
	close(g.writing)
	select {
	case <-g.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gateInstaller) Unfinished(context.Context) ([]string, error) { return nil, nil }
func (g *gateInstaller) Close()                                       {}

// While a certificate is being written, next customer is refused with a
// sentence and the idle sign-out waits; idle time counts from the end of
// the write.
func TestCounterWriteBlocksNextCustomerAndIdle(t *testing.T) {
	e := apptest.NewService(t)
	g := &gateInstaller{writing: make(chan struct{}), gate: make(chan struct{})}
	u, clk := counterUI(t, e, Deps{Counter: true, Installer: g})
	signInCustomer(t, e, u)
	old := u.journey
	cert := apptest.DemoTokens()[0].Certs[0]
	a := renewal.Application{ID: "app-1", State: renewal.State{Status: renewal.StatusReadyToDownload}, CertSerial: renewal.NormalizeSerial(cert.Serial)}
	if err := old.WriteVM.Prepare(t.Context(), u.deps.Tokens, a); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- old.WriteVM.Run(old.ctx) }()
	<-g.writing

	var err error
	fyne.DoAndWait(func() { _, err = u.nextCustomer() })
	if !errors.Is(err, model.ErrWriteRunning) || u.journey != old || old.ctx.Err() != nil {
		t.Fatalf("next customer during a write: %v, journey kept %v", err, u.journey == old)
	}
	if s := counterText(u); !strings.Contains(s, "写入完成前不能切换到下一位客户") {
		t.Fatalf("no sentence on the refusal: %s", s)
	}
	clk.Advance(30 * time.Minute)
	fyne.DoAndWait(u.checkIdle)
	if u.journey != old {
		t.Fatal("signed out for inactivity during a write")
	}
	// Closing the window or quitting waits for the write, and says why.
	var refused bool
	fyne.DoAndWait(func() {
		if o := u.Win.Canvas().Overlays().Top(); o != nil {
			t.Errorf("an overlay before the close: %T", o)
		}
		refused = u.refuseClose()
	})
	if !refused || u.Win.Canvas().Overlays().Top() == nil {
		t.Fatal("closing the window during a write was not refused in words")
	}
	fyne.DoAndWait(func() { u.Win.Canvas().Overlays().Top().Hide() })

	close(g.gate)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	fyne.DoAndWait(u.checkIdle)
	if u.journey != old {
		t.Fatal("signed out the moment the write ended")
	}
	if s := counterText(u); strings.Contains(s, "写入完成前不能切换") {
		t.Fatalf("the refusal outlived the write: %s", s)
	}
	clk.Advance(5 * time.Minute)
	fyne.DoAndWait(u.checkIdle)
	if u.journey == old {
		t.Fatal("not signed out 5 minutes after the write")
	}
}

// While a live payment code waits to be paid the idle sign-out waits; once
// the code has run out the count restarts from then.
func TestCounterPaymentWaitPostponesIdle(t *testing.T) {
	e := apptest.NewService(t)
	pay := apptest.NewStepClock(e.Clock.Now())
	u, clk := counterUI(t, e, Deps{Counter: true, payClock: pay})
	signInCustomer(t, e, u)
	old := u.journey
	app := e.ApprovedApp(u.account())
	if err := old.AppsVM.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	row, _ := old.AppsVM.Row(app.ID)
	fyne.DoAndWait(func() { old.pay(row) })
	apptest.Eventually(t, "a payment code", func() bool { return apptest.Get[string](t, old.PayVM.Code) != "" })

	clk.Advance(10 * time.Minute)
	fyne.DoAndWait(u.checkIdle)
	if u.journey != old {
		t.Fatal("signed out while the customer pays")
	}
	if s := counterText(u); !strings.Contains(s, "正在等待客户支付") {
		t.Fatalf("no word of the postponement: %s", s)
	}
	clk.Advance(idleCheckEvery)
	fyne.DoAndWait(u.checkIdle)
	if s := counterText(u); !strings.Contains(s, "正在等待客户支付") {
		t.Fatalf("the postponement's word gone a second later: %s", s)
	}
	pay.Advance(model.QRWindow + time.Second)
	fyne.DoAndWait(u.checkIdle)
	if u.journey != old {
		t.Fatal("signed out the moment the code ran out")
	}
	clk.Advance(5 * time.Minute)
	fyne.DoAndWait(u.checkIdle)
	if u.journey == old {
		t.Fatal("not signed out 5 minutes after the code ran out")
	}
}

// Outside counter mode there is no next customer and no idle sign-out.
func TestCounterOffHasNoButtonNorIdleSignOut(t *testing.T) {
	e := apptest.NewService(t)
	u, clk := counterUI(t, e, Deps{Counter: false})
	if s := counterText(u); strings.Contains(s, "下一位客户") || u.Win.MainMenu() != nil {
		t.Fatalf("next customer offered outside counter mode: %s", s)
	}
	if _, ok := u.Win.Content().(*appwidget.ActivitySensor); ok {
		t.Fatal("input sensor outside counter mode")
	}
	signInCustomer(t, e, u)
	old := u.journey
	if _, err := u.nextCustomer(); !errors.Is(err, errNotCounter) {
		t.Fatalf("next customer: %v", err)
	}
	clk.Advance(24 * time.Hour)
	fyne.DoAndWait(u.checkIdle)
	if u.journey != old || !u.account().Client().SignedIn() {
		t.Fatal("signed out outside counter mode")
	}
}

// The idle time limits: 0 is the default, negative turns it off, too short
// is raised to the minimum.
func TestCounterIdleAfterLimits(t *testing.T) {
	e := apptest.NewService(t)
	for _, c := range []struct {
		in, want time.Duration
	}{{0, IdleAfterDefault}, {-1, 0}, {time.Second, idleAfterMin}, {12 * time.Minute, 12 * time.Minute}} {
		u, _ := counterUI(t, e, Deps{Counter: true, IdleAfter: c.in})
		if u.counter.after != c.want {
			t.Errorf("IdleAfter %v: %v, want %v", c.in, u.counter.after, c.want)
		}
	}
}

// Typing is seen through the focused entry's cursor, also in the widgets
// built on an entry (the key and PIN entries); a password entry's text is
// not read.
func TestCounterInputPrintSeesTypingNotThePIN(t *testing.T) {
	test.NewTempApp(t)
	plain := widget.NewEntry()
	comment := appwidget.NewKeyEntry(true)
	pin := appwidget.NewPINEntry(func() {})
	w := test.NewTempWindow(t, widget.NewLabel(""))
	fyne.DoAndWait(func() { w.SetContent(container.NewVBox(plain, comment, pin)) })

	for _, f := range []fyne.Focusable{plain, comment, pin} {
		w.Canvas().Focus(f)
		before := printOf(w.Canvas())
		test.Type(f, "12")
		after := printOf(w.Canvas())
		if before == after {
			t.Fatalf("%T: typing not seen", f)
		}
	}
	w.Canvas().Focus(pin)
	if p := printOf(w.Canvas()); p.runes != 0 || p.col != 2 {
		t.Fatalf("password entry print %+v: want the cursor only", p)
	}
	if entryOf(widget.NewButton("", nil)) != nil {
		t.Fatal("a button taken for an entry")
	}
}

// A counter window that died left a customer's folder: the next start
// removes it, and only it.
func TestCounterStartRemovesADeadWindowsFolders(t *testing.T) {
	root := t.TempDir()
	gone := exec.Command(os.Args[0], "-test.run=^$")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(root, fmt.Sprintf("%s%d-123", counterDirPrefix, gone.Process.Pid))
	alive := filepath.Join(root, fmt.Sprintf("%s%d-456", counterDirPrefix, os.Getppid()))
	other := filepath.Join(root, counterDirPrefix+"notapid-789")
	for _, d := range []string{dead, alive, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "ukeyrenew-form-1.pdf"), []byte("%PDF-"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e := apptest.NewService(t)
	counterUI(t, e, Deps{Counter: true, counterDir: root})
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dead window's folder: %v", err)
	}
	for _, d := range []string{alive, other} {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
	}
}

// benchUI is a counter window whose account points at a closed port: a
// next customer of nobody signed in never calls the service.
func benchUI(tb testing.TB) *UI {
	a := test.NewTempApp(tb)
	a.Settings().SetTheme(apptheme.New())
	acc, err := model.NewAccount("http://127.0.0.1:9", nil)
	if err != nil {
		tb.Fatal(err)
	}
	src := apptest.NewFakeSource()
	src.Insert(apptest.DemoTokens()[0], "123456", 10)
	u := New(tb.Context(), a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), loc: time.UTC,
		Counter: true, Account: acc, counterDir: tb.TempDir()})
	u.Win.Resize(fyne.NewSize(960, 760))
	return u
}

// Many customers leave no goroutine behind: each journey's end with its
// context.
func TestCounterNextCustomerLeavesNoGoroutines(t *testing.T) {
	u := benchUI(t)
	next := func() {
		var done <-chan error
		var err error
		fyne.DoAndWait(func() { done, err = u.nextCustomer() })
		if err != nil {
			t.Fatal(err)
		}
		<-done
	}
	next()
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	for range 20 {
		next()
	}
	apptest.Eventually(t, "the old journeys' goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
}

// BenchmarkCounterNextCustomer is the time the UI goroutine spends on a
// next customer (closing, rebuilding and laying out the screens; the old
// session's sign-out runs afterwards in the background):
//
//	CGO_ENABLED=0 go test ./app/ -run '^$' -bench CounterNextCustomer -benchtime 200x
func BenchmarkCounterNextCustomer(b *testing.B) {
	u := benchUI(b)
	for b.Loop() {
		fyne.DoAndWait(func() {
			if _, err := u.nextCustomer(); err != nil {
				b.Fatal(err)
			}
			u.Win.Content().Refresh()
		})
	}
}

// fakeSystemIdle stands for Windows' GetLastInputInfo (named fake: the
// call exists only on Windows): the test says how long ago the session's
// last input was.
type fakeSystemIdle struct {
	mu  sync.Mutex
	ago time.Duration
	ok  bool
}

func (f *fakeSystemIdle) set(ago time.Duration, ok bool) {
	f.mu.Lock()
	f.ago, f.ok = ago, ok
	f.mu.Unlock()
}
func (f *fakeSystemIdle) idle() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ago, f.ok
}

// Input only the system sees (a pointer moving inside one button) keeps
// the customer signed in; once the system too has seen nothing for the idle
// time, the customer is signed out; a system that cannot tell changes
// nothing.
func TestCounterSystemIdleCountsInputTheSensorMisses(t *testing.T) {
	e := apptest.NewService(t)
	sys := &fakeSystemIdle{}
	u, clk := counterUI(t, e, Deps{Counter: true, IdleAfter: 5 * time.Minute, SystemIdle: sys.idle})
	signInCustomer(t, e, u)
	old := u.journey
	check := func() { fyne.DoAndWait(u.checkIdle) }

	clk.Advance(4 * time.Minute)
	sys.set(10*time.Second, true) // moved inside a button 10 s ago
	check()
	clk.Advance(4*time.Minute + 40*time.Second)
	sys.set(4*time.Minute+50*time.Second, true)
	check()
	if u.journey != old {
		t.Fatal("signed out 4 min 50 s after input the system saw")
	}
	clk.Advance(10 * time.Second)
	sys.set(5*time.Minute, true)
	check()
	if u.journey == old {
		t.Fatal("not signed out after 5 minutes without input anywhere")
	}

	again := u.journey
	signInCustomer(t, e, u)
	sys.set(0, false) // cannot tell: the sensor alone decides
	clk.Advance(5 * time.Minute)
	check()
	if u.journey == again {
		t.Fatal("a system that cannot tell kept the customer signed in")
	}
}

// 下一位客户 pressed before Run built the deferred journey: Run builds no
// second journey over the retired account, and starts the one the wipe
// built only once.
func TestCounterNextCustomerBeforeTheDeferredJourney(t *testing.T) {
	e := apptest.NewService(t)
	u, _ := counterUI(t, e, Deps{Counter: true, DeferJourney: true})
	first := u.account()
	var done <-chan error
	fyne.DoAndWait(func() {
		var err error
		if done, err = u.nextCustomer(); err != nil {
			t.Error(err)
		}
	})
	<-done
	var wiped *journey
	fyne.DoAndWait(func() { wiped = u.journey })
	if wiped == nil || wiped.deps.Account == first {
		t.Fatal("next customer did not build a fresh journey")
	}
	ran := make(chan struct{})
	go func() { u.Run(); close(ran) }() // until t.Context() ends, before the clean-ups
	t.Cleanup(func() { <-ran })
	// Run lists the tokens after building what was pending.
	apptest.Eventually(t, "Run listed the tokens", func() bool { return len(apptest.Get[[]model.TokenView](t, u.vm.Tokens)) == 1 })
	var now *journey
	fyne.DoAndWait(func() { now = u.journey })
	if now != wiped {
		t.Fatal("Run replaced the fresh journey with one over the retired account")
	}
}

// A customer who gets no folder (the disk refuses it) is told so after the
// next customer too, not only at start: the success banner does not hide it.
func TestCounterNoFolderIsSaidAfterNextCustomer(t *testing.T) {
	e := apptest.NewService(t)
	notADir := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	u, _ := counterUI(t, e, Deps{Counter: true, counterDir: notADir})
	var done <-chan error
	fyne.DoAndWait(func() {
		var err error
		if done, err = u.nextCustomer(); err != nil {
			t.Error(err)
		}
	})
	<-done
	if s := counterText(u); !strings.Contains(s, "无法创建本位客户的临时文件夹") || !strings.Contains(s, "上一位客户的信息已全部清除") ||
		strings.Contains(s, "有文件未能删除") {
		t.Fatalf("the banner after next customer without a folder: %s", s)
	}
}
