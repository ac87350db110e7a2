package app

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
)

// signInScreen is the sign-in screen: mobile + SMS code or account +
// password while signed out; who is signed in, where the session is kept and
// a sign-out button while signed in.
type signInScreen struct {
	vm  *model.SignInVM
	acc *model.Account
	ctx context.Context

	root                             *fyne.Container
	Mobile, Code, AccountName, Passw *widget.Entry
	Send, SignInSMS, SignInPW        *widget.Button
	Out                              *appwidget.KeyButton
	kept                             *appwidget.Badge
	// Methods are the two ways to sign in (SMS, password), as tabs.
	Methods             *container.AppTabs
	signedIn, signedOut *fyne.Container
}

// newSignInScreen builds the screen and starts the resend countdown's
// ticker, which stops with ctx.
func newSignInScreen(ctx context.Context, vm *model.SignInVM, acc *model.Account) *signInScreen {
	s := &signInScreen{vm: vm, acc: acc, ctx: ctx}
	s.makeUI()
	go tickEvery(ctx, time.Second, vm.Tick)
	return s
}

// Object is the screen's root.
func (s *signInScreen) Object() fyne.CanvasObject { return s.root }

func (s *signInScreen) run(f func(ctx context.Context) error) {
	go func() { _ = f(s.ctx) }()
}

// runThenFocus runs a sign-in or sign-out off the UI goroutine; once it
// succeeded the focus goes to what comes next (signed in: sign-out; signed
// out: the mobile). Only the clerk's own presses move it: a session
// resumed in the background must not put the focus on a sign-out button
// on a screen not shown, where Enter would press it.
func (s *signInScreen) runThenFocus(f func(ctx context.Context) error) {
	go func() {
		if f(s.ctx) == nil {
			s.FocusFirst()
		}
	}()
}

func (s *signInScreen) makeUI() {
	s.Mobile = boundEntry(s.vm.Mobile)
	s.Mobile.SetPlaceHolder(lang.X("signin.mobile_ph", "手机号"))
	s.Code = boundEntry(s.vm.Code)
	s.Code.SetPlaceHolder(lang.X("signin.code_ph", "6 位短信验证码"))
	s.Send = widget.NewButton("", func() { s.run(s.vm.SendCode) })
	s.vm.SendLabel.AddListener(binding.NewDataListener(func() {
		l, _ := s.vm.SendLabel.Get()
		s.Send.SetText(l)
	}))
	bindEnabled(s.vm.CanSend, s.Send, false)
	s.SignInSMS = widget.NewButtonWithIcon(lang.X("signin.button", "登录"), theme.LoginIcon(), func() { s.runThenFocus(s.vm.SignInSMS) })
	s.SignInSMS.Importance = widget.HighImportance
	s.Code.OnSubmitted = func(string) { s.runThenFocus(s.vm.SignInSMS) }
	// Enter in the mobile asks for the code (when it may) and goes on to
	// the code's field.
	s.Mobile.OnSubmitted = func(string) {
		if !s.Send.Disabled() {
			s.run(s.vm.SendCode)
		}
		focusIn(s.root, s.Code)
	}
	bindEnabled(s.vm.Busy, s.SignInSMS, true)
	smsForm := container.NewVBox(
		widget.NewLabel(lang.X("signin.mobile", "手机号")), s.Mobile, fieldMsg(s.vm.MobileMsg),
		widget.NewLabel(lang.X("signin.code", "短信验证码")), container.NewBorder(nil, nil, nil, s.Send, s.Code), fieldMsg(s.vm.CodeMsg),
		s.SignInSMS)

	s.AccountName = boundEntry(s.vm.AccountName)
	s.AccountName.SetPlaceHolder(lang.X("signin.account_ph", "账号"))
	s.Passw = widget.NewPasswordEntry()
	s.Passw.SetPlaceHolder(lang.X("signin.password_ph", "密码"))
	pw := func() {
		p := s.Passw.Text
		s.Passw.SetText("") // the password is sent once and not kept in the entry
		s.runThenFocus(func(ctx context.Context) error { return s.vm.SignInPassword(ctx, p) })
	}
	s.Passw.OnSubmitted = func(string) { pw() }
	s.AccountName.OnSubmitted = func(string) { focusIn(s.root, s.Passw) }
	s.SignInPW = widget.NewButtonWithIcon(lang.X("signin.button", "登录"), theme.LoginIcon(), pw)
	s.SignInPW.Importance = widget.HighImportance
	bindEnabled(s.vm.Busy, s.SignInPW, true)
	pwForm := container.NewVBox(
		widget.NewLabel(lang.X("signin.account", "账号")), s.AccountName,
		widget.NewLabel(lang.X("signin.password", "密码")), s.Passw, s.SignInPW)

	tabs := container.NewAppTabs(
		container.NewTabItem(lang.X("signin.by_sms", "短信验证码登录"), container.NewPadded(smsForm)),
		container.NewTabItem(lang.X("signin.by_password", "账号密码登录"), container.NewPadded(pwForm)))
	s.Methods = tabs
	tabs.OnSelected = func(*container.TabItem) { s.FocusFirst() }
	hint := hintLabel(lang.X("signin.hint", "登录续期服务后即可为选中的证书办理续期。UKey 口令不会发送给续期服务，也不会被保存。"))
	s.signedOut = container.NewVBox(tabs, hint)
	// A message shown or hidden under the mobile or the code changes the
	// tab's height: the tabs and what follows them are laid out again (else
	// the hint would be drawn over the sign-in button).
	for _, m := range []binding.String{s.vm.MobileMsg, s.vm.CodeMsg} {
		shown := false
		m.AddListener(binding.NewDataListener(func() {
			if v, _ := m.Get(); (v != "") == shown {
				return // still shown, or still hidden
			}
			shown = !shown
			s.signedOut.Refresh()
			if s.root != nil {
				s.root.Refresh()
			}
		}))
	}

	who := widget.NewLabelWithData(s.acc.Who)
	who.TextStyle.Bold = true
	s.kept = newBadge("", model.LevelOK)
	keptText := widget.NewLabelWithData(s.acc.Kept)
	keptText.Wrapping = textWrap()
	s.acc.KeptLevel.AddListener(binding.NewDataListener(func() {
		l, _ := s.acc.KeptLevel.Get()
		text := lang.X("signin.kept_memory", "仅本次")
		if model.Level(l) == model.LevelOK {
			text = lang.X("signin.kept_ok", "已保存")
		}
		setBadge(s.kept, text, model.Level(l))
		s.kept.Refresh()
	}))
	s.Out = appwidget.NewKeyButton(lang.X("signin.sign_out", "退出登录"), theme.LogoutIcon(), func() { s.runThenFocus(s.vm.SignOut) })
	s.signedIn = container.NewVBox(
		widget.NewLabel(lang.X("signin.signed_in_as", "已登录续期服务：")), who,
		container.NewBorder(nil, nil, container.NewCenter(s.kept), nil, keptText),
		container.NewHBox(s.Out))
	bindVisible(s.acc.SignedIn, s.signedIn, false)
	bindVisible(s.acc.SignedIn, s.signedOut, true)

	msg := messageLabel(s.vm.Message)
	service := widget.NewLabel(lang.X("signin.service", "续期服务：{{.URL}}", map[string]any{"URL": s.acc.URL()}))
	service.Importance = widget.LowImportance
	s.root = container.NewVBox(heading(lang.X("signin.title", "登录")), service, s.signedOut, s.signedIn, msg)
}

// FocusFirst puts the keyboard focus on the screen's first field: the
// mobile while signed out, the sign-out button while signed in.
func (s *signInScreen) FocusFirst() {
	if s.root == nil {
		return
	}
	if in, _ := s.acc.SignedIn.Get(); in {
		focusIn(s.root, s.Out)
		return
	}
	if s.Methods.SelectedIndex() == 1 {
		focusIn(s.root, s.AccountName)
		return
	}
	focusIn(s.root, s.Mobile)
}
