package client_test

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// serverClock is the service's time in a test: it moves a millisecond with
// every request (rows stamped in the same instant would tie) and when a
// test says so.
type serverClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *serverClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *serverClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testClock is the client's time: Sleep returns at once and moves the
// clock, so backoff and countdowns run in microseconds.
type testClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return nil
}

func (c *testClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

var start = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

const (
	clerkMobile      = "13800138000"
	otherClerkMobile = "13900139000"
	reviewerPassword = "审核员的口令 2026"
	adminPassword    = "correct horse battery staple"
)

type holder struct {
	key    crypto.Signer
	cert   *smx509.Certificate
	serial string
}

// env is the real service (server.New over a real SQLite store, dev CA,
// SMS and bank outboxes) behind a real HTTP listener.
type env struct {
	t        testing.TB
	url      string
	srv      *server.Server
	st       *store.Store
	clock    *serverClock
	sms      *sms.Outbox
	bank     *bank.Outbox
	ca       *issuer.LocalCA
	org      *store.Organisation
	holders  map[string]*holder
	requests atomic.Int64 // requests that reached the service
	// gate, if set, may answer a request before the service does (a
	// gateway in front of it); it returns true when it answered.
	gate atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
}

type envOptions struct {
	// wrapListener wraps the listener (to drop connections).
	wrapListener func(net.Listener) net.Listener
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	c := &serverClock{t: start}
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "renewd.db"), store.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ca, err := issuer.GenerateDevCA(t.TempDir(), issuer.ECDSA, start.AddDate(-3, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, clock: c, ca: ca, holders: map[string]*holder{},
		sms: sms.NewOutbox("", c.Now), bank: bank.NewOutbox(c.Now)}
	sys := store.Change{Actor: "system", Action: "seed"}
	e.org = &store.Organisation{Name: "深圳市测试科技有限公司", CreditCode: creditCode("91440300MA5")}
	other := &store.Organisation{Name: "广州市另一家有限公司", CreditCode: creditCode("91440101MA5")}
	for _, org := range []*store.Organisation{e.org, other} {
		if err := st.CreateOrganisation(ctx, org, sys); err != nil {
			t.Fatal(err)
		}
	}
	h := auth.NewHasher()
	reviewerHash, _ := h.Hash(ctx, reviewerPassword)
	adminHash, _ := h.Hash(ctx, adminPassword)
	for _, u := range []*store.User{
		{Role: renewal.RoleClerk, Name: "张三", Mobile: clerkMobile, OrganisationID: e.org.ID},
		{Role: renewal.RoleClerk, Name: "李四", Mobile: otherClerkMobile, OrganisationID: other.ID},
		{Role: renewal.RoleReviewer, Name: "王审核", Account: "reviewer", PasswordHash: reviewerHash},
		{Role: renewal.RoleAdmin, Name: "赵管理", Account: "admin", PasswordHash: adminHash},
	} {
		if err := st.CreateUser(ctx, u, sys); err != nil {
			t.Fatal(err)
		}
	}
	e.addHolder("rsa", issuer.RSA, e.org, start.AddDate(0, 0, 30))
	e.addHolder("ecdsa", issuer.ECDSA, e.org, start.AddDate(0, 0, 45))
	e.addHolder("far", issuer.ECDSA, e.org, start.AddDate(0, 0, 200))

	cfg := server.DefaultConfig()
	cfg.Dev = true
	cfg.Limits.IPBurst, cfg.Limits.AccountBurst = 1_000_000, 1_000_000
	srv, err := server.New(cfg, server.Deps{Store: st, Issuer: ca, SMS: e.sms, Bank: e.bank,
		Pepper: auth.Pepper("test pepper, 32 bytes long......"), Now: c.Now, DevSMS: e.sms, DevBank: e.bank})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	h2 := srv.Handler()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.Add(time.Millisecond)
		if g := e.gate.Load(); g != nil && (*g)(w, r) {
			return
		}
		e.requests.Add(1)
		h2.ServeHTTP(w, r)
	}))
	if o.wrapListener != nil {
		ts.Listener = o.wrapListener(ts.Listener)
	}
	ts.Start()
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

// setGate puts a gateway in front of the service (nil removes it).
func (e *env) setGate(g func(w http.ResponseWriter, r *http.Request) bool) {
	if g == nil {
		e.gate.Store(nil)
		return
	}
	e.gate.Store(&g)
}

func creditCode(prefix string) string {
	first := (prefix + "00000000000000000")[:17]
	c, err := renewal.CreditCodeCheckChar(first)
	if err != nil {
		panic(err)
	}
	return first + string(c)
}

func (e *env) addHolder(name string, alg issuer.KeyAlg, org *store.Organisation, notAfter time.Time) {
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
	kt := map[issuer.KeyAlg]renewal.KeyType{issuer.RSA: renewal.KeyRSA, issuer.ECDSA: renewal.KeyECDSA, issuer.SM2: renewal.KeySM2}[alg]
	rec := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "张三", Issuer: cert.Issuer.String(),
		OrganisationID: org.ID, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, KeyType: kt}, PublicKey: spki, DER: der}
	if err := e.st.PutCertificate(context.Background(), rec, store.Change{Actor: "system", Action: "seed"}); err != nil {
		e.t.Fatal(err)
	}
	e.holders[name] = &holder{key: key, cert: cert, serial: serial}
}

// client makes a client of the env with a test clock and no jitter.
func (e *env) client(opts ...client.Option) (*client.Client, *testClock) {
	e.t.Helper()
	clk := &testClock{t: time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)}
	all := append([]client.Option{client.WithClock(clk), client.WithJitter(func(max time.Duration) time.Duration { return max }),
		client.WithTimeout(10 * time.Second)}, opts...)
	c, err := client.New(e.url, all...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, clk
}

// smsSignIn signs the clerk in through the client, with the code from the outbox.
func (e *env) smsSignIn(c *client.Client, mobile string) *renewal.Tokens {
	e.t.Helper()
	ctx := e.t.Context()
	if _, err := c.SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: mobile}); err != nil {
		e.t.Fatal(err)
	}
	m, ok := e.sms.Last(mobile)
	if !ok {
		e.t.Fatalf("no SMS to %s", mobile)
	}
	tok, err := c.LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: mobile, Code: m.Code})
	if err != nil {
		e.t.Fatal(err)
	}
	e.clock.Add(61 * time.Second)
	return tok
}

func (e *env) markPaid(id string) {
	e.t.Helper()
	err := e.st.Write(e.t.Context(), func(tx *store.Tx) error {
		_, err := e.srv.SetPaymentState(e.t.Context(), tx, id, renewal.PaymentPaid)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) transferCode(account string) string {
	e.t.Helper()
	ts := e.bank.Transfers(account)
	if len(ts) == 0 {
		e.t.Fatalf("no transfer to %s", account)
	}
	last := ts[len(ts)-1]
	return last.Remark[len(last.Remark)-6:]
}

func validForm(org *store.Organisation, years int) renewal.ApplicationForm {
	id := "11010519491231002"
	c, _ := renewal.IDNumberCheckChar(id)
	return renewal.ApplicationForm{
		Years:               years,
		Organisation:        renewal.Organisation{Name: org.Name, CreditCode: org.CreditCode},
		LegalRepresentative: renewal.Person{Name: "张三", IDNumber: id + string(c), Mobile: clerkMobile},
		Bank:                renewal.BankAccount{AccountName: org.Name, BankName: "招商银行深圳分行", AccountNumber: "755912345610801"},
		Invoice:             renewal.Invoice{Kind: renewal.InvoiceElectronic, Title: org.Name, TaxID: org.CreditCode, Email: "finance@example.cn", Phone: clerkMobile},
		Pickup:              renewal.Pickup{Method: renewal.PickupOnSite},
	}
}

func serverOpenAPI() []byte { return server.OpenAPI() }

// loseFirstAnswer lets the next POST to path reach the service and answers
// the client 502, as a gateway that lost the answer. With forget, the
// service does not see the Idempotency-Key either (as after a restart that
// emptied its memory of keys). It returns how many POSTs to path came.
func (e *env) loseFirstAnswer(path string, forget bool) *atomic.Int64 {
	return e.loseFirst(http.MethodPost, path, forget)
}

func (e *env) loseFirst(method, path string, forget bool) *atomic.Int64 {
	var n atomic.Int64
	e.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != method || r.URL.Path != path {
			return false
		}
		if n.Add(1) > 1 {
			return false
		}
		if forget {
			r.Header.Del(client.IdempotencyKeyHeader)
		}
		e.srv.Handler().ServeHTTP(discard{}, r)
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	return &n
}
