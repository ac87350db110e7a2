package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// clock is the test's time: it moves only when a test says so.
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

var start = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC) // 12:00 in Beijing

const (
	clerkMobile      = "13800138000"
	otherClerkMobile = "13900139000"
	adminPassword    = "correct horse battery staple"
	reviewerPassword = "审核员的口令 2026"
)

// holder is a token's key and the certificate the CA issued for it.
type holder struct {
	key    crypto.Signer
	cert   *smx509.Certificate
	serial string
}

type env struct {
	t       testing.TB
	url     string
	srv     *server.Server
	st      *store.Store
	clock   *clock
	sms     *sms.Outbox
	bank    *bank.Outbox
	ca      *issuer.LocalCA
	caDir   string
	org     *store.Organisation
	other   *store.Organisation
	holders map[string]*holder // by name
	http    *http.Client
	pay     *payment.Payments
	paySim  *payment.DevSimulator
	mail    *invoice.Outbox
	// responses validated against the OpenAPI document
	validated int
	mu        sync.Mutex
}

type envOptions struct {
	cfg      func(*server.Config)
	postgres bool
	// noValidate skips the OpenAPI check of responses (benchmarks).
	noValidate bool
	// failingHooks, if set, wraps the payment hooks so a test can make the
	// audit write of a payment fail mid-transaction.
	failingHooks *failingHooks
	// invoices, if set, issues the e-invoices (else the dev issuer).
	invoices invoice.Issuer
}

func pgDSN(t testing.TB) string {
	t.Helper()
	base := testenv.Env(t, "UKEY_TEST_PG_DSN")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "srv_" + auth.NewID()[:12]
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema (is PostgreSQL at UKEY_TEST_PG_DSN up?): %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err == nil {
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

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: start}
	var st *store.Store
	var err error
	if o.postgres {
		st, err = store.OpenPostgres(ctx, pgDSN(t), store.WithClock(c.Now))
	} else {
		st, err = store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "renewd.db"), store.WithClock(c.Now))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	caDir := t.TempDir()
	ca, err := issuer.GenerateDevCA(caDir, issuer.ECDSA, start.AddDate(-3, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, clock: c, ca: ca, caDir: caDir, holders: map[string]*holder{},
		sms: sms.NewOutbox("", c.Now), bank: bank.NewOutbox(c.Now), mail: invoice.NewOutbox(c.Now)}
	sys := store.Change{Actor: "system", Action: "seed"}
	e.org = &store.Organisation{Name: "深圳市测试科技有限公司", CreditCode: creditCode("91440300MA5")}
	e.other = &store.Organisation{Name: "广州市另一家有限公司", CreditCode: creditCode("91440101MA5")}
	for _, org := range []*store.Organisation{e.org, e.other} {
		if err := st.CreateOrganisation(ctx, org, sys); err != nil {
			t.Fatal(err)
		}
	}
	h := auth.NewHasher()
	adminHash, _ := h.Hash(ctx, adminPassword)
	reviewerHash, _ := h.Hash(ctx, reviewerPassword)
	for _, u := range []*store.User{
		{Role: renewal.RoleClerk, Name: "张三", Mobile: clerkMobile, OrganisationID: e.org.ID},
		{Role: renewal.RoleClerk, Name: "李四", Mobile: otherClerkMobile, OrganisationID: e.other.ID},
		{Role: renewal.RoleReviewer, Name: "王审核", Account: "reviewer", PasswordHash: reviewerHash},
		{Role: renewal.RoleAdmin, Name: "赵管理", Account: "admin", PasswordHash: adminHash},
	} {
		if err := st.CreateUser(ctx, u, sys); err != nil {
			t.Fatal(err)
		}
	}
	// Certificates on the clerk's tokens: RSA ending in 30 days, SM2 in 60,
	// ECDSA expired 10 days ago; and one of the other organisation.
	e.addHolder("rsa", issuer.RSA, e.org, start.AddDate(0, 0, 30))
	e.addHolder("sm2", issuer.SM2, e.org, start.AddDate(0, 0, 60))
	e.addHolder("ecdsa", issuer.ECDSA, e.org, start.AddDate(0, 0, -10))
	e.addHolder("far", issuer.ECDSA, e.org, start.AddDate(0, 0, 200))
	e.addHolder("other", issuer.ECDSA, e.other, start.AddDate(0, 0, 20))

	cfg := server.DefaultConfig()
	cfg.Dev = true
	// The test clock stands still, so buckets never refill: rate limits
	// have their own test.
	cfg.Limits.IPBurst, cfg.Limits.AccountBurst = 1_000_000, 1_000_000
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	// The service's URL is known before the service: the payment module
	// needs it for the notify URL it gives WeChat Pay.
	var handler http.Handler = http.NotFoundHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	e.url = ts.URL
	// Real payments: the WeChat Pay and Alipay simulators on a loopback TLS
	// port, reached through the official SDKs, on the test's clock.
	dialect := payment.DialectSQLite
	if o.postgres {
		dialect = payment.DialectPostgres
	}
	if err := payment.Migrate(ctx, st.DB(), dialect); err != nil {
		t.Fatal(err)
	}
	sim, err := payment.StartDevSimulator(ctx, "127.0.0.1:0", c.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	hooks := renewals.NewPaymentHooks(st, cfg.Policy)
	var audit payment.AuditSink = hooks
	if o.failingHooks != nil {
		o.failingHooks.PaymentHooks = hooks
		audit = o.failingHooks
	}
	pay, err := payment.New(st.DB(), payment.Config{Provider: sim.Provider, Others: []payment.Provider{sim.AlipayProvider},
		Applications: hooks, Audit: audit, Prices: cfg.Policy, NotifyURL: ts.URL + "/v1/payments/notify", Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.pay, e.paySim = pay, sim
	srv, err := server.New(cfg, server.Deps{Store: st, Issuer: ca, SMS: e.sms, Bank: e.bank,
		Pepper: auth.Pepper("test pepper, 32 bytes long......"), Now: c.Now, DevSMS: e.sms, DevBank: e.bank,
		Payments: pay, DevPay: devPay(sim), DevMail: e.mail, Invoices: o.invoices, Mailer: mailerFor(o.invoices, e.mail)})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	handler = srv.Handler()
	e.http = &http.Client{Transport: &validating{t: t, e: e, next: http.DefaultTransport}, Timeout: 30 * time.Second}
	if o.noValidate {
		e.http = &http.Client{Timeout: 30 * time.Second}
	}
	return e
}

// mailerFor is the mail outbox when a test brings its own issuer (the
// service wants both or neither), else nil (dev defaults on DevMail).
func mailerFor(iss invoice.Issuer, o *invoice.Outbox) invoice.Mailer {
	if iss == nil {
		return nil
	}
	return o
}

// failingHooks is the real audit sink, except that while fail is set the
// audit entry of a credit fails: the last step of the notification's
// transaction, after the order and the application have moved.
type failingHooks struct {
	*renewals.PaymentHooks
	mu   sync.Mutex
	fail bool
}

func (f *failingHooks) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

func (f *failingHooks) Record(ctx context.Context, q payment.Execer, e payment.AuditEvent) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail && e.Kind == "payment.credited" {
		return errors.New("audit store unavailable (test)")
	}
	return f.PaymentHooks.Record(ctx, q, e)
}

// devPay pays an order at the simulator, as renewd --dev does.
func devPay(sim *payment.DevSimulator) func(ctx context.Context, provider, outTradeNo string) error {
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

// creditCode completes a 17-character prefix with zeros and its GB 32100 check character.
func creditCode(prefix string) string {
	first := (prefix + "00000000000000000")[:17]
	c, err := renewal.CreditCodeCheckChar(first)
	if err != nil {
		panic(err)
	}
	return first + string(c)
}

func (e *env) addHolder(name string, alg issuer.KeyAlg, org *store.Organisation, notAfter time.Time) *holder {
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
	h := &holder{key: key, cert: cert, serial: serial}
	e.holders[name] = h
	return h
}

// ---- OpenAPI validation of every response ----

type validating struct {
	t    testing.TB
	e    *env
	next http.RoundTripper
	once sync.Once
	doc  *openapi3.T
	rt   routers.Router
}

func loadDoc(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(server.OpenAPI())
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI 3: %v", err)
	}
	return doc
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	v.once.Do(func() {
		v.doc = loadDoc(v.t)
		var err error
		if v.rt, err = legacy.NewRouter(v.doc); err != nil {
			v.t.Fatalf("router: %v", err)
		}
		for _, ct := range []string{"application/yaml", "text/csv", "application/x-pem-file", "application/pdf", "image/jpeg", "image/png", "application/octet-stream"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
	})
	resp, err := v.next.RoundTrip(req)
	if err != nil || strings.HasPrefix(req.URL.Path, "/dev/") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	// Match the route on a copy whose URL has no host, as the document's server is "/".
	r2 := req.Clone(req.Context())
	r2.URL = &url.URL{Path: req.URL.Path, RawQuery: req.URL.RawQuery}
	route, params, err := v.rt.FindRoute(r2)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return resp, nil // an unknown path or method: nothing to validate
		}
		v.t.Errorf("%s %s answered %d but is not in openapi.yaml: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		return resp, nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r2, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		v.t.Errorf("%s %s: response %d does not match openapi.yaml: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, firstBytes(body))
	}
	v.e.mu.Lock()
	v.e.validated++
	v.e.mu.Unlock()
	return resp, nil
}

func firstBytes(b []byte) string {
	if len(b) > 400 {
		b = b[:400]
	}
	return string(b)
}

// ---- a small client ----

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errCode() string {
	var e struct {
		Code  string `json:"code"`
		Field string `json:"field"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Code
}

// do sends a request with a JSON (or raw []byte) body and the token.
func (e *env) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	// Time moves a little with every request, as it does outside tests
	// (rows stamped in the same microsecond would tie in "latest" order).
	e.clock.Add(time.Millisecond)
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ct = bytes.NewReader(b), "application/octet-stream"
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

// ok sends a request that must answer want, and decodes the body into out.
func (e *env) ok(want int, out any, method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	r := e.do(method, path, token, body, hdr...)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decode: %v: %s", method, path, err, r.body)
		}
	}
	return r
}

// fails sends a request that must be refused with status and code.
func (e *env) fails(status int, code, method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	r := e.do(method, path, token, body, hdr...)
	if r.status != status || r.errCode() != code {
		e.t.Fatalf("%s %s: got %d %s, want %d %s: %s", method, path, r.status, r.errCode(), status, code, r.body)
	}
	return r
}

// smsSignIn signs a clerk in with the code from the outbox.
func (e *env) smsSignIn(mobile string) renewal.Tokens {
	e.t.Helper()
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: mobile})
	m, ok := e.sms.Last(mobile)
	if !ok {
		e.t.Fatalf("no SMS to %s", mobile)
	}
	var tok renewal.Tokens
	e.ok(http.StatusOK, &tok, "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: mobile, Code: m.Code})
	e.clock.Add(61 * time.Second) // past the resend wait, for the next sign-in
	return tok
}

func (e *env) passwordSignIn(account, password string) renewal.Tokens {
	e.t.Helper()
	var tok renewal.Tokens
	e.ok(http.StatusOK, &tok, "POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: account, Password: password})
	return tok
}

// validForm is a complete, valid application form of org.
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

func path(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
