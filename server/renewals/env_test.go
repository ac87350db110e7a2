package renewals_test

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The service is tested without HTTP, on both real databases.

var start = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// holder is a token's key and the certificate the CA issued for it.
type holder struct {
	key    crypto.Signer
	cert   *smx509.Certificate
	serial string
}

type env struct {
	t      *testing.T
	st     *store.Store
	pay    *payment.Payments
	sim    *payment.DevSimulator
	svc    *renewals.Service
	clock  *clock
	bank   *bank.Outbox
	ca     *issuer.LocalCA
	org    *store.Organisation
	other  *store.Organisation
	counts map[string]int
	// invoices issues e-invoices: the development issuer, or a refusal
	// while reject is set.
	invoices *testInvoices
	// callers
	clerk, otherClerk, reviewer, admin renewals.Caller
}

// dialects runs fn once on SQLite and once on PostgreSQL.
func dialects(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "sqlite", true: "postgres"}[pg]
		t.Run(name, func(t *testing.T) { fn(t, newEnv(t, pg, false)) })
	}
}

// dialectsPaying is dialects with the payment module, against the WeChat
// Pay simulator on a loopback port.
func dialectsPaying(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "sqlite", true: "postgres"}[pg]
		t.Run(name, func(t *testing.T) { fn(t, newEnv(t, pg, true)) })
	}
}

func pgDSN(t *testing.T) string {
	t.Helper()
	base := testenv.Env(t, "UKEY_TEST_PG_DSN")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "rnw_" + auth.NewID()[:12]
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema (is PostgreSQL at UKEY_TEST_PG_DSN up?): %v", err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			_, _ = a.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		return base + " search_path=" + schema
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func newEnv(t *testing.T, postgres, payments bool) *env {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: start}
	var st *store.Store
	var err error
	if postgres {
		st, err = store.OpenPostgres(ctx, pgDSN(t), store.WithClock(c.Now))
	} else {
		st, err = store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "renewd.db"), store.WithClock(c.Now))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := issuer.GenerateDevCA(t.TempDir(), issuer.ECDSA, start.AddDate(-3, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, clock: c, ca: ca, bank: bank.NewOutbox(c.Now), counts: map[string]int{}}
	sys := store.Change{Actor: "system", Action: "seed"}
	e.org = &store.Organisation{Name: "深圳市测试科技有限公司", CreditCode: creditCode("91440300MA5")}
	e.other = &store.Organisation{Name: "广州市另一家有限公司", CreditCode: creditCode("91440101MA5")}
	for _, o := range []*store.Organisation{e.org, e.other} {
		if err := st.CreateOrganisation(ctx, o, sys); err != nil {
			t.Fatal(err)
		}
	}
	caller := func(role renewal.Role, org, mobile, account, ip string) renewals.Caller {
		u := &store.User{Role: role, Name: string(role), Mobile: mobile, Account: account, OrganisationID: org}
		if err := st.CreateUser(ctx, u, sys); err != nil {
			t.Fatal(err)
		}
		return renewals.Caller{User: renewal.User{ID: u.ID, Role: role, OrganisationID: org}, IP: ip}
	}
	e.clerk = caller(renewal.RoleClerk, e.org.ID, "13800138000", "", "192.0.2.1")
	e.otherClerk = caller(renewal.RoleClerk, e.other.ID, "13900139000", "", "192.0.2.2")
	e.reviewer = caller(renewal.RoleReviewer, "", "", "reviewer", "192.0.2.3")
	e.admin = caller(renewal.RoleAdmin, "", "", "admin", "192.0.2.4")
	if payments {
		e.startPayments(postgres)
	}
	e.invoices = &testInvoices{dev: &invoice.DevIssuer{Seller: invoice.Seller{Name: "测试数字认证中心", TaxID: "91440300MA5000000T"}, Now: c.Now}}
	var mu sync.Mutex
	e.svc = renewals.New(renewals.Deps{Store: st, Policy: renewal.DefaultPolicy(), Issuer: ca, Bank: e.bank,
		Pepper: auth.Pepper("test pepper, 32 bytes long......"), Now: c.Now, Payments: e.pay,
		Count:        func(ev string) { mu.Lock(); e.counts[ev]++; mu.Unlock() },
		ChallengeTTL: 5 * time.Minute, MaxTransfers: 3,
		Invoices: e.invoices, InvoiceStuckAfter: 10 * time.Minute, InvoiceIssueTimeout: 30 * time.Second})
	return e
}

type testInvoices struct {
	dev    *invoice.DevIssuer
	mu     sync.Mutex
	reject bool
}

func (t *testInvoices) setReject(v bool) {
	t.mu.Lock()
	t.reject = v
	t.mu.Unlock()
}

func (t *testInvoices) Issue(ctx context.Context, r invoice.Request) (invoice.Issued, error) {
	t.mu.Lock()
	reject := t.reject
	t.mu.Unlock()
	if reject {
		return invoice.Issued{}, invoice.ErrRejected
	}
	return t.dev.Issue(ctx, r)
}

// startPayments builds the payment module over the store, with the
// service's hooks, on the test's clock.
func (e *env) startPayments(postgres bool) {
	ctx := e.t.Context()
	dialect := payment.DialectSQLite
	if postgres {
		dialect = payment.DialectPostgres
	}
	if err := payment.Migrate(ctx, e.st.DB(), dialect); err != nil {
		e.t.Fatal(err)
	}
	sim, err := payment.StartDevSimulator(context.Background(), "127.0.0.1:0", e.clock.Now)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { sim.Close() })
	hooks := renewals.NewPaymentHooks(e.st, renewal.DefaultPolicy())
	pay, err := payment.New(e.st.DB(), payment.Config{Provider: sim.Provider, Applications: hooks, Audit: hooks,
		Prices: renewal.DefaultPolicy(), NotifyURL: "https://127.0.0.1:1/v1/payments/notify", Clock: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.pay, e.sim = pay, sim
}

// addHolder registers a certificate of org ending at notAfter.
func (e *env) addHolder(alg issuer.KeyAlg, org *store.Organisation, notAfter time.Time) *holder {
	e.t.Helper()
	key, err := issuer.GenerateKey(alg)
	if err != nil {
		e.t.Fatal(err)
	}
	der, err := e.ca.IssueInitial(pkix.Name{Country: []string{"CN"}, Organization: []string{org.Name}, CommonName: "张三"},
		key.Public(), notAfter.AddDate(-1, 0, 0), notAfter)
	if err != nil {
		e.t.Fatal(err)
	}
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		e.t.Fatal(err)
	}
	spki, _ := smx509.MarshalPKIXPublicKey(cert.PublicKey)
	serial := renewal.NormalizeSerial(cert.SerialNumber.Text(16))
	rec := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "张三", Issuer: cert.Issuer.String(),
		OrganisationID: org.ID, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, KeyType: renewals.KeyTypeOf(cert)},
		PublicKey: spki, DER: der}
	if err := e.st.PutCertificate(context.Background(), rec, store.Change{Actor: "system", Action: "seed"}); err != nil {
		e.t.Fatal(err)
	}
	return &holder{key: key, cert: cert, serial: serial}
}

// draft creates an application with a complete form for a fresh
// certificate of the clerk's organisation.
func (e *env) draft() *renewal.Application {
	a, _ := e.draftWithHolder()
	return a
}

func (e *env) draftWithHolder() (*renewal.Application, *holder) {
	e.t.Helper()
	h := e.addHolder(issuer.ECDSA, e.org, start.AddDate(0, 0, 30))
	f := validForm(e.org)
	a, err := e.svc.Create(e.t.Context(), e.clerk, renewal.CreateApplicationRequest{CertSerial: h.serial, Form: &f})
	if err != nil {
		e.t.Fatal(err)
	}
	return a, h
}

// arrange puts application a straight into state, as the steps before
// would leave it (a test's shortcut; the audit log says so).
func (e *env) arrange(a *renewal.Application, state renewal.State) *renewal.Application {
	e.t.Helper()
	a, err := e.st.UpdateApplication(e.t.Context(), store.AllScope(), a.ID, a.Version, store.Change{Actor: "system", Action: "test.arrange"},
		func(a *renewal.Application) error {
			a.State = state
			return nil
		})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// actions lists the audit log's actions on target, in order.
func (e *env) actions(target string) []string {
	e.t.Helper()
	q := renewal.AuditQuery{Target: target}
	if err := q.Validate(); err != nil {
		e.t.Fatal(err)
	}
	entries, err := e.st.ListAudit(e.t.Context(), q)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Action)
	}
	return out
}

func validForm(org *store.Organisation) renewal.ApplicationForm {
	id := "11010519491231002"
	c, _ := renewal.IDNumberCheckChar(id)
	return renewal.ApplicationForm{
		Years:               1,
		Organisation:        renewal.Organisation{Name: org.Name, CreditCode: org.CreditCode},
		LegalRepresentative: renewal.Person{Name: "张三", IDNumber: id + string(c), Mobile: "13800138000"},
		Bank:                renewal.BankAccount{AccountName: org.Name, BankName: "招商银行深圳分行", AccountNumber: "755912345610801"},
		Invoice:             renewal.Invoice{Kind: renewal.InvoiceNone},
		Pickup:              renewal.Pickup{Method: renewal.PickupOnSite},
	}
}

func creditCode(prefix string) string {
	first := (prefix + "00000000000000000")[:17]
	c, err := renewal.CreditCodeCheckChar(first)
	if err != nil {
		panic(err)
	}
	return first + string(c)
}

// wantCode fails unless err is the contract's code.
func wantCode(t *testing.T, err error, code renewal.Code) {
	t.Helper()
	var re *renewal.Error
	if !errors.As(err, &re) || re.Code != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
}
