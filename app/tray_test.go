package app

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"image/png"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"github.com/godbus/dbus/v5"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/assets"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

// fakeDesktopApp is Fyne's test app with the desktop extension its driver
// lacks: it records the system tray (menu, icon, window), every
// notification (the test app keeps only the last) and Quit, and its windows
// record their close intercept, which test windows never call.
type fakeDesktopApp struct {
	fyne.App
	mu      sync.Mutex
	menus   []*fyne.Menu
	icons   []fyne.Resource
	trayWin fyne.Window
	sent    []apptest.Note
	quits   int
}

var _ desktop.App = (*fakeDesktopApp)(nil)

func newFakeDesktopApp(t *testing.T) *fakeDesktopApp {
	return &fakeDesktopApp{App: test.NewTempApp(t)}
}

func (a *fakeDesktopApp) SetSystemTrayMenu(m *fyne.Menu) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.menus = append(a.menus, m)
}

func (a *fakeDesktopApp) SetSystemTrayIcon(r fyne.Resource) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.icons = append(a.icons, r)
}

// SetSystemTrayWindow does what Fyne's desktop driver does to the window.
func (a *fakeDesktopApp) SetSystemTrayWindow(w fyne.Window) {
	a.mu.Lock()
	a.trayWin = w
	a.mu.Unlock()
	w.SetCloseIntercept(w.Hide)
}

func (a *fakeDesktopApp) SendNotification(n *fyne.Notification) {
	a.mu.Lock()
	a.sent = append(a.sent, apptest.Note{Title: n.Title, Body: n.Content})
	a.mu.Unlock()
	a.App.SendNotification(n)
}

func (a *fakeDesktopApp) Quit() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.quits++
}

func (a *fakeDesktopApp) NewWindow(title string) fyne.Window {
	return &interceptWindow{Window: a.App.NewWindow(title)}
}

func (a *fakeDesktopApp) notes() []apptest.Note {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]apptest.Note(nil), a.sent...)
}

func (a *fakeDesktopApp) lastMenu() *fyne.Menu {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.menus) == 0 {
		return nil
	}
	return a.menus[len(a.menus)-1]
}

// SystemTrayMenu is the menu last set, as Fyne's desktop driver keeps it.
func (a *fakeDesktopApp) SystemTrayMenu() *fyne.Menu { return a.lastMenu() }

func (a *fakeDesktopApp) lastIcon() fyne.Resource {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.icons) == 0 {
		return nil
	}
	return a.icons[len(a.icons)-1]
}

// interceptWindow is a test window that keeps its close intercept and
// whether it is hidden.
type interceptWindow struct {
	fyne.Window
	mu        sync.Mutex
	intercept func()
	hidden    bool
	closed    bool
}

// Close closes once: the test driver panics on a second close, which the
// close guard and the test's clean-up would otherwise both make.
func (w *interceptWindow) Close() {
	w.mu.Lock()
	done := w.closed
	w.closed = true
	w.mu.Unlock()
	if !done {
		w.Window.Close()
	}
}

func (w *interceptWindow) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

func (w *interceptWindow) SetCloseIntercept(f func()) {
	w.mu.Lock()
	w.intercept = f
	w.mu.Unlock()
	w.Window.SetCloseIntercept(f)
}

func (w *interceptWindow) Hide() {
	w.mu.Lock()
	w.hidden = true
	w.mu.Unlock()
	w.Window.Hide()
}

func (w *interceptWindow) Show() {
	w.mu.Lock()
	w.hidden = false
	w.mu.Unlock()
	w.Window.Show()
}

func (w *interceptWindow) closeIntercept() func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.intercept
}

func (w *interceptWindow) isHidden() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hidden
}

// menuLabels lists a menu's items, "--" for a separator, "(x)" around a
// disabled one.
func menuLabels(m *fyne.Menu) []string {
	if m == nil {
		return nil
	}
	var out []string
	for _, it := range m.Items {
		switch {
		case it.IsSeparator:
			out = append(out, "--")
		case it.Disabled:
			out = append(out, "("+it.Label+")")
		default:
			out = append(out, it.Label)
		}
	}
	return out
}

// newTrayUI builds the window in a fake desktop app over src, at apptest.T0.
func newTrayUI(t *testing.T, src *apptest.FakeSource, counter bool) (*UI, *fakeDesktopApp) {
	t.Helper()
	a := newFakeDesktopApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	u := New(ctx, a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), loc: time.UTC, Counter: counter})
	t.Cleanup(u.Win.Close)
	return u, a
}

func TestTrayMenuIconAndReminders(t *testing.T) {
	src := apptest.NewFakeSource()
	src.Insert(apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", apptest.T0.Add(apptest.Days(12)))), "123456", 10)
	u, a := newTrayUI(t, src, false)
	if trayInstalled(a) {
		t.Fatal("a tray before installTray")
	}
	host := desktopHost{tray: true, notify: true}
	u.installTrayOn(host) // in New, before the app runs
	if got := strings.Join(menuLabels(a.lastMenu()), "|"); got != "显示窗口|--|(未检测到 UKey)|--|退出" || !trayInstalled(a) {
		t.Fatalf("the menu before the first listing: %q", got)
	}
	if a.lastIcon() == nil || a.lastIcon().Name() != assets.Icon().Name() {
		t.Fatalf("tray icon %v, want the app's", a.lastIcon())
	}
	vm := u.remind(host)
	if vm == nil {
		t.Fatal("no reminders with a tray and notifications")
	}
	if err := u.vm.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, "the reminder", func() bool { return len(a.notes()) > 0 })
	want := []apptest.Note{{Title: "证书即将到期", Body: "UKey 12345 上的证书「某公司」还有 12 天到期，请及时续期。"}}
	if got := a.notes(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("notifications %q, want %q", got, want)
	}
	wantMenu := "显示窗口|--|(⚠ UKey 12345 · 某公司：剩余 12 天)|--|退出"
	apptest.Eventually(t, "the menu with the due certificate", func() bool {
		return strings.Join(menuLabels(a.lastMenu()), "|") == wantMenu
	})
	apptest.Eventually(t, "the alert icon", func() bool { return a.lastIcon() != nil && a.lastIcon().Name() == "icon-alert.png" })
	m := a.lastMenu()
	if quit := m.Items[len(m.Items)-1]; !quit.IsQuit || quit.Action == nil {
		t.Error("the last item is not Quit")
	} else {
		quit.Action()
		if a.quits != 1 {
			t.Errorf("Quit called the app's Quit %d times", a.quits)
		}
	}

	// The same day again: nothing more.
	if err := u.vm.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if fresh := vm.Check(t.Context(), u.vm.Listed()); len(fresh) != 0 || len(a.notes()) != 1 {
		t.Errorf("notified again the same day: %v, %v", fresh, a.notes())
	}

	// Closing hides the window to the tray and says so, once.
	win := u.Win.(*interceptWindow)
	if a.trayWin != u.Win {
		t.Error("the window is not the tray's")
	}
	intercept := win.closeIntercept()
	if intercept == nil {
		t.Fatal("closing the window would quit")
	}
	intercept()
	if !win.isHidden() {
		t.Error("closing did not hide the window")
	}
	intercept()
	hidden := []apptest.Note{{Title: "证书续期助手仍在运行", Body: "窗口已隐藏到系统托盘。证书快到期时会提醒您；点击托盘图标可重新打开，在托盘菜单中选择“退出”可关闭程序。"}}
	if got := a.notes()[1:]; fmt.Sprint(got) != fmt.Sprint(hidden) {
		t.Errorf("after closing twice: %q, want %q", got, hidden)
	}
	a.lastMenu().Items[0].Action() // 显示窗口
	if win.isHidden() {
		t.Error("Show window left it hidden")
	}

	// The token is pulled out: the menu says so and the dot goes.
	src.Remove("12345")
	if err := u.vm.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, "the menu without tokens", func() bool {
		return strings.Join(menuLabels(a.lastMenu()), "|") == "显示窗口|--|(未检测到 UKey)|--|退出"
	})
	apptest.Eventually(t, "the plain icon", func() bool { return a.lastIcon().Name() == assets.Icon().Name() })
}

func TestTrayCounterModeKeepsCloseAndSendsNothing(t *testing.T) {
	src := apptest.NewFakeSource()
	src.Insert(apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", apptest.T0.Add(apptest.Days(3)))), "123456", 10)
	u, a := newTrayUI(t, src, true)
	u.installTrayOn(desktopHost{tray: true, notify: true})
	u.startReminders()
	if err := u.vm.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := a.notes(); len(n) != 0 {
		t.Errorf("counter mode notified %q", n)
	}
	if a.lastMenu() != nil || a.trayWin != nil {
		t.Error("counter mode put up a tray: it would list one customer's certificates to the next")
	}
	win := u.Win.(*interceptWindow)
	if f := win.closeIntercept(); f == nil {
		t.Error("no close guard")
	} else if fyne.DoAndWait(f); win.isHidden() || !win.isClosed() {
		t.Error("counter mode: closing the window must quit, not hide")
	}
}

func TestTrayWithoutATrayHostStillNotifies(t *testing.T) {
	src := apptest.NewFakeSource()
	src.Insert(apptest.TokenWith("12345", apptest.CertEnding("0A1B", "某公司", apptest.T0.Add(-apptest.Days(1)))), "123456", 10)
	u, a := newTrayUI(t, src, false)
	if u.remind(desktopHost{}) != nil {
		t.Error("reminders without a tray or notifications")
	}
	u.installTrayOn(desktopHost{notify: true})
	u.remind(desktopHost{notify: true})
	if err := u.vm.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, "the reminder", func() bool { return len(a.notes()) == 1 })
	if got := a.notes()[0]; got.Body != "UKey 12345 上的证书「某公司」已过期 1 天，请尽快续期。" {
		t.Errorf("notified %q", got)
	}
	if a.lastMenu() != nil || a.trayWin != nil {
		t.Error("a tray was put up on a desktop without a tray host")
	}
	win := u.Win.(*interceptWindow)
	if f := win.closeIntercept(); f != nil {
		if fyne.DoAndWait(f); win.isHidden() || !win.isClosed() {
			t.Error("close hides the window on a desktop without a tray host")
		}
	}
}

func TestTrayProbeOfAppWithoutDesktop(t *testing.T) {
	a := test.NewTempApp(t)
	if h := probeDesktop(t.Context(), a); h.tray || h.notify {
		t.Errorf("the test app (no desktop.App) offers %+v", h)
	}
	if trayInstalled(a) {
		t.Error("the test app has a tray")
	}
	u := New(t.Context(), a, Deps{Tokens: apptest.NewFakeSource(), clock: fakeclock.New(apptest.T0), loc: time.UTC})
	t.Cleanup(u.Win.Close)
	u.installTray()
	if trayInstalled(a) {
		t.Error("installTray put a tray on an app without one")
	}
}

func TestTrayProbeAsksTheSessionBus(t *testing.T) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		testenv.Missing(t, "a D-Bus session bus (DBUS_SESSION_BUS_ADDRESS)")
	}
	ctx := t.Context()
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const watcher = "org.kde.StatusNotifierWatcher"
	if probeSessionBus(ctx).tray {
		t.Skip("this session has a tray host already")
	}
	reply, err := conn.RequestName(watcher, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("claim %s: %v %v", watcher, reply, err)
	}
	if !probeSessionBus(ctx).tray {
		t.Error("a StatusNotifierWatcher on the bus was not seen")
	}
	if _, err := conn.ReleaseName(watcher); err != nil {
		t.Fatal(err)
	}
	if probeSessionBus(ctx).tray {
		t.Error("a tray host seen after the watcher left")
	}

	// No bus address and no bus in /run/user: no bus daemon is launched.
	run := fmt.Sprintf("/run/user/%d/", os.Getuid())
	for _, f := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(run + f); err == nil {
			return // the user's own bus would be found
		}
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if h := probeSessionBus(ctx); h.tray || h.notify {
		t.Errorf("without a bus: %+v", h)
	}
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		t.Errorf("a bus was started: %s", a)
	}
}

func TestTrayLines(t *testing.T) {
	var views []model.TokenView
	for tok := range 2 {
		v := model.TokenView{Serial: fmt.Sprintf("T%d", tok)}
		for i := range 6 {
			v.Certs = append(v.Certs, model.CertView{Holder: fmt.Sprintf("公司%d", i), Serial: fmt.Sprintf("0%d", i), Badge: "剩余 100 天"})
		}
		views = append(views, v)
	}
	views[0].Certs[1] = model.CertView{Holder: "坏证书", Problem: "这个证书无法读取：asn1"}
	views = append(views, model.TokenView{Serial: "T9"})
	due := []model.Reminder{{TokenSerial: "T0", CertSerial: "00"}}
	got := trayLines(views, due)
	if len(got) != maxTrayLines+1 {
		t.Fatalf("%d lines, want %d and a count: %q", len(got), maxTrayLines, got)
	}
	for i, want := range map[int]string{
		0:            "⚠ UKey T0 · 公司0：剩余 100 天",
		1:            "UKey T0 · 坏证书：无法读取",
		2:            "UKey T0 · 公司2：剩余 100 天",
		maxTrayLines: "另有 2 个证书，请打开窗口查看", // of 12; the token without any is no certificate
	} {
		if got[i] != want {
			t.Errorf("line %d %q, want %q", i, got[i], want)
		}
	}
	if got := trayLines(views[2:], nil); len(got) != 1 || got[0] != "UKey T9：没有可用的证书" {
		t.Errorf("a token without certificates: %q", got)
	}
}

func TestTrayAlertIconHasARedDot(t *testing.T) {
	plain := assets.Icon()
	alert := alertIcon(plain)
	img, err := png.Decode(bytes.NewReader(alert.Content()))
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := png.Decode(bytes.NewReader(plain.Content()))
	if img.Bounds() != orig.Bounds() {
		t.Fatalf("size %v, want %v", img.Bounds(), orig.Bounds())
	}
	b := img.Bounds()
	r := b.Dx() * 22 / 100
	ring := r + b.Dx()/40
	c := color.NRGBAModel.Convert(img.At(b.Max.X-ring-1, b.Min.Y+ring)).(color.NRGBA)
	if c != (color.NRGBA{R: 0xe5, G: 0x39, B: 0x35, A: 0xff}) {
		t.Errorf("dot centre %v, want red", c)
	}
	if img.At(b.Min.X+b.Dx()/2, b.Min.Y+b.Dy()*3/4) != orig.At(b.Min.X+b.Dx()/2, b.Min.Y+b.Dy()*3/4) {
		t.Error("the icon changed away from the dot")
	}
	if broken := fyne.NewStaticResource("x.png", []byte("not a png")); alertIcon(broken) != broken {
		t.Error("an icon that cannot be decoded should be used as is")
	}
}

// BenchmarkProbeSessionBus is what installTray adds to the start-up on
// Linux: go test -bench ProbeSessionBus -run ^$ ./app/ (under a session bus).
func BenchmarkProbeSessionBus(b *testing.B) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		b.Skip("no D-Bus session bus")
	}
	for b.Loop() {
		probeSessionBus(b.Context())
	}
}

// BenchmarkAlertIcon: go test -bench AlertIcon -run ^$ ./app/
func BenchmarkAlertIcon(b *testing.B) {
	icon := assets.Icon()
	for b.Loop() {
		alertIcon(icon)
	}
}
