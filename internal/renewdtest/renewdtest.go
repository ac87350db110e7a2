// Package renewdtest starts a real renewd inside a test, in the spirit of
// net/http/httptest: the real store (SQLite in a temporary directory, or a
// fresh schema of the test PostgreSQL server), the real handler of
// server.New on an httptest server, a development CA, the SMS, bank and
// mail outboxes, and, when asked, the payment module against the WeChat Pay
// and Alipay simulators. Everything runs on one fake clock that moves only
// when the test moves it.
//
// A new Renewd is seeded with two organisations, a clerk of each, a
// reviewer and an administrator (see Seed); certificates are added with
// AddHolder. What differs between tests is an Option.
//
// It imports server, so only external test packages (package foo_test) and
// packages above server can use it.
package renewdtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/riverqueue/river"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/jobs"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Start is where the clock starts unless Options.Now says otherwise:
// noon in Beijing on 23 November 2026.
var Start = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

// The seeded users' credentials.
const (
	ClerkMobile      = "13800138000" // 张三, clerk of Seed.Org
	OtherClerkMobile = "13900139000" // 李四, clerk of Seed.Other
	ReviewerAccount  = "reviewer"
	ReviewerPassword = "审核员的口令 2026"
	AdminAccount     = "admin"
	AdminPassword    = "correct horse battery staple"
)

// Pepper keys the service's hashes of SMS and transfer codes.
var Pepper = auth.Pepper("test pepper, 32 bytes long......")

// StoreEnv, set to "postgres" in the environment, puts every Renewd's
// store on PostgreSQL, as Options.Postgres does: to run tests written for
// the default SQLite on both databases.
const StoreEnv = "UKEY_TEST_STORE"

// Options say how a Renewd differs from the default one.
type Options struct {
	// Postgres puts the store in a fresh schema of the PostgreSQL server
	// at UKEY_TEST_PG_DSN (the test is skipped, or fails under
	// UKEY_TEST_STRICT=1, without it); else SQLite.
	Postgres bool
	// Now is where the clock starts (zero: Start).
	Now time.Time
	// Config changes the service's configuration. The default is
	// server.DefaultConfig with Dev set and rate-limit bursts so large
	// that a clock standing still never runs out (rate limits have their
	// own tests).
	Config func(*server.Config)
	// Payments starts the payment module (tables migrated in the store)
	// against the WeChat Pay and Alipay simulators on a loopback port.
	Payments bool
	// Audit, if set, replaces the payment module's audit sink with what it
	// returns for the real hooks (to make an audit write fail).
	Audit func(*renewals.PaymentHooks) payment.AuditSink
	// Invoices, if set, issues the e-invoices, their links going to the
	// mail outbox (else the service's development issuer).
	Invoices invoice.Issuer
	// NoServer builds only the parts (store, CA, outboxes, payments, seed):
	// no server.Server and no listener, for tests of the layers under the
	// handlers. The payment module's notify URL then leads nowhere.
	NoServer bool
	// Wrap, if set, wraps the service's handler (a gateway in front).
	Wrap func(http.Handler) http.Handler
	// Listener, if set, wraps the HTTP listener (to drop connections).
	Listener func(net.Listener) net.Listener
	// Jobs runs the durable job queue (River) in the store, working the
	// payment module's jobs (with Payments) as renewd does; its sweep
	// runs every payment.MinSweepInterval.
	Jobs bool
	// Store are options of the store beside its clock (pool sizes).
	Store []store.Option
}

// Renewd is a running service and the parts it is made of.
type Renewd struct {
	t testing.TB
	// URL is the service's base URL (empty with NoServer).
	URL       string
	Server    *server.Server // nil with NoServer
	Config    server.Config
	Store     *store.Store
	Postgres  bool
	dsn       string         // the store's: a PostgreSQL connection string or an SQLite file
	storeOpts []store.Option // Options.Store
	opts      Options
	Clock     *fakeclock.Clock
	SMS       *sms.Outbox
	Bank      *bank.Outbox
	Mail      *invoice.Outbox
	CA        *issuer.LocalCA
	CADir     string
	// Payments and PaySim are set with Options.Payments.
	Payments *payment.Payments
	PaySim   *payment.DevSimulator
	// Jobs is set with Options.Jobs.
	Jobs *jobs.Queue
	Seed
}

// Seed is what a new Renewd holds.
type Seed struct {
	Org, Other        *store.Organisation
	Clerk, OtherClerk *store.User
	Reviewer, Admin   *store.User
}

// SeedChange is the audit change the seed and AddHolder are recorded under.
var SeedChange = store.Change{Actor: "system", Action: "seed"}

// New starts a renewd for the test; it stops when the test ends.
func New(t testing.TB, o Options) *Renewd {
	t.Helper()
	ctx := context.Background()
	now := o.Now
	if now.IsZero() {
		now = Start
	}
	if os.Getenv(StoreEnv) == "postgres" {
		o.Postgres = true
	}
	c := fakeclock.New(now)
	r := &Renewd{t: t, Clock: c, Postgres: o.Postgres, CADir: t.TempDir(),
		SMS: sms.NewOutbox("", c.Now), Bank: bank.NewOutbox(c.Now), Mail: invoice.NewOutbox(c.Now),
		storeOpts: o.Store}
	var err error
	if o.Postgres {
		r.dsn = pgtest.Schema(t, "renewd_")
	} else {
		r.dsn = filepath.Join(t.TempDir(), "renewd.db")
	}
	r.openStore()
	if r.CA, err = issuer.GenerateDevCA(r.CADir, issuer.ECDSA, now.AddDate(-3, 0, 0)); err != nil {
		t.Fatal(err)
	}
	r.seed(ctx)

	r.Config = server.DefaultConfig()
	r.Config.Dev = true
	r.Config.Limits.IPBurst, r.Config.Limits.AccountBurst = 1_000_000, 1_000_000
	if o.Config != nil {
		o.Config(&r.Config)
	}
	r.opts = o
	r.start(ctx, o)
	return r
}

// openStore opens the store at r.dsn on r's clock.
func (r *Renewd) openStore() {
	var err error
	if r.Postgres {
		r.Store, err = store.OpenPostgres(context.Background(), r.dsn, append(r.storeOpts, store.WithClock(r.Clock.Now))...)
	} else {
		r.Store, err = store.OpenSQLite(context.Background(), r.dsn, append(r.storeOpts, store.WithClock(r.Clock.Now))...)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	st := r.Store
	r.t.Cleanup(func() { st.Close() })
}

// Replica starts another renewd on r's database (its own connections),
// clock, CA, outboxes and payment simulators, with r's configuration: a
// second replica of the service, as behind a load balancer. Its Seed is r's.
func (r *Renewd) Replica() *Renewd {
	r.t.Helper()
	c := *r
	c.URL, c.Server, c.Payments = "", nil, nil
	c.openStore()
	c.start(context.Background(), r.opts)
	return &c
}

// start builds the payment module, when asked, and the service on a
// loopback port, over r's store.
func (r *Renewd) start(ctx context.Context, o Options) {
	t, c := r.t, r.Clock
	var err error
	// The URL is known before the service: the payment module gives it to
	// the providers as the notify URL.
	var handler http.Handler = http.NotFoundHandler()
	notify := "https://127.0.0.1:1/v1/payments/notify"
	var ts *httptest.Server
	if !o.NoServer {
		ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) { handler.ServeHTTP(w, q) }))
		if o.Listener != nil {
			ts.Listener = o.Listener(ts.Listener)
		}
		ts.Start()
		t.Cleanup(ts.Close)
		r.URL = ts.URL
		notify = ts.URL + "/v1/payments/notify"
	}
	if o.Payments {
		r.startPayments(ctx, o.Audit, notify)
	}
	if o.Jobs {
		r.startJobs(ctx)
	}
	if o.NoServer {
		return
	}
	var mailer invoice.Mailer
	if o.Invoices != nil {
		mailer = r.Mail // the service wants an issuer and a mailer, or neither
	}
	r.Server, err = server.New(r.Config, server.Deps{Store: r.Store, Issuer: r.CA, SMS: r.SMS, Bank: r.Bank,
		Pepper: Pepper, Now: c.Now, DevSMS: r.SMS, DevBank: r.Bank, DevMail: r.Mail,
		Payments: r.Payments, DevPay: r.devPay(), Invoices: o.Invoices, Mailer: mailer, Jobs: r.Jobs})
	if err != nil {
		t.Fatal(err)
	}
	handler = r.Server.Handler()
	if o.Wrap != nil {
		handler = o.Wrap(handler)
	}
}

// hashes are the seeded passwords' hashes, made once: hashing is slow on
// purpose, and a salted hash may serve every Renewd.
var hashes = sync.OnceValues(func() (string, string) {
	h := auth.NewHasher()
	reviewer, err := h.Hash(context.Background(), ReviewerPassword)
	if err != nil {
		panic(err)
	}
	admin, err := h.Hash(context.Background(), AdminPassword)
	if err != nil {
		panic(err)
	}
	return reviewer, admin
})

func (r *Renewd) seed(ctx context.Context) {
	r.Org = &store.Organisation{Name: "深圳市测试科技有限公司", CreditCode: CreditCode("91440300MA5")}
	r.Other = &store.Organisation{Name: "广州市另一家有限公司", CreditCode: CreditCode("91440101MA5")}
	for _, org := range []*store.Organisation{r.Org, r.Other} {
		if err := r.Store.CreateOrganisation(ctx, org, SeedChange); err != nil {
			r.t.Fatal(err)
		}
	}
	reviewerHash, adminHash := hashes()
	r.Clerk = &store.User{Role: renewal.RoleClerk, Name: "张三", Mobile: ClerkMobile, OrganisationID: r.Org.ID}
	r.OtherClerk = &store.User{Role: renewal.RoleClerk, Name: "李四", Mobile: OtherClerkMobile, OrganisationID: r.Other.ID}
	r.Reviewer = &store.User{Role: renewal.RoleReviewer, Name: "王审核", Account: ReviewerAccount, PasswordHash: reviewerHash}
	r.Admin = &store.User{Role: renewal.RoleAdmin, Name: "赵管理", Account: AdminAccount, PasswordHash: adminHash}
	for _, u := range []*store.User{r.Clerk, r.OtherClerk, r.Reviewer, r.Admin} {
		if err := r.Store.CreateUser(ctx, u, SeedChange); err != nil {
			r.t.Fatal(err)
		}
	}
}

// startPayments migrates the payment tables and builds the payment module
// over the store, with the service's hooks, against the simulators.
func (r *Renewd) startPayments(ctx context.Context, audit func(*renewals.PaymentHooks) payment.AuditSink, notifyURL string) {
	dialect := payment.DialectSQLite
	if r.Postgres {
		dialect = payment.DialectPostgres
	}
	if err := payment.Migrate(ctx, r.Store.DB(), dialect); err != nil {
		r.t.Fatal(err)
	}
	sim := r.PaySim // a replica's: the first one's simulators
	if sim == nil {
		var err error
		if sim, err = payment.StartDevSimulator(ctx, "127.0.0.1:0", r.Clock.Now); err != nil {
			r.t.Fatal(err)
		}
		r.t.Cleanup(func() { sim.Close() })
	}
	hooks := renewals.NewPaymentHooks(r.Store, r.Config.Policy)
	var sink payment.AuditSink = hooks
	if audit != nil {
		sink = audit(hooks)
	}
	pay, err := payment.New(r.Store.DB(), payment.Config{Provider: sim.Provider, Others: []payment.Provider{sim.AlipayProvider},
		Applications: hooks, Audit: sink, Prices: r.Config.Policy, NotifyURL: notifyURL, Clock: r.Clock.Now})
	if err != nil {
		r.t.Fatal(err)
	}
	r.Payments, r.PaySim = pay, sim
}

// startJobs migrates River's tables and starts the queue with the payment
// module's workers (if any); it stops when the test ends.
func (r *Renewd) startJobs(ctx context.Context) {
	d := jobs.SQLite
	if r.Postgres {
		d = jobs.Postgres
	}
	if err := jobs.Migrate(ctx, r.Store.DB(), d); err != nil {
		r.t.Fatal(err)
	}
	w := river.NewWorkers()
	var periodic []*river.PeriodicJob
	if r.Payments != nil {
		r.Payments.AddWorkers(w)
		periodic = r.Payments.PeriodicJobs(payment.MinSweepInterval)
	}
	q, err := jobs.New(ctx, r.Store.DB(), d, jobs.Config{Workers: w, Periodic: periodic, PollInterval: 50 * time.Millisecond})
	if err != nil {
		r.t.Fatal(err)
	}
	if r.Payments != nil {
		r.Payments.UseJobs(q)
	}
	if err := q.Start(ctx); err != nil {
		r.t.Fatal(err)
	}
	r.Jobs = q
	r.t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(sctx); err != nil {
			r.t.Error(err)
		}
	})
}

// devPay pays an order at the simulator, as renewd --dev does (nil
// without payments).
func (r *Renewd) devPay() func(ctx context.Context, provider, outTradeNo string) error {
	sim := r.PaySim
	if sim == nil {
		return nil
	}
	return func(ctx context.Context, provider, outTradeNo string) error {
		var err error
		if provider == "alipay" {
			_, err = sim.Alipay.Pay(outTradeNo)
		} else {
			_, err = sim.Sim.Pay(outTradeNo)
		}
		return err
	}
}

// CreditCode completes a 17-character prefix with zeros and its GB 32100
// check character.
func CreditCode(prefix string) string {
	first := (prefix + "00000000000000000")[:17]
	c, err := renewal.CreditCodeCheckChar(first)
	if err != nil {
		panic(err)
	}
	return first + string(c)
}

// Holder is a token's key and the certificate the CA issued for it.
type Holder struct {
	Key    crypto.Signer
	Cert   *smx509.Certificate
	Serial string // the certificate's, as renewal.NormalizeSerial writes it
}

// AddHolder makes a key of alg and has the CA issue it a year's
// certificate of org (holder 张三) ending at notAfter, and records the
// certificate in the store.
func (r *Renewd) AddHolder(alg issuer.KeyAlg, org *store.Organisation, notAfter time.Time) *Holder {
	r.t.Helper()
	key, err := issuer.GenerateKey(alg)
	if err != nil {
		r.t.Fatal(err)
	}
	cert := r.PutCertificate(key.Public(), org, notAfter)
	return &Holder{Key: key, Cert: cert, Serial: SerialOf(cert)}
}

// PutCertificate has the CA issue a year's certificate of org (holder
// 张三) for pub, ending at notAfter, records it in the store and returns it.
func (r *Renewd) PutCertificate(pub crypto.PublicKey, org *store.Organisation, notAfter time.Time) *smx509.Certificate {
	r.t.Helper()
	der, err := r.CA.IssueInitial(pkix.Name{Country: []string{"CN"}, Organization: []string{org.Name}, CommonName: "张三"},
		pub, notAfter.AddDate(-1, 0, 0), notAfter)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.Register(der, org)
}

// Register records certificate der (holder 张三) of org in the store, as
// a certificate the CA issued, and returns it parsed: for a certificate
// made otherwise (one the CA would no longer issue today).
func (r *Renewd) Register(der []byte, org *store.Organisation) *smx509.Certificate {
	r.t.Helper()
	cert, err := smx509.ParseCertificate(der)
	if err != nil {
		r.t.Fatal(err)
	}
	spki, err := smx509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		r.t.Fatal(err)
	}
	rec := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: SerialOf(cert), Holder: "张三", Issuer: cert.Issuer.String(),
		OrganisationID: org.ID, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, KeyType: renewals.KeyTypeOf(cert)},
		PublicKey: spki, DER: der}
	if err := r.Store.PutCertificate(context.Background(), rec, SeedChange); err != nil {
		r.t.Fatal(err)
	}
	return cert
}

// PutOldCertificate records a year's certificate of org (holder 张三) for
// pub, ending at notAfter, made by an issuer of long ago: the CA renews
// what it once issued even when it would not issue that key today (RSA-1024,
// P-224), which its own IssueInitial refuses.
func (r *Renewd) PutOldCertificate(pub crypto.PublicKey, org *store.Organisation, notAfter time.Time) *smx509.Certificate {
	r.t.Helper()
	ca, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		r.t.Fatal(err)
	}
	serial, err := issuer.NewSerial()
	if err != nil {
		r.t.Fatal(err)
	}
	tmpl := &smx509.Certificate{SerialNumber: serial, Subject: pkix.Name{Country: []string{"CN"}, Organization: []string{org.Name}, CommonName: "张三"},
		NotBefore: notAfter.AddDate(-1, 0, 0), NotAfter: notAfter, KeyUsage: smx509.KeyUsageDigitalSignature}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, ca)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.Register(der, org)
}

// SerialOf is a certificate's serial number as the service writes it.
func SerialOf(c *smx509.Certificate) string { return renewal.NormalizeSerial(c.SerialNumber.Text(16)) }

// SMSCode is the code of the last SMS sent to mobile.
func (r *Renewd) SMSCode(mobile string) string {
	r.t.Helper()
	m, ok := r.SMS.Last(mobile)
	if !ok {
		r.t.Fatalf("no SMS to %s", mobile)
	}
	return m.Code
}

// TransferCode is the code in the remark of the last verification
// transfer to account.
func (r *Renewd) TransferCode(account string) string {
	r.t.Helper()
	ts := r.Bank.Transfers(account)
	if len(ts) == 0 {
		r.t.Fatalf("no transfer to %s", account)
	}
	last := ts[len(ts)-1]
	return last.Remark[len(last.Remark)-6:]
}

// MarkPaid records application id as paid, as a payment would.
func (r *Renewd) MarkPaid(id string) {
	r.t.Helper()
	ctx := r.t.Context()
	err := r.Store.Write(ctx, func(tx *store.Tx) error {
		_, err := r.Server.SetPaymentState(ctx, tx, id, renewal.PaymentPaid)
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

// ValidForm is a complete, valid application form of org, the clerk 张三
// its legal representative, with an electronic invoice.
func ValidForm(org *store.Organisation, years int) renewal.ApplicationForm {
	id := "11010519491231002"
	c, _ := renewal.IDNumberCheckChar(id)
	return renewal.ApplicationForm{
		Years:               years,
		Organisation:        renewal.Organisation{Name: org.Name, CreditCode: org.CreditCode},
		LegalRepresentative: renewal.Person{Name: "张三", IDNumber: id + string(c), Mobile: ClerkMobile},
		Bank:                renewal.BankAccount{AccountName: org.Name, BankName: "招商银行深圳分行", AccountNumber: "755912345610801"},
		Invoice:             renewal.Invoice{Kind: renewal.InvoiceElectronic, Title: org.Name, TaxID: org.CreditCode, Email: "finance@example.cn", Phone: ClerkMobile},
		Pickup:              renewal.Pickup{Method: renewal.PickupOnSite},
	}
}
