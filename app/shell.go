package app

import (
	"context"
	"net/url"
	"runtime/debug"
	"slices"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/session"
)

// Deps is what the window needs from the rest of the program.
type Deps struct {
	Tokens model.TokenSource
	PINs   model.PINSource
	// Counter is counter mode (--counter), for CA service counters: no
	// session is kept on disk (leave OpenStore nil), a "next customer"
	// action wipes everything of the customer served, and the customer is
	// signed out after IdleAfter without input (counter.go).
	Counter bool
	// IdleAfter is counter mode's idle sign-out: 0 means IdleAfterDefault,
	// a negative value turns it off, anything else below idleAfterMin is
	// raised to it.
	IdleAfter time.Duration
	// SystemIdle, if set, tells how long the whole desktop session has
	// had no input (SystemIdle: Windows' GetLastInputInfo), so counter
	// mode also sees input its own sensor cannot (a pointer moving inside
	// one button, keys on a focused button).
	SystemIdle func() (time.Duration, bool)
	// Account is the connection to the renewal service; nil leaves the
	// journey screens out (placeholders say what they will do).
	Account *model.Account
	// FirstRun, with no Account, is the first-run dialog's (NewFirstRun),
	// shown at Run; ServiceProblem, with neither, says why the configured
	// service cannot be used (firstrun.go).
	FirstRun       *model.FirstRunVM
	ServiceProblem string
	// OpenStore opens the session store, in the background at Run (nil:
	// the session lives in memory only, as in counter mode).
	OpenStore func(ctx context.Context) (*session.Store, error)
	// DeferJourney builds the journey's screens in Run, after the first
	// frame, instead of in New: the window shows sooner (the screens take
	// about 60 ms to build). Until then the navigation shows the same tabs,
	// empty.
	DeferJourney bool
	// Installer writes renewed certificates to tokens (nil: not available).
	Installer model.Installer
	// Open opens a saved file with the OS (the form PDF); OpenURL opens a
	// link in the browser (the e-invoice). Both may be nil.
	Open    func(path string) error
	OpenURL func(u *url.URL) error
	// Updater, if set, offers client updates in a bar over the window
	// (update_banner.go).
	Updater model.Updater

	// The rest the program leaves at zero; tests set them.
	clock model.Clock    // nil means the wall clock
	loc   *time.Location // nil means time.Local
	// counterDir is where counter mode keeps each customer's downloaded
	// files (one folder per customer, removed at the next customer); ""
	// means the temp dir.
	counterDir string
	// problem is "" or a sentence shown on the Tokens screen when no
	// PKCS#11 module could be loaded.
	problem string
	// payClock is the payment watcher's clock (nil: the wall clock).
	payClock client.Clock
}

// UI is the main window: a navigation rail on the left, the Tokens screen and
// the clerk's journey (placeholders when there is no renewal service). In
// counter mode a bar with "next customer" sits above them (counter.go).
type UI struct {
	Win    fyne.Window
	tokens *tokensScreen
	vm     *model.TokensVM
	nav    *container.AppTabs
	// journey is the clerk's screens from sign-in to writing (nil without
	// an Account). In counter mode each customer gets a new one: read it
	// on the UI goroutine.
	journey *journey

	ctx     context.Context
	app     fyne.App
	deps    Deps
	pin     *pinDialog           // the open PIN dialog, for tests
	tabs    []*container.TabItem // the tabs before the journey's (Tokens)
	counter *counter             // nil outside counter mode
	pending *model.Account       // the journey's Account until Run builds it (DeferJourney)
	desk    desktopHost          // what the desktop offers, probed once by installTray

	firstRun *firstRunDialog // built at its first showing (firstrun.go)
	// built is closed once Run has built the journey: Fyne's test driver
	// runs fyne.Do on the caller's goroutine, so a test waits for it before
	// it touches the window again.
	built  chan struct{}
	update *updateBanner // nil without an Updater
}

// New builds the main window for app a. Start the view-model with Run.
func New(ctx context.Context, a fyne.App, deps Deps) *UI {
	if deps.clock == nil {
		deps.clock = model.SystemClock{}
	}
	if deps.loc == nil {
		deps.loc = time.Local
	}
	u := &UI{ctx: ctx, app: a, deps: deps, built: make(chan struct{})}
	title := lang.X("app.title", "证书续期助手")
	if deps.Counter {
		title += " · " + lang.X("app.counter_mode", "柜台模式")
	}
	u.Win = a.NewWindow(title)
	u.vm = model.NewTokensVM(deps.Tokens, deps.clock, model.Formatter{Lang: model.CurrentLang(), Loc: deps.loc})
	if deps.problem != "" {
		u.vm.ReportProblem(deps.problem)
	}
	u.tokens = newTokensScreen(ctx, u.vm, u.showPIN)
	if deps.Account != nil || deps.FirstRun != nil { // 续期 and 修复 lead into the journey
		u.tokens.OnRenew = func(_ string, c model.CertView) {
			if u.journey != nil {
				u.journey.RenewCert(c.Serial)
			} else {
				u.showFirstRun() // no service yet
			}
		}
		if deps.Installer != nil {
			u.tokens.OnRepair = func(serial string) {
				if u.journey != nil {
					u.journey.Repair(serial)
				}
			}
		}
	}
	tokens := container.NewTabItemWithIcon(lang.X("nav.tokens", "UKey 与证书"), theme.StorageIcon(), container.NewPadded(u.tokens.Object()))
	u.tabs = []*container.TabItem{tokens}
	if deps.Counter {
		u.counter = newCounter(u)
	}
	u.nav = container.NewAppTabs()
	u.nav.SetTabLocation(container.TabLocationLeading)
	if deps.DeferJourney && deps.Account != nil {
		u.pending = deps.Account
		u.nav.SetItems(append(slices.Clone(u.tabs), journeyStubs()...))
	} else {
		u.setJourney(deps.Account)
	}
	u.Win.SetOnDropped(func(p fyne.Position, uris []fyne.URI) {
		if u.counter != nil {
			u.counter.idle.touch()
		}
		if u.journey != nil {
			u.journey.Dropped(p, uris)
		}
	})
	if u.counter != nil {
		u.Win.SetContent(u.counter.wrap(u.withUpdates(u.nav)))
	} else {
		u.Win.SetContent(u.withUpdates(u.nav))
	}
	size := fyne.NewSize(960, 680)
	if u.counter != nil {
		size.Height += counterBarHeight // the menu and the counter bar over the rail
	}
	u.Win.Resize(size)
	// Closing never cuts a write to the UKey short; with a tray, closing
	// hides the window instead (installTray replaces this).
	u.Win.SetCloseIntercept(func() {
		if !u.refuseClose() {
			u.Win.Close()
		}
	})
	u.installTray() // before the app runs: Fyne starts its tray only then
	return u
}

// refuseClose reports whether closing or quitting must wait because a
// certificate is being written to a UKey, and then says so in the window.
// Call it on the UI goroutine.
func (u *UI) refuseClose() bool {
	if !u.writing() {
		return false
	}
	u.Win.Show()
	u.Win.RequestFocus()
	dialog.ShowInformation(lang.X("close.wait_title", "正在写入 UKey"),
		lang.X("close.wait_write", "正在把新证书写入 UKey，请等写入完成后再关闭程序。中途关闭不会损坏 UKey，但下次启动时需要输入口令完成写入。"), u.Win)
	return true
}

// setJourney builds the clerk's screens over acc (placeholders when acc is
// nil) and puts them in the navigation after the Tokens screen. In counter
// mode each journey gets its own context and folder, which the next
// customer ends.
func (u *UI) setJourney(acc *model.Account) {
	if acc == nil {
		u.journey = nil
		u.nav.SetItems(append(slices.Clone(u.tabs), u.noJourney()...))
		return
	}
	ctx, dir := u.ctx, ""
	if u.counter != nil {
		ctx, dir = u.counter.begin()
	}
	d := u.deps
	u.journey = newJourney(ctx, u.Win, journeyDeps{Account: acc, Installer: d.Installer, Tokens: d.Tokens,
		PINs: d.PINs, TokensVM: u.vm, Clock: d.clock, PayClock: d.payClock, Dir: dir,
		Fmt: model.Formatter{Lang: model.CurrentLang(), Loc: d.loc}, Open: d.Open, OpenURL: d.OpenURL, OpenStore: d.OpenStore})
	u.nav.SetItems(append(slices.Clone(u.tabs), u.journey.Items()...))
	u.journey.Attach(u.nav)
	if u.update != nil {
		u.update.follow(acc)
	}
}

// account is the current customer's connection to the renewal service (a
// new one after each next customer in counter mode); nil without a service.
func (u *UI) account() *model.Account {
	if u.journey == nil {
		return u.pending // nil, or not built yet (DeferJourney)
	}
	return u.journey.deps.Account
}

// placeholders stand for the journey's screens in a window without a
// renewal service.
func placeholders() []*container.TabItem {
	return []*container.TabItem{
		placeholder(lang.X("nav.signin", "登录"), theme.AccountIcon(),
			lang.X("later.signin", "用手机号和短信验证码（或账号和密码）登录续期服务；重启后仍保持登录，但从不保存 UKey 口令。")),
		placeholder(lang.X("nav.renew", "续期申请"), theme.DocumentCreateIcon(),
			lang.X("later.renew", "从选中的证书发起续期：自动带出证书和上次申请的信息，填写时逐项校验，可保存草稿或提交审核。")),
		placeholder(lang.X("nav.applications", "申请进度"), theme.ListIcon(),
			lang.X("later.applications", "查看每个申请的状态（编辑中、待审核、审核通过、审核不通过）和可以进行的操作，上传盖章的申请表。")),
		placeholder(lang.X("nav.pay", "支付"), theme.ContentPasteIcon(),
			lang.X("later.pay", "微信扫码支付，二维码 300 秒内有效并显示倒计时；到账后自动进入下一步；之后进行金融认证（对公账户打款验证）。")),
		placeholder(lang.X("nav.write", "写入 UKey"), theme.DownloadIcon(),
			lang.X("later.write", "输入口令后把新证书写入 UKey 并校验；中途拔出或断电，下次启动时可以继续，UKey 上始终保留可用的证书。")),
		placeholder(lang.X("nav.invoice", "发票"), theme.MailSendIcon(),
			lang.X("later.invoice", "支付后申请增值税普通电子发票，查看开票状态和下载链接。")),
	}
}

func placeholder(name string, icon fyne.Resource, what string) *container.TabItem {
	title := widget.NewLabelWithStyle(name, fyne.TextAlignLeading, fyne.TextStyle{})
	title.SizeName = theme.SizeNameHeadingText
	notYet := widget.NewLabel(lang.X("later.not_yet", "此功能尚未完成，将在后续版本提供。"))
	notYet.Importance = widget.WarningImportance
	body := widget.NewLabel(what)
	body.Wrapping = fyne.TextWrapWord
	return container.NewTabItemWithIcon(name, icon, container.NewPadded(container.NewVBox(title, notYet, body)))
}

// startupSettle is how long after Run the start-up scratch memory is handed
// back to the operating system.
const startupSettle = 2 * time.Second

// Run starts the Tokens view-model; it returns when ctx is done. Once the
// window has settled it returns the start-up garbage (font tables parsed per
// text style, decoded images, rasterised glyphs: about 20 MB) to the
// operating system: the client stays open all day, and Go would otherwise
// keep those pages until the heap grew into them.
func (u *UI) Run() {
	var j *journey
	fyne.DoAndWait(func() {
		if acc := u.pending; acc != nil { // SetItems keeps a tab chosen meanwhile
			u.pending = nil
			u.setJourney(acc)
		}
		j = u.journey
		if j == nil {
			u.showFirstRun() // with no service configured
		}
	})
	select {
	case <-u.built: // Run again
	default:
		close(u.built)
	}
	if j != nil {
		j.Start() // resume the session, look for interrupted writes (once)
	}
	if u.counter != nil {
		go u.counter.run(u.ctx)
	}
	u.startReminders()
	u.startUpdates()
	go func() {
		select {
		case <-time.After(startupSettle):
			debug.FreeOSMemory()
		case <-u.ctx.Done():
		}
	}()
	u.vm.Run(u.ctx)
}

// showPIN opens the PIN dialog for the token with serial (checking the PIN).
func (u *UI) showPIN(serial string) {
	if u.deps.PINs == nil {
		return
	}
	if u.writing() {
		// The check would share the write's login (PKCS#11 logs in per
		// program) and log it out after.
		dialog.ShowInformation(lang.X("close.wait_title", "正在写入 UKey"),
			lang.X("pin.busy_write", "正在把证书写入 UKey，写入完成后再验证口令。"), u.Win)
		return
	}
	vm := model.NewPINVM(u.deps.PINs, serial, nil)
	u.pin = newPINDialog(u.ctx, vm, u.Win, func() {
		go func() { _ = u.vm.Reload(u.ctx) }() // the PIN state may have changed
	})
	u.pin.Show(u.Win)
}
