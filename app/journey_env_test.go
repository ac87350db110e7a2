package app

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

// svcEnv is the real renewal service of internal/renewdtest (a real SQLite
// store, a dev CA, the SMS and bank outboxes, payments against the WeChat Pay
// simulator) behind a real loopback listener, for the journey screens'
// tests. Its clock moves a millisecond per request.
type svcEnv struct {
	*renewdtest.Renewd
	t       *testing.T
	serials map[string]string // holder name → certificate serial
	down    *downListener
}

var svcStart = renewdtest.Start

const (
	demoMobile       = renewdtest.ClerkMobile
	reviewerAccount  = renewdtest.ReviewerAccount
	reviewerPassword = renewdtest.ReviewerPassword
)

func newSvcEnv(t *testing.T) *svcEnv {
	t.Helper()
	// The clock is known only once the service is built; requests come
	// after, and the atomic hands the clock to the handler's goroutines.
	var clock atomic.Pointer[fakeclock.Clock]
	e := &svcEnv{t: t, serials: map[string]string{}}
	e.Renewd = renewdtest.New(t, renewdtest.Options{
		Payments: true,
		Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				clock.Load().Advance(time.Millisecond)
				h.ServeHTTP(w, r)
			})
		},
		Listener: func(l net.Listener) net.Listener {
			e.down = &downListener{Listener: l, conns: map[net.Conn]bool{}}
			return e.down
		},
	})
	clock.Store(e.Clock)
	for name, days := range map[string]int{"near": 30, "far": 200} {
		e.serials[name] = e.AddHolder(issuer.ECDSA, e.Org, svcStart.AddDate(0, 0, days)).Serial
	}
	return e
}

// close takes the service down: its listener closes, and so do the
// connections it accepted, so a client finds nobody at the address.
func (e *svcEnv) close() { e.down.Close() }

// downListener is the service's listener, which closes with every
// connection it accepted.
type downListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func (l *downListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns[c] = true
		l.mu.Unlock()
	}
	return c, err
}

func (l *downListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
	}
	return err
}

// memoryStore is a real session store with keyring and TPM turned off: the
// session lives in memory (as on a machine without either).
func memoryStore(t *testing.T) *session.Store {
	t.Helper()
	st, err := session.Open(t.Context(), session.Options{NoKeyring: true, NoTPM: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// account connects to the env with st (nil: memory only).
func (e *svcEnv) account(st *session.Store) *model.Account {
	e.t.Helper()
	a, err := model.NewAccount(e.URL, st, client.WithTimeout(10*time.Second), client.WithRetry(0, time.Millisecond, time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// signedIn returns an account signed in as the demo clerk.
func (e *svcEnv) signedIn() *model.Account {
	e.t.Helper()
	a := e.account(nil)
	ctx := e.t.Context()
	if _, err := a.Client().SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: demoMobile}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := a.Client().LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: demoMobile, Code: e.SMSCode(demoMobile)}); err != nil {
		e.t.Fatal(err)
	}
	e.Clock.Advance(61 * time.Second) // past the resend wait, for the next test step
	return a
}

// staff is a client signed in as the reviewer.
func (e *svcEnv) staff() *client.Client {
	e.t.Helper()
	c, err := client.New(e.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.Login(e.t.Context(), renewal.PasswordLoginRequest{Account: reviewerAccount, Password: reviewerPassword}); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// readyApp takes an application for certSerial through review, payment
// (the WeChat Pay simulator) and the bank transfer check.
func (e *svcEnv) readyApp(acc *model.Account, certSerial string, rekey bool) renewal.Application {
	e.t.Helper()
	ctx := e.t.Context()
	c := acc.Client()
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := c.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: certSerial, Form: &form, Rekey: rekey})
	if err != nil {
		e.t.Fatal(err)
	}
	if a, err = c.Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version}); err != nil {
		e.t.Fatal(err)
	}
	if a, err = e.staff().Approve(ctx, a.ID, renewal.ReviewRequest{Version: a.Version}); err != nil {
		e.t.Fatal(err)
	}
	e.MarkPaid(a.ID)
	if a, err = c.GetApplication(ctx, a.ID); err != nil {
		e.t.Fatal(err)
	}
	fv, err := c.StartFinVerify(ctx, a.ID, renewal.VersionRequest{Version: a.Version})
	if err != nil {
		e.t.Fatal(err)
	}
	code := e.TransferCode(form.Bank.AccountNumber)
	if a, err = c.SubmitFinVerifyCode(ctx, a.ID, renewal.FinVerifyCodeRequest{Version: fv.Version, Code: code}); err != nil {
		e.t.Fatal(err)
	}
	if a.Status != renewal.StatusReadyToDownload {
		e.t.Fatalf("application %s is %s", a.ID, a.Status)
	}
	return *a
}
