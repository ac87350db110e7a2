package app

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"runtime"
	"slices"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"github.com/godbus/dbus/v5"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/assets"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Limits of the tray.
const (
	// desktopProbeTimeout bounds the look for a tray host and a
	// notification service on the session bus (a few milliseconds on a
	// healthy bus; installTray waits for it before the window shows).
	desktopProbeTimeout = time.Second
	// maxTrayLines is how many certificates the tray menu lists; the rest
	// are counted in one line.
	maxTrayLines = 10
)

// desktopHost is what the desktop offers: a system tray (on Linux a
// StatusNotifier host, which plain X servers and GNOME without an extension
// lack) and notifications.
type desktopHost struct{ tray, notify bool }

// probeDesktop looks at what the desktop offers app a. Windows and macOS
// always have a tray and notifications; on Linux and the BSDs the session
// bus is asked, so that Fyne's systray does not log errors on a desktop
// without a tray host. An app that is not a desktop.App (the test app) has
// neither.
func probeDesktop(ctx context.Context, a fyne.App) desktopHost {
	if _, ok := a.(desktop.App); !ok {
		return desktopHost{}
	}
	switch runtime.GOOS {
	case "windows", "darwin":
		return desktopHost{tray: true, notify: true}
	case "linux", "freebsd", "openbsd", "netbsd":
		return probeSessionBus(ctx)
	}
	return desktopHost{}
}

// probeSessionBus asks the D-Bus session bus for a StatusNotifierWatcher
// (the tray host) and a notification service (running or activatable). It
// never starts a bus: godbus would otherwise autolaunch a bus daemon that
// outlives the client.
func probeSessionBus(ctx context.Context) desktopHost {
	conn, err := dbus.SessionBusPrivateNoAutoStartup(dbus.WithContext(ctx))
	if err != nil {
		return desktopHost{}
	}
	defer conn.Close()
	if conn.Auth(nil) != nil || conn.Hello() != nil {
		return desktopHost{}
	}
	bus := conn.BusObject()
	owned := func(name string) bool {
		var ok bool
		return bus.CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&ok) == nil && ok
	}
	var activatable []string
	_ = bus.CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&activatable)
	const notifications = "org.freedesktop.Notifications"
	return desktopHost{
		tray:   owned("org.kde.StatusNotifierWatcher"),
		notify: owned(notifications) || slices.Contains(activatable, notifications),
	}
}

// installTray puts the tray icon up when the desktop has a tray host, with
// a menu to show the window and quit; outside counter mode the window's close
// button then hides the window to the tray. Fyne starts its system tray only
// when the app starts running, so installTray must run on the main
// goroutine before the window is shown: set up later, the icon would never
// appear and quitting would panic in Fyne's systray. startReminders then
// keeps the menu and the icon up to date.
func (u *UI) installTray() {
	if u.deps.Counter { // no tray at a counter: nothing to probe for
		return
	}
	ctx, cancel := context.WithTimeout(u.ctx, desktopProbeTimeout)
	u.desk = probeDesktop(ctx, u.app)
	cancel()
	u.installTrayOn(u.desk)
}

func (u *UI) installTrayOn(host desktopHost) {
	desk, ok := u.app.(desktop.App)
	if !ok || !host.tray || u.deps.Counter { // a counter serves many customers: no tray, no reminders
		return
	}
	t := u.newTray(desk, nil, u.notifier(host))
	desk.SetSystemTrayMenu(t.menu())
	desk.SetSystemTrayIcon(t.icon)
	desk.SetSystemTrayWindow(u.Win) // a click on the icon shows it
	u.Win.SetCloseIntercept(func() {
		if !u.refuseClose() {
			t.hide()
		}
	})
}

// trayInstalled reports whether a system tray menu was set on a (the
// desktop driver keeps it).
func trayInstalled(a fyne.App) bool {
	type trayMenu interface{ SystemTrayMenu() *fyne.Menu }
	if m, ok := a.(trayMenu); ok {
		return m.SystemTrayMenu() != nil
	}
	if m, ok := a.Driver().(trayMenu); ok {
		return m.SystemTrayMenu() != nil
	}
	return false
}

// startReminders starts the expiry reminders and keeps the tray's menu and
// icon up to date when installTray put one up, on the desktop installTray
// probed. It returns at once.
func (u *UI) startReminders() {
	if u.deps.Counter {
		return
	}
	host := u.desk
	host.tray = host.tray && trayInstalled(u.app)
	go u.remind(host)
}

// notifier sends notifications on host; nil when it has none, and in
// counter mode (the tokens at a counter are passing customers').
func (u *UI) notifier(host desktopHost) func(title, body string) {
	if !host.notify || u.deps.Counter {
		return nil
	}
	return func(title, body string) { u.app.SendNotification(fyne.NewNotification(title, body)) }
}

// remind starts the reminders, and the tray's updates when host.tray, and
// returns the view-model (nil when the desktop offers neither a tray nor
// notifications). The reminders run until the UI's context is done.
func (u *UI) remind(host desktopHost) *model.ReminderVM {
	if !host.tray && !host.notify {
		return nil
	}
	var svc model.ReminderService
	if u.deps.Account != nil {
		svc = model.AccountReminders(u.deps.Account)
	}
	notify := u.notifier(host)
	vm := model.NewReminderVM(svc, u.deps.clock, model.Formatter{Lang: model.CurrentLang(), Loc: u.deps.loc}, notify)

	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	u.vm.Tokens.AddListener(binding.NewDataListener(poke))
	if acc := u.deps.Account; acc != nil {
		// a sign-in or sign-out changes which certificates are renewed
		acc.SignedIn.AddListener(binding.NewDataListener(func() { vm.Invalidate(); poke() }))
	}
	if desk, ok := u.app.(desktop.App); ok && host.tray {
		t := u.newTray(desk, vm, notify)
		t.alert = alertIcon(t.icon)
		refresh := binding.NewDataListener(t.refresh)
		u.vm.Tokens.AddListener(refresh)
		vm.Due.AddListener(refresh)
	}
	go vm.Run(u.ctx, u.vm.Listed, changed)
	return vm
}

// tray is the system tray icon and its menu: show the window, one line per
// certificate with its badge (marked when it needs renewing), quit. The
// icon carries a red dot while a certificate needs renewing. Its methods
// run on the UI goroutine; refresh also locks, so that two refreshes (of
// the tokens and of the reminders) never apply a stale menu last where
// callbacks do not share one goroutine (Fyne's test driver).
type tray struct {
	app    fyne.App
	desk   desktop.App
	win    fyne.Window
	tokens *model.TokensVM
	rem    *model.ReminderVM        // nil until the reminders start
	notify func(title, body string) // nil: none

	icon       fyne.Resource
	alert      fyne.Resource // made off the UI goroutine (20 ms) by remind
	toldHidden bool
	canQuit    func() bool // false while quitting would cut a write short

	mu       sync.Mutex // guards alerting and orders refreshes
	alerting bool
}

func (u *UI) newTray(desk desktop.App, rem *model.ReminderVM, notify func(title, body string)) *tray {
	return &tray{app: u.app, desk: desk, win: u.Win, tokens: u.vm, rem: rem, notify: notify, icon: assets.Icon(),
		canQuit: func() bool { return !u.refuseClose() }}
}

// hide hides the window to the tray; the first time it says where it went.
func (t *tray) hide() {
	t.win.Hide()
	if !t.toldHidden && t.notify != nil {
		t.toldHidden = true
		t.notify(lang.X("tray.hidden_title", "证书续期助手仍在运行"),
			lang.X("tray.hidden_body", "窗口已隐藏到系统托盘。证书快到期时会提醒您；点击托盘图标可重新打开，在托盘菜单中选择“退出”可关闭程序。"))
	}
}

func (t *tray) refresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	due := t.due()
	t.desk.SetSystemTrayMenu(t.menu())
	if alerting := len(due) > 0; alerting != t.alerting {
		t.alerting = alerting
		if alerting {
			t.desk.SetSystemTrayIcon(t.alert)
		} else {
			t.desk.SetSystemTrayIcon(t.icon)
		}
	}
}

func (t *tray) due() []model.Reminder {
	if t.rem == nil {
		return nil
	}
	due, _ := t.rem.Due.Get()
	return due
}

func (t *tray) menu() *fyne.Menu {
	views, _ := t.tokens.Tokens.Get()
	due := t.due()
	show := fyne.NewMenuItem(lang.X("tray.show", "显示窗口"), func() {
		t.win.Show()
		t.win.RequestFocus()
	})
	items := []*fyne.MenuItem{show, fyne.NewMenuItemSeparator()}
	for _, l := range trayLines(views, due) {
		it := fyne.NewMenuItem(l, nil)
		it.Disabled = true
		items = append(items, it)
	}
	quit := fyne.NewMenuItem(lang.X("tray.quit", "退出"), func() {
		if t.canQuit == nil || t.canQuit() {
			t.app.Quit()
		}
	})
	quit.IsQuit = true
	items = append(items, fyne.NewMenuItemSeparator(), quit)
	return fyne.NewMenu(lang.X("app.title", "证书续期助手"), items...)
}

// certKey is a certificate on a token: the token's serial and the
// certificate's, normalised.
type certKey struct{ token, cert string }

// trayLines is one line per certificate on the inserted tokens, "⚠ " in
// front of those that need renewing, at most MaxTrayLines.
func trayLines(views []model.TokenView, due []model.Reminder) []string {
	if len(views) == 0 {
		return []string{lang.X("tokens.none", "未检测到 UKey")}
	}
	isDue := map[certKey]bool{}
	for _, r := range due {
		isDue[certKey{r.TokenSerial, renewal.NormalizeSerial(r.CertSerial)}] = true
	}
	var lines []string
	total := 0
	for _, v := range views {
		for _, c := range v.Certs {
			total++
			if len(lines) == maxTrayLines {
				continue
			}
			status := c.Badge
			if c.Problem != "" {
				status = lang.X("tray.unreadable", "无法读取")
			}
			l := lang.X("tray.cert_line", "UKey {{.Token}} · {{.Holder}}：{{.Status}}",
				map[string]any{"Token": v.Serial, "Holder": c.Holder, "Status": status})
			if isDue[certKey{v.Serial, renewal.NormalizeSerial(c.Serial)}] {
				l = "⚠ " + l
			}
			lines = append(lines, l)
		}
		if len(v.Certs) == 0 && len(lines) < maxTrayLines {
			total++
			lines = append(lines, lang.X("tray.token_line", "UKey {{.Token}}：{{.Status}}",
				map[string]any{"Token": v.Serial, "Status": lang.X("tray.no_certs", "没有可用的证书")}))
		}
	}
	if more := total - len(lines); more > 0 {
		lines = append(lines, lang.XN("tray.more", "另有 {{.Count}} 个证书，请打开窗口查看", more, map[string]any{"Count": more}))
	}
	return lines
}

// alertIcon is icon with a red dot in its top right corner; icon itself if
// it cannot be decoded.
func alertIcon(icon fyne.Resource) fyne.Resource {
	src, err := png.Decode(bytes.NewReader(icon.Content()))
	if err != nil {
		return icon
	}
	b := src.Bounds()
	img := image.NewNRGBA(b)
	draw.Draw(img, b, src, b.Min, draw.Src)
	size := b.Dx()
	r := size * 22 / 100
	red := color.NRGBA{R: 0xe5, G: 0x39, B: 0x35, A: 0xff}
	white := color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}
	ring := r + size/40
	cx, cy := b.Max.X-ring-1, b.Min.Y+ring
	for y := cy - ring; y <= cy+ring; y++ {
		for x := cx - ring; x <= cx+ring; x++ {
			d := (x-cx)*(x-cx) + (y-cy)*(y-cy)
			switch {
			case d <= r*r:
				img.SetNRGBA(x, y, red)
			case d <= ring*ring:
				img.SetNRGBA(x, y, white)
			}
		}
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return icon
	}
	return fyne.NewStaticResource("icon-alert.png", out.Bytes())
}
