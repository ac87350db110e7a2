package app

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// press types key into whatever has the focus, as the keyboard does.
func press(t *testing.T, w fyne.Window, key fyne.KeyName) {
	t.Helper()
	fyne.DoAndWait(func() {
		if f := w.Canvas().Focused(); f != nil {
			f.TypedKey(&fyne.KeyEvent{Name: key})
		} else if h := w.Canvas().OnTypedKey(); h != nil {
			h(&fyne.KeyEvent{Name: key})
		}
	})
}

// typeKeys types text into whatever has the focus, as the keyboard does.
func typeKeys(t *testing.T, w fyne.Window, text string) {
	t.Helper()
	fyne.DoAndWait(func() {
		f := w.Canvas().Focused()
		if f == nil {
			t.Error("typing with nothing focused")
			return
		}
		for _, r := range text {
			f.TypedRune(r)
		}
	})
}

// ctrlEnter sends Ctrl+Enter to the focused object.
func ctrlEnter(t *testing.T, w fyne.Window) {
	t.Helper()
	fyne.DoAndWait(func() {
		if s, ok := w.Canvas().Focused().(fyne.Shortcutable); ok {
			s.TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyReturn, Modifier: fyne.KeyModifierControl})
		}
	})
}

// Sign-in by keyboard alone: the focus starts in the mobile; Enter there
// asks for the code and moves to the code; Enter in the code signs in;
// signed in, the focus is on sign-out.
func TestKeyboardSignIn(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.Account(apptest.MemoryStore(t))
	vm := model.NewSignInVM(acc, fakeclock.New(apptest.Start))
	s := newSignInScreen(t.Context(), vm, acc)
	w := newTestWindow(t, s.Object())
	// Account and password: the focus starts in the account; Enter there
	// goes to the password.
	fyne.DoAndWait(func() { s.Methods.SelectIndex(1) })
	onUI(t, "focus in the account", func() bool { return w.Canvas().Focused() == s.AccountName })
	typeKeys(t, w, "clerk")
	press(t, w, fyne.KeyReturn)
	onUI(t, "focus in the password", func() bool { return w.Canvas().Focused() == s.Passw })

	fyne.DoAndWait(func() { s.Methods.SelectIndex(0) })
	onUI(t, "focus in the mobile", func() bool { return w.Canvas().Focused() == s.Mobile })
	typeKeys(t, w, apptest.DemoMobile)
	press(t, w, fyne.KeyReturn)
	onUI(t, "code sent, focus in the code", func() bool {
		m, _ := vm.Message.Get()
		return strings.Contains(m, "验证码已发送") && w.Canvas().Focused() == s.Code
	})
	typeKeys(t, w, e.SMSCode(apptest.DemoMobile))
	press(t, w, fyne.KeyReturn)
	onUI(t, "signed in, focus on sign-out", func() bool { return s.signedIn.Visible() && w.Canvas().Focused() == s.Out })

}

// Financial verification: the focus lands in the code; Enter submits it.
func TestKeyboardFinVerify(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	a := e.ApprovedApp(acc)
	e.MarkPaid(a.ID)
	vm := model.NewFinVerifyVM(acc)
	s := newFinVerifyScreen(t.Context(), vm)
	w := newTestWindow(t, s.Object())
	s.Load(a.ID)
	onUI(t, "focus in the code", func() bool { return w.Canvas().Focused() == s.Code })
	onUI(t, "transfer described", func() bool { return strings.Contains(strings.Join(texts(s.Object()), "|"), "还可尝试 3 次") })
	tr := e.Bank.Transfers("755912345610801")
	typeKeys(t, w, tr[len(tr)-1].Remark[len(tr[len(tr)-1].Remark)-6:])
	press(t, w, fyne.KeyReturn)
	for deadline := time.Now().Add(apptest.Patience); !apptest.Get[bool](t, vm.Verified); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not verified by Enter: code %q, %q %q", s.Code.Text, apptest.Get[string](t, vm.CodeMsg), apptest.Get[string](t, vm.Message))
		}
	}
}

// Invoice: the focus lands in the title; Enter goes field to field, and in
// the last one requests the invoice.
func TestKeyboardInvoice(t *testing.T) {
	e := apptest.NewService(t)
	o := newOutage(t, e)
	acc := o.signedIn(e)
	a := e.ApprovedApp(acc)
	e.MarkPaid(a.ID)
	vm := model.NewInvoiceVM(acc)
	s := newInvoiceScreen(t.Context(), vm)
	w := newTestWindow(t, s.Object())
	s.Load(a.ID)
	onUI(t, "focus in the title", func() bool { return s.form.Visible() && w.Canvas().Focused() == s.Title })
	for _, want := range []fyne.Focusable{s.TaxID, s.Email, s.Phone} {
		press(t, w, fyne.KeyReturn)
		onUI(t, "the next field", func() bool { return w.Canvas().Focused() == want })
	}
	press(t, w, fyne.KeyReturn)
	onUI(t, "requested by Enter", func() bool { return apptest.Get[bool](t, vm.Issued) })

	// Loaded again after the clerk moved the focus elsewhere: it stays.
	other := appwidget.NewKeyEntry(false)
	fyne.DoAndWait(func() {
		w.SetContent(container.NewVBox(s.Object(), other))
	})
	first := apptest.Get[string](t, vm.Link)
	e.Clock.Advance(10 * time.Minute) // a fresh link tells the load is done
	release := o.hold()               // the service answers after the clerk moved on
	s.Load(a.ID)
	onUI(t, "the focus on refresh while loading", func() bool { return w.Canvas().Focused() == s.Refresh })
	fyne.DoAndWait(func() { w.Canvas().Focus(other) })
	release()
	s.running.Wait()
	if l := apptest.Get[string](t, vm.Link); l == "" || l == first {
		t.Fatalf("the invoice was not read again: %q", l)
	}
	if f := focusedOn(w); f != other {
		t.Fatalf("the load took the focus to %T", f)
	}
}

// Renew: the focus lands in the form's first field once a certificate is
// chosen; Enter goes to the next field, as Tab does; Ctrl+Enter in the
// comment submits (Enter there is a new line).
func TestKeyboardRenew(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	last := renewdtest.ValidForm(e.Org, 1) // the organisation's last application fills the form in
	prev, err := acc.Client().CreateApplication(t.Context(), renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &last})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Client().Cancel(t.Context(), prev.ID, renewal.VersionRequest{Version: prev.Version}); err != nil {
		t.Fatal(err)
	}
	vm := model.NewRenewVM(acc, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	s := newRenewScreen(t.Context(), vm)
	w := newTestWindow(t, s.Object())
	s.FocusFirst()
	onUI(t, "focus on the certificate picker", func() bool { return w.Canvas().Focused() == s.Pick })
	fyne.DoAndWait(func() {
		s.SetTokens([]model.TokenView{{Serial: "T1", Certs: []model.CertView{{Holder: e.Org.Name, Serial: strings.ToUpper(e.Serials["near"]), Badge: "剩余 30 天"}}}})
		s.Pick.SetSelected(s.Pick.Options[0])
	})
	onUI(t, "focus in the first field", func() bool {
		return s.form.Visible() && w.Canvas().Focused() == s.Entries[renewal.FieldOrgName]
	})
	press(t, w, fyne.KeyReturn)
	onUI(t, "Enter goes to the next field", func() bool { return w.Canvas().Focused() == s.Entries[renewal.FieldCreditCode] })
	fyne.DoAndWait(func() { w.Canvas().Focus(s.Comment) })
	typeKeys(t, w, "第一行")
	press(t, w, fyne.KeyReturn)
	typeKeys(t, w, "第二行")
	onUI(t, "Enter in the comment is a new line", func() bool { return s.Comment.Text == "第一行\n第二行" })
	onUI(t, "ready to submit", func() bool { return !s.Submit.Disabled() })
	ctrlEnter(t, w)
	for deadline := time.Now().Add(apptest.Patience); ; time.Sleep(2 * time.Millisecond) {
		a := vm.Application()
		if a != nil && a.Status == renewal.StatusPendingReview && a.Comment == "第一行\n第二行" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not submitted by Ctrl+Enter: %+v, %q", a, apptest.Get[string](t, vm.Message))
		}
	}
}

// Applications: Esc answers no to a confirmation and cancels the submit
// dialog, also while its comment has the focus; nothing is changed.
func TestKeyboardEscCancelsConfirmations(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := acc.Client().CreateApplication(t.Context(), renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	vm := model.NewApplicationsVM(acc, nil, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	s := newApplicationsScreen(t.Context(), vm, nil, appsNav{})
	w := newTestWindow(t, s.Object())
	s.win = w
	if err := vm.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	onUI(t, "cards built", func() bool { _, ok := s.Buttons[a.ID+"/delete"]; return ok })
	open := func() bool { return w.Canvas().Overlays().Top() != nil }

	fyne.DoAndWait(func() { s.Buttons[a.ID+"/delete"].OnTapped() })
	onUI(t, "the confirmation", open)
	press(t, w, fyne.KeyEscape)
	onUI(t, "Esc closed it", func() bool { return !open() })

	fyne.DoAndWait(func() { s.Buttons[a.ID+"/submit"].OnTapped() })
	onUI(t, "the submit dialog, focus in its comment", func() bool { _, ok := w.Canvas().Focused().(*appwidget.KeyEntry); return open() && ok })
	typeKeys(t, w, "不提交")
	press(t, w, fyne.KeyEscape)
	onUI(t, "Esc closed it", func() bool { return !open() })

	// The scan picker too.
	fyne.DoAndWait(func() { s.Buttons[a.ID+"/upload_document"].OnTapped() })
	onUI(t, "the file picker", open)
	fyne.DoAndWait(func() { w.Canvas().Unfocus() })
	press(t, w, fyne.KeyEscape)
	onUI(t, "Esc closed it", func() bool { return !open() })

	// The window's keys are its own again, and nothing was changed.
	if w.Canvas().OnTypedKey() != nil {
		t.Error("the dialogs left their Esc handler on the window")
	}
	got, err := acc.Client().GetApplication(t.Context(), a.ID)
	if err != nil || got.Status != renewal.StatusEditing {
		t.Fatalf("after Esc the application is %v (%v)", got.Status, err)
	}
}

// Pay: shown once the code has expired, the focus is on "get a new code",
// and Enter asks for one.
func TestKeyboardPayFocusOnNewCode(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	app := e.ApprovedApp(acc)
	clk := apptest.NewStepClock(e.Clock.Now())
	vm := model.NewPayVM(acc, clk, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	s, w := newPayScreenInWindow(t, vm)
	s.Pay(app.ID)
	onUI(t, "the code", func() bool { return s.qr.Image != nil })
	clk.Advance(301 * time.Second)
	e.Clock.Advance(301 * time.Second)
	vm.Tick()
	onUI(t, "the new-code button", s.NewCode.Visible)
	s.FocusFirst() // the screen shown (the journey's tab selected)
	onUI(t, "focus on the new-code button", func() bool { return w.Canvas().Focused() == s.NewCode })
	first := apptest.Get[string](t, vm.Code)
	press(t, w, fyne.KeyReturn)
	onUI(t, "Enter asked for a new code", func() bool {
		c, _ := vm.Code.Get()
		return c != "" && c != first && !s.NewCode.Visible()
	})
}

// The PIN dialog: Esc cancels without sending, also when the entry lost
// the focus; while a PIN is on its way to the token Esc and Cancel wait for
// its answer (a right PIN starts the job the clerk asked for), then the
// dialog closes on the answer.
func TestKeyboardPINDialogEscWaitsForTheToken(t *testing.T) {
	src := apptest.NewFakeSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "12345678", 3)
	u := newUI(t, src)
	if err := u.vm.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	open := func() bool { return u.Win.Canvas().Overlays().Top() != nil }

	fyne.DoAndWait(func() { u.tokens.pinBtns[tok.Serial].OnTapped() })
	fyne.DoAndWait(func() { u.Win.Canvas().Unfocus() })
	press(t, u.Win, fyne.KeyEscape)
	onUI(t, "Esc closed it with nothing focused", func() bool { return !open() })
	if src.Checks(tok.Serial) != 0 {
		t.Fatal("a PIN was sent")
	}
	if u.Win.Canvas().OnTypedKey() != nil {
		t.Error("the dialog left its Esc handler on the window")
	}

	block := make(chan struct{})
	src.Block(tok.Serial, block)
	fyne.DoAndWait(func() { u.tokens.pinBtns[tok.Serial].OnTapped() })
	d := u.pin
	typeKeys(t, u.Win, "12345678")
	press(t, u.Win, fyne.KeyReturn)
	apptest.Eventually(t, "the PIN on its way", func() bool { return apptest.Get[bool](t, d.vm.Busy) })
	fyne.DoAndWait(func() {
		d.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
		if h := u.Win.Canvas().OnTypedKey(); h != nil {
			h(&fyne.KeyEvent{Name: fyne.KeyEscape})
		}
	})
	onUI(t, "the cancel button waiting", func() bool { return d.cancel.Disabled() })
	if !open() {
		t.Fatal("Esc closed the dialog while the token was checking the PIN")
	}
	close(block)
	onUI(t, "closed on the token's answer", func() bool { return !open() })
	if !apptest.Get[bool](t, d.vm.Done) {
		t.Fatal("the right PIN was not taken")
	}
}

// A session that comes in the background (resumed at start) moves no
// focus: the sign-in screen may not be the one shown, and Enter on a
// focused sign-out button there would sign the clerk out.
func TestKeyboardBackgroundSignInLeavesTheFocus(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.Account(apptest.MemoryStore(t))
	vm := model.NewSignInVM(acc, fakeclock.New(apptest.Start))
	s := newSignInScreen(t.Context(), vm, acc)
	w := newTestWindow(t, s.Object())
	if _, err := acc.Client().SendSMSCode(t.Context(), renewal.SMSCodeRequest{Mobile: apptest.DemoMobile}); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Client().LoginSMS(t.Context(), renewal.SMSLoginRequest{Mobile: apptest.DemoMobile, Code: e.SMSCode(apptest.DemoMobile)}); err != nil {
		t.Fatal(err)
	}
	onUI(t, "signed in", func() bool { return s.signedIn.Visible() })
	fyne.DoAndWait(func() {}) // let any focus queued by the sign-in land
	if f := focusedOn(w); f != nil {
		t.Fatalf("a background sign-in put the focus on %T", f)
	}
}

func focusedOn(w fyne.Window) fyne.Focusable {
	var f fyne.Focusable
	fyne.DoAndWait(func() { f = w.Canvas().Focused() })
	return f
}
