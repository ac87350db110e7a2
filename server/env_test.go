package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

var start = renewdtest.Start // 12:00 in Beijing

const (
	clerkMobile      = renewdtest.ClerkMobile
	otherClerkMobile = renewdtest.OtherClerkMobile
	adminPassword    = renewdtest.AdminPassword
	reviewerPassword = renewdtest.ReviewerPassword
)

var (
	creditCode = renewdtest.CreditCode
	validForm  = renewdtest.ValidForm
)

// holder is a token's key and the certificate the CA issued for it.
type holder = renewdtest.Holder

// env is a real renewd (internal/renewdtest) with payments, and an HTTP
// client that checks every answer against openapi.yaml.
type env struct {
	*renewdtest.Renewd
	t       testing.TB
	holders map[string]*holder // by name
	http    *http.Client
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
	// wrap, if set, wraps the service's handler.
	wrap func(http.Handler) http.Handler
	// store are the store's options (pool sizes).
	store []store.Option
}

// pgDSN is a fresh schema of the test PostgreSQL server.
func pgDSN(t testing.TB) string { return pgtest.Schema(t, "srv_") }

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ro := renewdtest.Options{Postgres: o.postgres, Config: o.cfg, Payments: true, Invoices: o.invoices, Wrap: o.wrap, Store: o.store}
	if f := o.failingHooks; f != nil {
		ro.Audit = func(h *renewals.PaymentHooks) payment.AuditSink {
			f.PaymentHooks = h
			return f
		}
	}
	e := &env{Renewd: renewdtest.New(t, ro), t: t, holders: map[string]*holder{}}
	// Certificates on the clerk's tokens: RSA ending in 30 days, SM2 in 60,
	// ECDSA expired 10 days ago; and one of the other organisation.
	e.addHolder("rsa", issuer.RSA, e.Org, start.AddDate(0, 0, 30))
	e.addHolder("sm2", issuer.SM2, e.Org, start.AddDate(0, 0, 60))
	e.addHolder("ecdsa", issuer.ECDSA, e.Org, start.AddDate(0, 0, -10))
	e.addHolder("far", issuer.ECDSA, e.Org, start.AddDate(0, 0, 200))
	e.addHolder("other", issuer.ECDSA, e.Other, start.AddDate(0, 0, 20))
	e.http = &http.Client{Transport: &validating{t: t, e: e, next: http.DefaultTransport}, Timeout: 30 * time.Second}
	if o.noValidate {
		e.http = &http.Client{Timeout: 30 * time.Second}
	}
	return e
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

// addHolder adds a certificate of org ending at notAfter, known by name.
func (e *env) addHolder(name string, alg issuer.KeyAlg, org *store.Organisation, notAfter time.Time) *holder {
	e.t.Helper()
	h := e.AddHolder(alg, org, notAfter)
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
	e.Clock.Advance(time.Millisecond)
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
	req, err := http.NewRequest(method, e.URL+path, rd)
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
	var tok renewal.Tokens
	e.ok(http.StatusOK, &tok, "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: mobile, Code: e.SMSCode(mobile)})
	e.Clock.Advance(61 * time.Second) // past the resend wait, for the next sign-in
	return tok
}

func (e *env) passwordSignIn(account, password string) renewal.Tokens {
	e.t.Helper()
	var tok renewal.Tokens
	e.ok(http.StatusOK, &tok, "POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: account, Password: password})
	return tok
}

func path(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
