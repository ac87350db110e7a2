package app

import (
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// outage stands between the client and the in-process renewd: a loopback
// TCP relay the test stops (the service is down: connections are refused,
// open ones cut) and starts again on the same address (the service is
// back). The client meets exactly what it meets when the service's
// machine or network goes away.
type outage struct {
	t      *testing.T
	target string // host:port of the service

	mu    sync.Mutex
	addr  string
	ln    net.Listener
	conns map[net.Conn]bool
	held  chan struct{} // non-nil: new connections wait until it closes
}

func newOutage(t *testing.T, e *apptest.Service) *outage {
	t.Helper()
	o := &outage{t: t, target: strings.TrimPrefix(e.URL, "http://"), conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	o.serve(ln)
	t.Cleanup(o.down)
	return o
}

func (o *outage) url() string { return "http://" + o.addr }

func (o *outage) serve(ln net.Listener) {
	o.mu.Lock()
	o.ln = ln
	o.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go o.relay(c)
		}
	}()
}

func (o *outage) track(cs ...net.Conn) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ln == nil {
		return false
	}
	for _, c := range cs {
		o.conns[c] = true
	}
	return true
}

func (o *outage) relay(c net.Conn) {
	o.mu.Lock()
	held := o.held
	o.mu.Unlock()
	if held != nil {
		<-held
	}
	s, err := net.Dial("tcp", o.target)
	if err != nil {
		c.Close()
		return
	}
	if !o.track(c, s) {
		c.Close()
		s.Close()
		return
	}
	go func() { _, _ = io.Copy(s, c); s.Close() }()
	_, _ = io.Copy(c, s)
	c.Close()
}

// down stops the service: new connections are refused, open ones cut.
func (o *outage) down() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ln != nil {
		o.ln.Close()
		o.ln = nil
	}
	for c := range o.conns {
		c.Close()
	}
	o.conns = map[net.Conn]bool{}
}

// hold makes the service slow: new connections wait until release.
func (o *outage) hold() (release func()) {
	ch := make(chan struct{})
	o.mu.Lock()
	o.held = ch
	o.mu.Unlock()
	return func() {
		o.mu.Lock()
		o.held = nil
		o.mu.Unlock()
		close(ch)
	}
}

// up starts it again on the same address.
func (o *outage) up() {
	o.t.Helper()
	var ln net.Listener
	var err error
	for range 100 { // the port is ours; the kernel may take a moment to free it
		if ln, err = net.Listen("tcp", o.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		o.t.Fatal(err)
	}
	o.serve(ln)
}

// account connects to the service through the relay.
func (o *outage) account() *model.Account {
	o.t.Helper()
	a, err := model.NewAccount(o.url(), nil, client.WithTimeout(10*time.Second), client.WithRetry(0, time.Millisecond, time.Millisecond))
	if err != nil {
		o.t.Fatal(err)
	}
	return a
}

// signedIn signs the demo clerk in through the relay.
func (o *outage) signedIn(e *apptest.Service) *model.Account {
	o.t.Helper()
	a := o.account()
	ctx := o.t.Context()
	if _, err := a.Client().SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: apptest.DemoMobile}); err != nil {
		o.t.Fatal(err)
	}
	if _, err := a.Client().LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: apptest.DemoMobile, Code: e.SMSCode(apptest.DemoMobile)}); err != nil {
		o.t.Fatal(err)
	}
	e.Clock.Advance(61 * time.Second)
	return a
}

// newPayScreenInWindow builds the Pay screen in a test window; its goroutines end
// before the window goes.
func newPayScreenInWindow(t *testing.T, vm *model.PayVM) (*payScreen, fyne.Window) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	s := newPayScreen(ctx, vm)
	w := newTestWindow(t, s.Object())
	t.Cleanup(func() { cancel(); s.running.Wait() })
	return s, w
}

// serviceDown begins the sentence for a service that cannot be reached; the
// service's host:port follows, never Go's dial error.
const serviceDown = "无法连接续期服务（"

// downSentence matches the whole sentence.
var downSentence = regexp.MustCompile(`^无法连接续期服务（127\.0\.0\.1:[0-9]+），请检查网络后重试。$`)

// Sign-in with the service down: sending the code and signing in each say
// the service cannot be reached and what to do, the buttons come back, the
// typed mobile and code stay; with the service back the same presses work.
func TestServiceDownSignIn(t *testing.T) {
	e := apptest.NewService(t)
	o := newOutage(t, e)
	acc := o.account()
	vm := model.NewSignInVM(acc, fakeclock.New(apptest.Start))
	s := newSignInScreen(t.Context(), vm, acc)
	newTestWindow(t, s.Object())

	o.down()
	test.Type(s.Mobile, apptest.DemoMobile)
	test.Tap(s.Send) // returns at once: the call runs off the UI goroutine
	onUI(t, "the send to fail in words", func() bool {
		m, _ := vm.Message.Get()
		return strings.Contains(m, serviceDown) && !s.Send.Disabled() && !apptest.Get[bool](t, vm.Busy)
	})
	if m, _ := vm.Message.Get(); !downSentence.MatchString(m) {
		t.Errorf("service down said as %q: want the host, not the dial error", m)
	}
	o.up()
	test.Tap(s.Send)
	onUI(t, "the code sent", func() bool { m, _ := vm.Message.Get(); return strings.Contains(m, "验证码已发送") })

	test.Type(s.Code, e.SMSCode(apptest.DemoMobile))
	o.down()
	test.Tap(s.SignInSMS)
	onUI(t, "the sign-in to fail in words", func() bool {
		m, _ := vm.Message.Get()
		return strings.Contains(m, serviceDown) && !s.SignInSMS.Disabled() && !apptest.Get[bool](t, vm.Busy)
	})
	if apptest.Get[bool](t, acc.SignedIn) {
		t.Fatal("signed in with the service down")
	}
	var code, mobile string
	fyne.DoAndWait(func() { code, mobile = s.Code.Text, s.Mobile.Text })
	if code != e.SMSCode(apptest.DemoMobile) || mobile != apptest.DemoMobile {
		t.Fatalf("the typed mobile %q and code %q were lost", mobile, code)
	}
	o.up()
	test.Tap(s.SignInSMS)
	onUI(t, "signed in", func() bool { return s.signedIn.Visible() })
}

// The applications list with the service down says so; the refresh button
// comes back and, with the service back, loads the list.
func TestServiceDownApplicationsList(t *testing.T) {
	e := apptest.NewService(t)
	o := newOutage(t, e)
	acc := o.signedIn(e)
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := acc.Client().CreateApplication(t.Context(), renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	vm := model.NewApplicationsVM(acc, nil, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	s := newApplicationsScreen(t.Context(), vm, nil, appsNav{})
	s.win = newTestWindow(t, s.Object())

	o.down()
	test.Tap(s.Refresh)
	onUI(t, "the list to fail in words", func() bool {
		m, _ := vm.Message.Get()
		return strings.Contains(m, serviceDown) && !s.Refresh.Disabled()
	})
	if len(apptest.Get[[]model.AppRow](t, vm.Rows)) != 0 {
		t.Fatal("rows without a service")
	}
	o.up()
	test.Tap(s.Refresh)
	onUI(t, "the list loaded", func() bool { _, ok := s.Buttons[a.ID+"/edit"]; return ok })
	onUI(t, "the failure's sentence gone with the list back", func() bool {
		m, _ := vm.Message.Get()
		return !strings.Contains(m, serviceDown)
	})
}

// The service goes down while the Pay screen watches the payment: when the
// watcher gives up the screen says the service cannot be reached, not to
// pay twice, and offers to ask again; the clerk pays meanwhile on the
// phone; with the service back, asking again shows the payment.
func TestServiceDownWhilePaying(t *testing.T) {
	e := apptest.NewService(t)
	o := newOutage(t, e)
	acc := o.signedIn(e)
	app := e.ApprovedApp(acc)
	clk := apptest.NewStepClock(e.Clock.Now())
	vm := model.NewPayVM(acc, clk, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	s, _ := newPayScreenInWindow(t, vm)

	// Down before the code: the screen says so and offers to ask again.
	o.down()
	s.Pay(app.ID)
	onUI(t, "no code: in words, with a retry", func() bool {
		m, _ := vm.Message.Get()
		return strings.Contains(m, serviceDown) && s.Retry.Visible()
	})
	o.up()
	test.Tap(s.Retry)
	onUI(t, "the code shown", func() bool { return s.qr.Image != nil && !s.Retry.Visible() })

	// Down while watching: the watcher gives up after its failed polls.
	o.down()
	onUI(t, "the watch to fail in words", func() bool {
		m, _ := vm.Message.Get()
		return strings.Contains(m, serviceDown) && strings.Contains(m, "不要重复支付") && s.Retry.Visible()
	})
	e.Scan(app.ID) // paid on the phone meanwhile
	o.up()
	test.Tap(s.Retry)
	onUI(t, "the payment shown", func() bool { return apptest.Get[bool](t, vm.Paid) && !s.Retry.Visible() })
}
