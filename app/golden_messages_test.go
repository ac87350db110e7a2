package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/emmansun/gmsm/smx509"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The messages a clerk meets on the journey's screens, drawn as in
// golden_journey_test.go: each where it belongs, whole, wrapped and in
// Chinese. The screens that talk to a real renewd use a certificate of a
// fixed serial (goldenSerial), so nothing random reaches the image.

// goldenSerial is the serial of the certificate the service knows in the
// message tests (3F2A9C01, as on the other golden screens).
const goldenSerial = "3f2a9c01"

// goldenCert records in e a year's certificate of e.Org with serial
// goldenSerial, ending 20 days after the service's start, and returns the
// picker's option for it.
func goldenCert(t *testing.T, e *apptest.Service) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := new(big.Int).SetString(goldenSerial, 16)
	end := apptest.Start.AddDate(0, 0, 20)
	tmpl := &smx509.Certificate{SerialNumber: serial, Subject: pkix.Name{Country: []string{"CN"}, Organization: []string{e.Org.Name}, CommonName: "张三"},
		NotBefore: end.AddDate(-1, 0, 0), NotAfter: end, KeyUsage: smx509.KeyUsageDigitalSignature}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if got := renewdtest.SerialOf(e.Register(der, e.Org)); got != goldenSerial {
		t.Fatalf("registered serial %s", got)
	}
	return e.Org.Name + " · " + strings.ToUpper(goldenSerial) + " · 剩余 20 天"
}

// goldenServiceAccount is a signed-out account of goldenURL whose requests
// go to e (a gateway in front of it), so the screen names goldenURL, not
// the test's loopback port.
func goldenServiceAccount(t *testing.T, e *apptest.Service) *model.Account {
	t.Helper()
	to, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = to.Scheme, to.Host, to.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
	acc, err := model.NewAccount(goldenURL, nil, client.WithHTTPClient(hc), client.WithTimeout(10*time.Second), client.WithRetry(0, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// goldenRenewScreen is the renewal form of acc on a golden window, the
// certificate goldenSerial offered in the picker as option opt.
// saveWhenIdle saves the form once the view-model has finished what
// choosing the certificate started (its load): a save asked meanwhile is
// refused as in progress, as a clerk's second click would be.
func saveWhenIdle(t *testing.T, vm *model.RenewVM) error {
	t.Helper()
	var err error
	apptest.Eventually(t, "the form saved once the view-model is idle", func() bool {
		err = vm.Save(t.Context())
		return !errors.Is(err, model.ErrInProgress)
	})
	return err
}

func goldenRenewScreen(t *testing.T, acc *model.Account, opt string) (*renewScreen, *model.RenewVM, fyne.Window) {
	t.Helper()
	// The window (and with it the product's theme) first: widgets drawn
	// before keep the test driver's colours until they change.
	w := goldenWindow(t, widget.NewLabel(""))
	vm := model.NewRenewVM(acc, goldenFmt)
	s := newRenewScreen(t.Context(), vm) // on the window once loaded (see TestGoldenJourneyRenewForm)
	fyne.DoAndWait(func() {
		s.picks = map[string]string{opt: goldenSerial} // as SetTokens makes them from the token's certificate
		s.Pick.Options = []string{opt}
		s.Pick.Refresh()
	})
	return s, vm, w
}

// showRenew puts the form on w once its fields hold what the service sent
// and the buttons are enabled again after the last call.
func showRenew(t *testing.T, s *renewScreen, w fyne.Window) {
	t.Helper()
	fyne.DoAndWait(func() {}) // the focus asked for when the form became ready (nowhere: not on a window)
	fyne.DoAndWait(func() { w.SetContent(container.NewPadded(s.Object())) })
	onUI(t, "save and submit enabled", func() bool { return !s.Save.Disabled() && !s.Submit.Disabled() })
}

// The form with text a reviewer would not see as stored: a zero-width
// space in the organisation's name (pasted from a web page), a
// right-to-left override in the legal representative's name, and an ID
// number whose birth date is in the future. Each message stands under its
// field, whole, and says what to do.
func TestGoldenRenewFormTextCharacters(t *testing.T) {
	s, vm, w, _ := goldenRenewForm(t)
	org := "深圳市示例\u200b科技有限公司"
	rep := "张\u202e三"
	// Born on 15 June 2099: in the future whatever today is.
	id := "44030520990615123"
	c, err := renewal.IDNumberCheckChar(id)
	if err != nil {
		t.Fatal(err)
	}
	id += string(c)
	_ = vm.Fields[renewal.FieldOrgName].Set(org)
	_ = vm.Fields[renewal.FieldRepName].Set(rep)
	_ = vm.Fields[renewal.FieldRepIDNumber].Set(id)
	var msgs []string
	for _, f := range []string{renewal.FieldOrgName, renewal.FieldRepName, renewal.FieldRepIDNumber} {
		m := apptest.Get[string](t, vm.Msgs[f])
		if m == "" {
			t.Fatalf("no message for %s", f)
		}
		msgs = append(msgs, m)
	}
	for _, want := range []string{"第6个字符（U+200B）", "第2个字符（U+202E）"} {
		if !strings.Contains(strings.Join(msgs, "|"), want) {
			t.Errorf("no %q in the messages %q", want, msgs)
		}
	}
	onUI(t, "the fields filled", func() bool {
		return s.Entries[renewal.FieldOrgName].Text == org && s.Entries[renewal.FieldRepIDNumber].Text == id
	})
	showRenew(t, s, w)
	assertGolden(t, w, "message_renew_text_character.png", msgs...)
}

// A certificate renewed and installed already: the form says so, names the
// new certificate and does not open.
func TestGoldenRenewSuperseded(t *testing.T) {
	e := apptest.NewService(t)
	opt := goldenCert(t, e)
	acc := e.SignedIn()
	const next = "4b7e21d05a3c9f18"
	e.Renewed(acc, e.ReadyApp(acc, goldenSerial, false), next)
	s, vm, w := goldenRenewScreen(t, acc, opt)
	fyne.DoAndWait(func() { w.SetContent(container.NewPadded(s.Object())) })
	fyne.DoAndWait(func() { s.Pick.SetSelected(opt) })
	onUI(t, "the refusal shown", func() bool {
		m, _ := vm.Message.Get()
		b, _ := vm.Busy.Get()
		return strings.Contains(m, "此证书已续期") && !b
	})
	assertGolden(t, w, "message_renew_superseded.png", "此证书已续期，新证书序列号 "+strings.ToUpper(next))
}

// The organisation's name changed on the form: the service refuses the
// save, and the message stands under the name, naming the registered one.
func TestGoldenRenewOrgMismatch(t *testing.T) {
	e := apptest.NewService(t)
	opt := goldenCert(t, e)
	acc := e.SignedIn()
	form := renewdtest.ValidForm(e.Org, 1)
	if _, err := acc.Client().CreateApplication(t.Context(), renewal.CreateApplicationRequest{CertSerial: goldenSerial, Form: &form}); err != nil {
		t.Fatal(err)
	}
	s, vm, w := goldenRenewScreen(t, acc, opt)
	fyne.DoAndWait(func() { s.Pick.SetSelected(opt) })
	onUI(t, "the form shown", func() bool { return s.form.Visible() && s.Entries[renewal.FieldOrgName].Text == e.Org.Name })
	_ = vm.Fields[renewal.FieldOrgName].Set("深圳市新名称科技有限公司")
	if err := saveWhenIdle(t, vm); renewal.CodeOf(err) != renewal.CodeOrgMismatch {
		t.Fatalf("save with another organisation: %v", err)
	}
	msg := apptest.Get[string](t, vm.Msgs[renewal.FieldOrgName])
	if !strings.Contains(msg, "与证书登记的单位不一致") || !strings.Contains(msg, e.Org.Name) {
		t.Fatalf("organisation name message %q", msg)
	}
	showRenew(t, s, w)
	assertGolden(t, w, "message_renew_org_mismatch.png", msg)
}

// A paid application whose years are changed: the service refuses, and the
// message stands under the years, saying how to get another period.
func TestGoldenRenewPriceLocked(t *testing.T) {
	e := apptest.NewService(t)
	opt := goldenCert(t, e)
	acc := e.SignedIn()
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := acc.Client().CreateApplication(t.Context(), renewal.CreateApplicationRequest{CertSerial: goldenSerial, Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	e.MarkPaid(a.ID) // paid before review, as a CA may ask
	s, vm, w := goldenRenewScreen(t, acc, opt)
	fyne.DoAndWait(func() { s.Pick.SetSelected(opt) })
	onUI(t, "the form shown", func() bool { return s.form.Visible() && s.Entries[renewal.FieldOrgName].Text == e.Org.Name })
	_ = vm.Years.Set(3)
	if err := saveWhenIdle(t, vm); renewal.CodeOf(err) != renewal.CodePriceLocked {
		t.Fatalf("save with another period: %v", err)
	}
	msg := apptest.Get[string](t, vm.Msgs[renewal.FieldYears])
	if msg == "" {
		t.Fatal("no message under the years")
	}
	showRenew(t, s, w)
	assertGolden(t, w, "message_renew_price_locked.png", msg)
}

// Paid for one year while the years were raised to three (a race the
// service's check of an edit cannot see): submitting is refused, and the
// message under the years says to change them back.
func TestGoldenRenewPaymentShort(t *testing.T) {
	e := apptest.NewService(t)
	opt := goldenCert(t, e)
	acc := e.SignedIn()
	ctx := t.Context()
	c := acc.Client()
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := c.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: goldenSerial, Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	if a, err = c.Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version}); err != nil {
		t.Fatal(err)
	}
	if a, err = e.Staff().Approve(ctx, a.ID, renewal.ReviewRequest{Version: a.Version}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PaymentQR(ctx, a.ID, renewal.PaymentQRRequest{}); err != nil {
		t.Fatal(err)
	}
	e.Scan(a.ID)
	apptest.Eventually(t, "paid", func() bool {
		a, err = c.GetApplication(ctx, a.ID)
		return err == nil && a.Payment == renewal.PaymentPaid
	})
	_, err = e.Store.UpdateApplication(ctx, store.AllScope(), a.ID, a.Version, store.Change{Actor: "system", Action: "test.arrange"},
		func(a *renewal.Application) error {
			a.Status, a.Form.Years, a.PriceFen = renewal.StatusEditing, 3, 780_00
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	s, vm, w := goldenRenewScreen(t, acc, opt)
	fyne.DoAndWait(func() { s.Pick.SetSelected(opt) })
	onUI(t, "the form shown", func() bool { return s.form.Visible() && s.Entries[renewal.FieldOrgName].Text == e.Org.Name })
	if err := vm.Submit(ctx, ""); renewal.CodeOf(err) != renewal.CodePaymentShort {
		t.Fatalf("submit of 3 years paid for 1: %v", err)
	}
	msg := apptest.Get[string](t, vm.Msgs[renewal.FieldYears])
	if msg == "" {
		t.Fatal("no message under the years")
	}
	showRenew(t, s, w)
	assertGolden(t, w, "message_renew_payment_short.png", msg, "有 1 项需要修改")
}

// The sign-in screen after the day's last SMS code: the send button waits
// until midnight in Beijing, and the message says so and what else to do.
func TestGoldenSignInDailySMSCap(t *testing.T) {
	e := apptest.NewService(t)
	acc := goldenServiceAccount(t, e)
	clk := fakeclock.New(apptest.Start)
	w := goldenWindow(t, widget.NewLabel("")) // the theme first
	vm := model.NewSignInVM(acc, clk)
	s := newSignInScreen(t.Context(), vm, acc)
	fyne.DoAndWait(func() { w.SetContent(container.NewPadded(s.Object())) })
	_ = vm.Mobile.Set(apptest.DemoMobile) // as typed (a focused entry would draw its cursor)
	for i := range 10 {
		if err := vm.SendCode(t.Context()); err != nil {
			t.Fatalf("code %d: %v", i+1, err)
		}
		e.Clock.Advance(61 * time.Second)
		clk.Advance(61 * time.Second)
	}
	vm.Tick()
	onUI(t, "send enabled again", func() bool { return !s.Send.Disabled() })
	test.Tap(s.Send)
	onUI(t, "the cap shown", func() bool { return s.Send.Disabled() && strings.Contains(s.Send.Text, "小时") })
	msg := apptest.Get[string](t, vm.MobileMsg)
	if !strings.Contains(msg, "11 小时 50 分钟后") {
		t.Fatalf("the cap's message beside the mobile %q", msg)
	}
	assertGolden(t, w, "message_signin_sms_cap.png", msg, "<重新发送（11 小时 50 分钟后）>", "续期服务："+goldenURL)
}

// The password tab after too many wrong passwords: the message says when
// to try again.
func TestGoldenSignInPasswordLimit(t *testing.T) {
	e := apptest.NewService(t)
	acc := goldenServiceAccount(t, e)
	w := goldenWindow(t, widget.NewLabel("")) // the theme first
	vm := model.NewSignInVM(acc, fakeclock.New(apptest.Start))
	s := newSignInScreen(t.Context(), vm, acc)
	fyne.DoAndWait(func() {
		s.Methods.SelectIndex(1) // off the window: the focus (and a cursor in the image) goes nowhere
		w.SetContent(container.NewPadded(s.Object()))
	})
	_ = vm.AccountName.Set("admin")
	onUI(t, "the account typed", func() bool { return s.AccountName.Text == "admin" })
	for range 10 {
		if err := vm.SignInPassword(t.Context(), "guess"); renewal.CodeOf(err) != renewal.CodeBadCredentials {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if err := vm.SignInPassword(t.Context(), "guess"); renewal.CodeOf(err) != renewal.CodeRateLimited {
		t.Fatalf("past the limit: %v", err)
	}
	assertGolden(t, w, "message_signin_password_limit.png", "操作过于频繁，请 12 秒后再试。")
}
