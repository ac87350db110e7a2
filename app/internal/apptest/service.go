package apptest

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
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Service is the real renewal service of internal/renewdtest (a real SQLite
// store, a dev CA, the SMS and bank outboxes, payments against the WeChat Pay
// simulator) behind a real loopback listener, for the tests of the screens
// and view-models that talk to it. Its clock moves a millisecond per request.
type Service struct {
	*renewdtest.Renewd
	t *testing.T
	// Serials are the seeded certificates' serials by name: "near" ends 30
	// days after Start, "far" 200 days after.
	Serials map[string]string
	down    *downListener
}

// Start is where the service's clock starts.
var Start = renewdtest.Start

// The seeded clerk's mobile and the reviewer's credentials.
const (
	DemoMobile       = renewdtest.ClerkMobile
	ReviewerAccount  = renewdtest.ReviewerAccount
	ReviewerPassword = renewdtest.ReviewerPassword
)

// NewService starts the service for the test; it stops when the test ends.
func NewService(t *testing.T) *Service {
	t.Helper()
	// The clock is known only once the service is built; requests come
	// after, and the atomic hands the clock to the handler's goroutines.
	var clock atomic.Pointer[fakeclock.Clock]
	e := &Service{t: t, Serials: map[string]string{}}
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
		e.Serials[name] = e.AddHolder(issuer.ECDSA, e.Org, Start.AddDate(0, 0, days)).Serial
	}
	return e
}

// Down takes the service down: its listener closes, and so do the
// connections it accepted, so a client finds nobody at the address.
func (e *Service) Down() { e.down.Close() }

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

// MemoryStore is a real session store with keyring and TPM turned off: the
// session lives in memory (as on a machine without either).
func MemoryStore(t *testing.T) *session.Store {
	t.Helper()
	st, err := session.Open(t.Context(), session.Options{NoKeyring: true, NoTPM: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Account connects to the env with st (nil: memory only).
func (e *Service) Account(st *session.Store) *model.Account {
	e.t.Helper()
	a, err := model.NewAccount(e.URL, st, client.WithTimeout(10*time.Second), client.WithRetry(0, time.Millisecond, time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// SignedIn returns an account signed in as the demo clerk.
func (e *Service) SignedIn() *model.Account {
	e.t.Helper()
	a := e.Account(nil)
	ctx := e.t.Context()
	if _, err := a.Client().SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: DemoMobile}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := a.Client().LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: DemoMobile, Code: e.SMSCode(DemoMobile)}); err != nil {
		e.t.Fatal(err)
	}
	e.Clock.Advance(61 * time.Second) // past the resend wait, for the next test step
	return a
}

// Staff is a client signed in as the reviewer.
func (e *Service) Staff() *client.Client {
	e.t.Helper()
	c, err := client.New(e.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.Login(e.t.Context(), renewal.PasswordLoginRequest{Account: ReviewerAccount, Password: ReviewerPassword}); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// ReadyApp takes an application for certSerial through review, payment
// (the WeChat Pay simulator) and the bank transfer check.
func (e *Service) ReadyApp(acc *model.Account, certSerial string, rekey bool) renewal.Application {
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
	if a, err = e.Staff().Approve(ctx, a.ID, renewal.ReviewRequest{Version: a.Version}); err != nil {
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

// Renewed makes ready application a (ReadyApp) renewed: certificate next
// issued for it and confirmed installed, as a write to the UKey would.
func (e *Service) Renewed(acc *model.Account, a renewal.Application, next string) {
	e.t.Helper()
	ctx := e.t.Context()
	err := e.Store.Write(ctx, func(tx *store.Tx) error {
		return tx.PutIssuance(ctx, &renewal.Issuance{ApplicationID: a.ID, Mode: renewal.IssueSameKey, Serial: next, Certificate: []byte{0x30},
			NotBefore: Start, NotAfter: Start.AddDate(1, 0, 0)}, store.Change{Actor: "system", Action: "test.arrange"})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := acc.Client().ConfirmInstalled(ctx, a.ID, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: next}); err != nil {
		e.t.Fatal(err)
	}
}

// ApprovedApp is an application for the "near" certificate, submitted and
// approved, waiting for payment.
func (e *Service) ApprovedApp(acc *model.Account) renewal.Application {
	e.t.Helper()
	ctx := e.t.Context()
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &form})
	if err != nil {
		e.t.Fatal(err)
	}
	if a, err = acc.Client().Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version}); err != nil {
		e.t.Fatal(err)
	}
	if a, err = e.Staff().Approve(ctx, a.ID, renewal.ReviewRequest{Version: a.Version}); err != nil {
		e.t.Fatal(err)
	}
	return *a
}

// Scan pays the application's live code at the simulator, as a phone would.
func (e *Service) Scan(id string) {
	e.t.Helper()
	res, err := http.Post(e.URL+"/dev/applications/"+id+"/pay", "application/json", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		e.t.Fatalf("pay at the simulator: %s", res.Status)
	}
}

// AppsVM is the applications view-model of an account signed in as the
// demo clerk, downloading into a temporary directory.
func AppsVM(t *testing.T, e *Service) (*model.ApplicationsVM, *model.Account) {
	t.Helper()
	acc := e.SignedIn()
	vm := model.NewApplicationsVM(acc, fakeclock.New(Start), model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	vm.Dir = t.TempDir()
	return vm, acc
}
