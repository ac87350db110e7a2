package app

import (
	"context"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// svcEnv is the real renewal service (server.New over a real SQLite store,
// a dev CA, SMS and bank outboxes) behind a real loopback listener, for the
// journey screens' tests.
type svcEnv struct {
	t       *testing.T
	url     string
	srv     *server.Server
	st      *store.Store
	clock   *fakeClock // the service's time: a millisecond per request
	sms     *sms.Outbox
	bank    *bank.Outbox
	org     *store.Organisation
	serials map[string]string // holder name → certificate serial
	paySim  *payment.DevSimulator
	ca      *issuer.LocalCA
	close   func() // stops the listener (the service is down)
}

var svcStart = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

const (
	demoMobile       = "13800138000"
	reviewerAccount  = "reviewer"
	reviewerPassword = "审核员的口令 2026"
)

func newSvcEnv(t *testing.T) *svcEnv {
	t.Helper()
	ctx := context.Background()
	c := &fakeClock{now: svcStart}
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "renewd.db"), store.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := issuer.GenerateDevCA(t.TempDir(), issuer.ECDSA, svcStart.AddDate(-3, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	e := &svcEnv{t: t, st: st, clock: c, sms: sms.NewOutbox("", c.Now), bank: bank.NewOutbox(c.Now), serials: map[string]string{}, ca: ca}
	sys := store.Change{Actor: "system", Action: "seed"}
	e.org = &store.Organisation{Name: "深圳市测试科技有限公司", CreditCode: testCreditCode("91440300MA5")}
	if err := st.CreateOrganisation(ctx, e.org, sys); err != nil {
		t.Fatal(err)
	}
	rh, _ := auth.NewHasher().Hash(ctx, reviewerPassword)
	for _, u := range []*store.User{
		{Role: renewal.RoleClerk, Name: "张三", Mobile: demoMobile, OrganisationID: e.org.ID},
		{Role: renewal.RoleReviewer, Name: "王审核", Account: reviewerAccount, PasswordHash: rh},
	} {
		if err := st.CreateUser(ctx, u, sys); err != nil {
			t.Fatal(err)
		}
	}
	for name, days := range map[string]int{"near": 30, "far": 200} {
		key, err := issuer.GenerateKey(issuer.ECDSA)
		if err != nil {
			t.Fatal(err)
		}
		notAfter := svcStart.AddDate(0, 0, days)
		der, err := ca.IssueInitial(pkix.Name{Country: []string{"CN"}, Organization: []string{e.org.Name}, CommonName: "张三"},
			key.Public(), notAfter.AddDate(-1, 0, 0), notAfter)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := smx509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		spki, _ := smx509.MarshalPKIXPublicKey(cert.PublicKey)
		serial := renewal.NormalizeSerial(cert.SerialNumber.Text(16))
		rec := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "张三", Issuer: cert.Issuer.String(),
			OrganisationID: e.org.ID, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, KeyType: renewal.KeyECDSA}, PublicKey: spki, DER: der}
		if err := st.PutCertificate(ctx, rec, sys); err != nil {
			t.Fatal(err)
		}
		e.serials[name] = serial
	}
	cfg := server.DefaultConfig()
	cfg.Dev = true
	cfg.Limits.IPBurst, cfg.Limits.AccountBurst = 1_000_000, 1_000_000
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Add(time.Millisecond)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	e.url, e.close = ts.URL, ts.Close
	// Real payments: the WeChat Pay simulator on a loopback TLS port,
	// reached through the official SDK, on the service's clock.
	if err := payment.Migrate(ctx, st.DB(), payment.DialectSQLite); err != nil {
		t.Fatal(err)
	}
	sim, err := payment.StartDevSimulator(ctx, "127.0.0.1:0", c.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e.paySim = sim
	hooks := renewals.NewPaymentHooks(st, cfg.Policy)
	pay, err := payment.New(st.DB(), payment.Config{Provider: sim.Provider, Applications: hooks, Audit: hooks,
		Prices: cfg.Policy, NotifyURL: ts.URL + "/v1/payments/notify", Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, server.Deps{Store: st, Issuer: ca, SMS: e.sms, Bank: e.bank,
		Pepper: auth.Pepper("test pepper, 32 bytes long......"), Now: c.Now, DevSMS: e.sms, DevBank: e.bank,
		Payments: pay, DevPay: func(ctx context.Context, _, outTradeNo string) error {
			_, err := sim.Sim.Pay(outTradeNo)
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	h = srv.Handler()
	return e
}

func testCreditCode(prefix string) string {
	first := (prefix + "00000000000000000")[:17]
	c, err := renewal.CreditCodeCheckChar(first)
	if err != nil {
		panic(err)
	}
	return first + string(c)
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
	a, err := model.NewAccount(e.url, st, client.WithTimeout(10*time.Second), client.WithRetry(0, time.Millisecond, time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// smsCode is the last code the service sent to mobile.
func (e *svcEnv) smsCode(mobile string) string {
	e.t.Helper()
	m, ok := e.sms.Last(mobile)
	if !ok {
		e.t.Fatalf("no SMS to %s", mobile)
	}
	return m.Code
}

// signedIn returns an account signed in as the demo clerk.
func (e *svcEnv) signedIn() *model.Account {
	e.t.Helper()
	a := e.account(nil)
	ctx := e.t.Context()
	if _, err := a.Client().SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: demoMobile}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := a.Client().LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: demoMobile, Code: e.smsCode(demoMobile)}); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Add(61 * time.Second) // past the resend wait, for the next test step
	return a
}

// staff is a client signed in as the reviewer.
func (e *svcEnv) staff() *client.Client {
	e.t.Helper()
	c, err := client.New(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.Login(e.t.Context(), renewal.PasswordLoginRequest{Account: reviewerAccount, Password: reviewerPassword}); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *svcEnv) markPaid(id string) {
	e.t.Helper()
	err := e.st.Write(e.t.Context(), func(tx *store.Tx) error {
		_, err := e.srv.SetPaymentState(e.t.Context(), tx, id, renewal.PaymentPaid)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// validForm is a complete, valid application form for the env's organisation.
func (e *svcEnv) validForm(years int) renewal.ApplicationForm {
	id := "11010519491231002"
	c, _ := renewal.IDNumberCheckChar(id)
	return renewal.ApplicationForm{
		Years:               years,
		Organisation:        renewal.Organisation{Name: e.org.Name, CreditCode: e.org.CreditCode},
		LegalRepresentative: renewal.Person{Name: "张三", IDNumber: id + string(c), Mobile: demoMobile},
		Bank:                renewal.BankAccount{AccountName: e.org.Name, BankName: "招商银行深圳分行", AccountNumber: "755912345610801"},
		Invoice:             renewal.Invoice{Kind: renewal.InvoiceElectronic, Title: e.org.Name, TaxID: e.org.CreditCode, Email: "finance@example.cn", Phone: demoMobile},
		Pickup:              renewal.Pickup{Method: renewal.PickupOnSite},
	}
}

// readyApp takes an application for certSerial through review, payment
// (the WeChat Pay simulator) and the bank transfer check.
func (e *svcEnv) readyApp(acc *model.Account, certSerial string, rekey bool) renewal.Application {
	e.t.Helper()
	ctx := e.t.Context()
	c := acc.Client()
	form := e.validForm(1)
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
	e.markPaid(a.ID)
	if a, err = c.GetApplication(ctx, a.ID); err != nil {
		e.t.Fatal(err)
	}
	fv, err := c.StartFinVerify(ctx, a.ID, renewal.VersionRequest{Version: a.Version})
	if err != nil {
		e.t.Fatal(err)
	}
	tr := e.bank.Transfers(form.Bank.AccountNumber)
	code := tr[len(tr)-1].Remark[len(tr[len(tr)-1].Remark)-6:]
	if a, err = c.SubmitFinVerifyCode(ctx, a.ID, renewal.FinVerifyCodeRequest{Version: fv.Version, Code: code}); err != nil {
		e.t.Fatal(err)
	}
	if a.Status != renewal.StatusReadyToDownload {
		e.t.Fatalf("application %s is %s", a.ID, a.Status)
	}
	return *a
}
