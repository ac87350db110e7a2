package app

import (
	"context"
	"net/url"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/session"
)

// journeyDeps is what the clerk's journey screens need.
type journeyDeps struct {
	Account *model.Account
	// Installer writes certificates to tokens; nil in builds without
	// PKCS#11 (the Write screen then says so).
	Installer model.Installer
	Tokens    model.TokenSource
	PINs      model.PINSource
	// TokensVM feeds the renew form's certificate picker (may be nil).
	TokensVM *model.TokensVM
	Clock    model.Clock  // nil: the wall clock
	PayClock client.Clock // nil: the wall clock
	Fmt      model.Formatter
	// Open opens a saved file with the OS (the form PDF); OpenURL opens a
	// link in the browser (the e-invoice).
	Open    func(path string) error
	OpenURL func(u *url.URL) error
	// Dir is where downloaded files are saved ("" for the temp dir).
	Dir string
	// OpenStore, if set, opens the session store in the background at
	// Start (nil: the Account's own store, if any).
	OpenStore func(ctx context.Context) (*session.Store, error)
}

// journey is the clerk's screens from sign-in to a renewed certificate on
// the token, wired to each other: an application's actions lead to the
// screen that carries them out, a payment or a write that completes goes
// back to the list.
//
// The model. One Account holds the service client and the session (kept
// through client/session: keyring, else TPM-sealed file, else memory, and
// the sign-in screen says which). Each screen has a view-model in plain Go
// (SignInVM, RenewVM, ApplicationsVM, PayVM, FinVerifyVM, WriteVM) owning
// Fyne bindings, taking its clock by injection and calling the service or
// the token from its own goroutine; the screens only bind widgets to them.
// What the clerk may do to an application is exactly
// renewal.AllowedActions for the clerk in its state; fields are checked
// with renewal.CheckTyping as they are typed and renewal.ValidateFormField
// on save; the pay countdown comes from the service's expiry through
// client.PaymentWatcher; writing to the token runs client/renewflow (shared
// with ukeyctl fetch-install) behind the Installer interface, after the PIN
// dialog's view-model logged in once.
type journey struct {
	ctx  context.Context
	deps journeyDeps
	win  fyne.Window
	tabs *container.AppTabs

	SignInVM  *model.SignInVM
	AppsVM    *model.ApplicationsVM
	RenewVM   *model.RenewVM
	PayVM     *model.PayVM
	FinVM     *model.FinVerifyVM
	WriteVM   *model.WriteVM
	SignIn    *signInScreen
	Apps      *applicationsScreen
	Renew     *renewScreen
	Pay       *payScreen
	FinVerify *finVerifyScreen
	Write     *writeScreen
	InvoiceVM *model.InvoiceVM
	Invoice   *invoiceScreen

	items map[screen]*container.TabItem
	// onTokens is the listener on the shared TokensVM; prevSelected is the
	// tabs' OnSelected before Attach. Close hands both back.
	onTokens     binding.DataListener
	prevSelected func(*container.TabItem)
	started      atomic.Bool // Start ran: token changes look for interrupted writes
}

// newJourney builds the screens over win.
func newJourney(ctx context.Context, win fyne.Window, d journeyDeps) *journey {
	j := &journey{ctx: ctx, deps: d, win: win, items: map[screen]*container.TabItem{}}
	acc := d.Account
	j.SignInVM = model.NewSignInVM(acc, d.Clock)
	j.AppsVM = model.NewApplicationsVM(acc, d.Clock, d.Fmt)
	j.AppsVM.Open, j.AppsVM.Dir = d.Open, d.Dir
	j.RenewVM = model.NewRenewVM(acc, d.Fmt)
	j.PayVM = model.NewPayVM(acc, d.PayClock, d.Fmt)
	j.FinVM = model.NewFinVerifyVM(acc)
	j.SignIn = newSignInScreen(ctx, j.SignInVM, acc)
	j.Apps = newApplicationsScreen(ctx, j.AppsVM, win, appsNav{Edit: j.edit, Pay: j.pay, Verify: j.verify, Write: j.write, Invoice: j.invoice})
	j.InvoiceVM = model.NewInvoiceVM(acc)
	j.InvoiceVM.OpenURL = d.OpenURL
	j.Invoice = newInvoiceScreen(ctx, j.InvoiceVM)
	j.Renew = newRenewScreen(ctx, j.RenewVM)
	j.Pay = newPayScreen(ctx, j.PayVM)
	j.FinVerify = newFinVerifyScreen(ctx, j.FinVM)
	j.PayVM.OnPaid = func(string) {
		_ = j.AppsVM.Reload(ctx)
		// Move on by itself, after a moment to see the paid mark.
		go func() {
			select {
			case <-ctx.Done():
			case <-time.After(paidMoveOn):
				fyne.Do(func() {
					if ctx.Err() == nil {
						j.Show(screenApps)
					}
				})
			}
		}()
	}
	j.FinVerify.OnNext = func() {
		if r, ok := j.AppsVM.Row(j.FinVM.AppID()); ok {
			j.write(r)
		} else {
			j.Show(screenApps)
		}
	}
	j.RenewVM.Busy.AddListener(binding.NewDataListener(func() {
		if busy, _ := j.RenewVM.Busy.Get(); !busy && j.RenewVM.Application() != nil {
			go func() { _ = j.AppsVM.Reload(ctx) }() // a draft was made, saved or submitted
		}
	}))

	var write fyne.CanvasObject
	if d.Installer != nil {
		j.WriteVM = model.NewWriteVM(acc, d.Installer, d.PINs)
		j.Write = newWriteScreen(ctx, j.WriteVM, win)
		j.WriteVM.Done.AddListener(binding.NewDataListener(func() {
			if done, _ := j.WriteVM.Done.Get(); done {
				go func() { _ = j.AppsVM.Reload(ctx) }()
			}
		}))
		write = j.Write.Object()
	} else {
		l := widget.NewLabel(lang.X("write.unavailable", "这个版本无法访问 UKey（未包含 PKCS#11 支持）。"))
		l.Wrapping = fyne.TextWrapWord
		write = container.NewVBox(heading(lang.X("write.title", "写入 UKey")), l)
	}
	content := map[screen]fyne.CanvasObject{screenSignIn: j.SignIn.Object(), screenRenew: j.Renew.Object(), screenApps: j.Apps.Object(),
		screenPay: j.Pay.Object(), screenFinVerify: container.NewVScroll(j.FinVerify.Object()), screenWrite: write,
		screenInvoice: container.NewVScroll(j.Invoice.Object())}
	for _, t := range journeyTabs() {
		j.items[t.name] = container.NewTabItemWithIcon(t.label, t.icon, container.NewPadded(content[t.name]))
	}

	if d.TokensVM != nil {
		j.onTokens = binding.NewDataListener(func() {
			toks, _ := d.TokensVM.Tokens.Get()
			j.Renew.SetTokens(toks)
			j.checkUnfinished()
		})
		d.TokensVM.Tokens.AddListener(j.onTokens)
	}
	acc.SignedIn.AddListener(binding.NewDataListener(func() {
		if in, _ := acc.SignedIn.Get(); in {
			go func() { _ = j.AppsVM.Reload(ctx) }()
		}
	}))
	return j
}

// Item is the tab of screen s.
func (j *journey) Item(s screen) *container.TabItem { return j.items[s] }

// Items are the journey's tabs in the clerk's order.
func (j *journey) Items() []*container.TabItem {
	out := []*container.TabItem{}
	for _, t := range journeyTabs() {
		out = append(out, j.items[t.name])
	}
	return out
}

// journeyTab is one of the journey's screens in the navigation.
type journeyTab struct {
	name  screen
	label string
	icon  fyne.Resource
}

// screen names one of the journey's screens.
type screen int

// The journey's screens, in the clerk's order.
const (
	screenSignIn screen = iota
	screenRenew
	screenApps
	screenPay
	screenFinVerify
	screenWrite
	screenInvoice
)

// journeyTabs are the journey's screens in the clerk's order.
func journeyTabs() []journeyTab {
	return []journeyTab{
		{screenSignIn, lang.X("nav.signin", "登录"), theme.AccountIcon()},
		{screenRenew, lang.X("nav.renew", "续期申请"), theme.DocumentCreateIcon()},
		{screenApps, lang.X("nav.applications", "申请进度"), theme.ListIcon()},
		{screenPay, lang.X("nav.pay", "支付"), theme.ContentPasteIcon()},
		{screenFinVerify, lang.X("nav.finverify", "金融认证"), theme.ConfirmIcon()},
		{screenWrite, lang.X("nav.write", "写入 UKey"), theme.DownloadIcon()},
		{screenInvoice, lang.X("nav.invoice", "发票"), theme.MailSendIcon()},
	}
}

// journeyStubs are the journey's tabs, empty: the navigation while the
// screens are built after the first frame (Deps.DeferJourney).
func journeyStubs() []*container.TabItem {
	out := []*container.TabItem{}
	for _, t := range journeyTabs() {
		out = append(out, container.NewTabItemWithIcon(t.label, t.icon, container.NewStack()))
	}
	return out
}

// paidMoveOn is how long the Pay screen shows the paid mark before the
// applications list comes back.
const paidMoveOn = 2 * time.Second

// Attach lets the journey switch tabs (the shell's navigation); opening
// the applications list reads it again.
func (j *journey) Attach(tabs *container.AppTabs) {
	j.tabs = tabs
	prev := tabs.OnSelected
	j.prevSelected = prev
	tabs.OnSelected = func(item *container.TabItem) {
		if prev != nil {
			prev(item)
		}
		if item == j.items[screenApps] && j.deps.Account.Client().SignedIn() {
			go func() { _ = j.AppsVM.Reload(j.ctx) }()
		}
		j.focusFirst(item)
	}
}

// focusFirst puts the keyboard focus on the first field of the screen the
// clerk just opened.
func (j *journey) focusFirst(item *container.TabItem) {
	switch item {
	case j.items[screenSignIn]:
		j.SignIn.FocusFirst()
	case j.items[screenRenew]:
		j.Renew.FocusFirst()
	case j.items[screenPay]:
		j.Pay.FocusFirst()
	case j.items[screenFinVerify]:
		j.FinVerify.FocusFirst()
	case j.items[screenInvoice]:
		j.Invoice.FocusFirst()
	case j.items[screenWrite]:
		if j.Write != nil {
			j.Write.FocusFirst()
		}
	}
}

// Close ends the journey's ties to what outlives it, for counter mode's
// next customer: the payment watch stops, the shared TokensVM forgets the
// journey's listener and the tabs get back the OnSelected they had before
// Attach, so Show does nothing any more. The journey's goroutines end with
// its context, which the caller cancels. Call it on the UI goroutine.
func (j *journey) Close() {
	j.PayVM.Stop()
	if j.deps.TokensVM != nil && j.onTokens != nil {
		j.deps.TokensVM.Tokens.RemoveListener(j.onTokens)
		j.onTokens = nil
	}
	if j.tabs != nil {
		j.tabs.OnSelected = j.prevSelected
		j.tabs = nil
	}
}

// Show selects screen s.
func (j *journey) Show(s screen) {
	if j.tabs != nil && j.items[s] != nil {
		j.tabs.Select(j.items[s])
	}
}

// Start resumes a saved session and looks for interrupted writes; it runs
// in the background.
func (j *journey) Start() {
	if !j.started.CompareAndSwap(false, true) {
		return // a counter wipe may have started it before Run
	}
	go func() {
		if j.deps.OpenStore != nil {
			st, err := j.deps.OpenStore(j.ctx)
			if err != nil {
				_ = j.SignInVM.Message.Set(lang.X("session.open_failed", "无法打开保存登录状态的位置（{{.Err}}）：关闭程序后需要重新登录。", map[string]any{"Err": err}))
			}
			j.deps.Account.UseStore(st)
		}
		if err := j.deps.Account.Resume(j.ctx); err == nil {
			_ = j.AppsVM.Reload(j.ctx)
		}
		if j.WriteVM != nil {
			if err := j.WriteVM.Check(j.ctx); err == nil {
				if s, _ := j.WriteVM.Unfinished.Get(); len(s) > 0 {
					fyne.Do(func() { j.Show(screenWrite) })
				}
			}
		}
	}()
}

// Dropped handles files dropped on the window (scans to upload).
func (j *journey) Dropped(_ fyne.Position, uris []fyne.URI) {
	j.Show(screenApps)
	j.Apps.Dropped(uris)
}

func (j *journey) edit(r model.AppRow) {
	j.Show(screenRenew)
	go func() { _ = j.RenewVM.Edit(j.ctx, r.App) }()
}

func (j *journey) pay(r model.AppRow) {
	j.Show(screenPay)
	j.Pay.Pay(r.ID)
}

func (j *journey) verify(r model.AppRow) {
	j.Show(screenFinVerify)
	j.FinVerify.Load(r.ID)
}

func (j *journey) invoice(r model.AppRow) {
	j.Show(screenInvoice)
	j.Invoice.Load(r.ID)
}

func (j *journey) write(r model.AppRow) {
	j.Show(screenWrite)
	if j.WriteVM == nil {
		return
	}
	go func() {
		if err := j.WriteVM.Prepare(j.ctx, j.deps.Tokens, r.App); err == nil {
			fyne.Do(j.Write.Show)
		}
	}()
}

// RenewCert opens the renew form for the certificate with serial (the
// Tokens screen's 续期): it is chosen in the form's picker, which reads the
// certificate and the last application. It reports whether the
// certificate is among those the picker offers.
func (j *journey) RenewCert(serial string) bool {
	j.Show(screenRenew)
	for opt, s := range j.Renew.picks {
		if s == serial {
			j.Renew.Pick.SetSelected(opt)
			return true
		}
	}
	return false
}

// Repair finishes or rolls back an interrupted write on the token with
// serial (the Tokens screen's 修复): the Write screen asks for the PIN and
// runs token.Recover through the installer.
func (j *journey) Repair(serial string) {
	j.Show(screenWrite)
	if j.WriteVM == nil {
		return
	}
	if j.WriteVM.Running() { // its login would take the running write's session
		_ = j.WriteVM.Message.Set(lang.X("write.busy_repair", "正在写入证书，请等写入完成后再修复 UKey。"))
		return
	}
	j.Write.askFinishPIN(serial)
}

// checkUnfinished looks again for interrupted writes when the inserted
// tokens change (a token pulled mid-write and put back after a restart),
// unless a write is running: its own journal is not an interrupted one.
// Start looks once anyway, so the first listing is left to it.
func (j *journey) checkUnfinished() {
	if j.WriteVM == nil || !j.started.Load() {
		return
	}
	go func() { _ = j.WriteVM.CheckUnlessBusy(j.ctx) }()
}
