package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// droppingListener closes the first n connections it accepts before a
// byte is read, as a restarting proxy or a flaky link does.
type droppingListener struct {
	net.Listener
	drop    atomic.Int64
	dropped atomic.Int64
}

func (l *droppingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.drop.Add(-1) >= 0 {
			l.dropped.Add(1)
			c.Close()
			continue
		}
		return c, nil
	}
}

// noKeepAlive gives each request its own connection, so a dropped
// connection is met by the request it was meant for.
func noKeepAlive() client.Option {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return client.WithHTTPClient(&http.Client{Transport: tr})
}

func TestRetryAfterDroppedConnection(t *testing.T) {
	var dl *droppingListener
	e := newEnv(t, envOptions{wrapListener: func(l net.Listener) net.Listener {
		dl = &droppingListener{Listener: l}
		return dl
	}})
	ctx := t.Context()
	c, clk := e.client(noKeepAlive())
	e.smsSignIn(c, clerkMobile)
	form := validForm(e.Org, 1)
	a, err := c.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: &form})
	if err != nil {
		t.Fatal(err)
	}

	// A GET over a dropped connection is sent again, after one backoff.
	dl.drop.Store(1)
	if _, err := c.GetApplication(ctx, a.ID); err != nil {
		t.Fatalf("GET after a dropped connection: %v", err)
	}
	if dl.dropped.Load() != 1 || !slices.Equal(clk.Sleeps(), []time.Duration{client.DefaultBackoff}) {
		t.Fatalf("dropped %d, sleeps %v", dl.dropped.Load(), clk.Sleeps())
	}

	// A state change with an idempotency key is sent again too.
	dl.drop.Store(1)
	a, err = c.Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version})
	if err != nil || a.Status != renewal.StatusPendingReview || len(clk.Sleeps()) != 2 {
		t.Fatalf("submit over a dropped connection: %+v, %v, sleeps %v", a, err, clk.Sleeps())
	}
	// One without (a transfer code: each wrong one spends a try) is not:
	// the caller sees the failure and the application is as it was.
	dl.drop.Store(1)
	_, err = c.SubmitFinVerifyCode(ctx, a.ID, renewal.FinVerifyCodeRequest{Version: a.Version, Code: "123456"})
	if err == nil || renewal.CodeOf(err) != renewal.CodeUnknown {
		t.Fatalf("finverify code over a dropped connection: %v", err)
	}
	if len(clk.Sleeps()) != 2 {
		t.Fatalf("finverify code was retried: sleeps %v", clk.Sleeps())
	}
	got, err := c.GetApplication(ctx, a.ID)
	if err != nil || got.Version != a.Version || got.Status != renewal.StatusPendingReview {
		t.Fatalf("after a failed finverify code: %+v, %v", got, err)
	}

	// Every connection dropped: the retries are bounded.
	dl.drop.Store(100)
	before := dl.dropped.Load()
	if _, err := c.GetApplication(ctx, a.ID); err == nil {
		t.Fatal("GET succeeded with every connection dropped")
	}
	if n := dl.dropped.Load() - before; n != 1+client.MaxRetries {
		t.Fatalf("%d attempts, want %d", n, 1+client.MaxRetries)
	}
	sl := clk.Sleeps()[2:]
	if !slices.Equal(sl, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}) {
		t.Fatalf("backoff %v", sl)
	}
}

func TestRetryGatewayErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	c, clk := e.client()
	e.smsSignIn(c, clerkMobile)
	a, err := c.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial})
	if err != nil {
		t.Fatal(err)
	}
	// gateway answers status for the next n requests, with header retryAfter.
	gateway := func(n int, status int, retryAfter string) *atomic.Int64 {
		var left, seen atomic.Int64
		left.Store(int64(n))
		e.setGate(func(w http.ResponseWriter, r *http.Request) bool {
			if left.Add(-1) < 0 {
				return false
			}
			seen.Add(1)
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			_, _ = w.Write([]byte("<html><body><h1>" + http.StatusText(status) + "</h1>\n nginx</body></html>"))
			return true
		})
		return &seen
	}
	t.Cleanup(func() { e.setGate(nil) })

	// 503 twice, then the service: the GET gets through, with a Retry-After honoured.
	gateway(2, http.StatusServiceUnavailable, "2")
	if _, err := c.GetApplication(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if sl := clk.Sleeps(); !slices.Equal(sl, []time.Duration{2 * time.Second, 2 * time.Second}) {
		t.Fatalf("sleeps %v", sl)
	}
	// A Retry-After beyond MaxRetryAfter is not waited for.
	seen := gateway(5, http.StatusServiceUnavailable, "3600")
	_, err = c.GetApplication(ctx, a.ID)
	if ae := wantCode(t, err, http.StatusServiceUnavailable, renewal.CodeUnknown); ae.RetryAfter != time.Hour || seen.Load() != 1 {
		t.Fatalf("retry-after %v after %d tries", ae.RetryAfter, seen.Load())
	}
	// 502 on a transfer code (no idempotency key): not retried; the
	// proxy's page is on one line in the message.
	seen = gateway(5, http.StatusBadGateway, "")
	_, err = c.SubmitFinVerifyCode(ctx, a.ID, renewal.FinVerifyCodeRequest{Version: a.Version, Code: "123456"})
	ae := wantCode(t, err, http.StatusBadGateway, renewal.CodeUnknown)
	if seen.Load() != 1 || !strings.Contains(ae.Message, "nginx") || strings.Contains(ae.Message, "\n") {
		t.Fatalf("502 on a transfer code: %d tries, %q", seen.Load(), ae.Message)
	}
	// 504 forever on a GET: 1 + MaxRetries tries.
	seen = gateway(100, http.StatusGatewayTimeout, "")
	_, err = c.Me(ctx)
	wantCode(t, err, http.StatusGatewayTimeout, renewal.CodeUnknown)
	if seen.Load() != 1+client.MaxRetries {
		t.Fatalf("%d tries of a GET that always fails", seen.Load())
	}
	// 500 is the service's own failure: not retried.
	seen = gateway(100, http.StatusInternalServerError, "")
	_, err = c.Me(ctx)
	wantCode(t, err, http.StatusInternalServerError, renewal.CodeUnknown)
	if seen.Load() != 1 {
		t.Fatalf("a 500 was tried %d times", seen.Load())
	}
}

// A create whose answer is lost (the gateway forwards it, the service
// creates, the client sees 502) is retried with the same idempotency key:
// the service answers the retry with the first answer; and should it have
// forgotten the key (a restart), the client recognises its own application
// instead of reporting a conflict.
func TestCreateRetriedAfterLostAnswer(t *testing.T) {
	for _, forgets := range []bool{false, true} {
		t.Run(map[bool]string{false: "service remembers", true: "service forgot"}[forgets], func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ctx := t.Context()
			c, _ := e.client()
			e.smsSignIn(c, clerkMobile)
			var mu sync.Mutex
			var keys []string
			lose := true
			e.setGate(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/applications" {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				keys = append(keys, r.Header.Get(client.IdempotencyKeyHeader))
				if !lose {
					return false
				}
				lose = false
				if forgets {
					r.Header.Del(client.IdempotencyKeyHeader)
				}
				e.Server.Handler().ServeHTTP(discard{}, r) // the service acts; the answer is lost
				w.WriteHeader(http.StatusBadGateway)
				return true
			})
			a, err := c.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial})
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
				t.Fatalf("idempotency keys %q", keys)
			}
			page, err := c.ListApplications(ctx, renewal.ListApplicationsRequest{})
			if err != nil || len(page.Items) != 1 || page.Items[0].ID != a.ID {
				t.Fatalf("%+v, %v", page, err)
			}
		})
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// A port nobody listens on: even a POST is retried, since it was never sent.
func TestRetryWhenConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	clk := fakeclock.New(start)
	c, err := client.New("http://"+addr, client.WithClock(clk), client.WithRefreshToken("rt_test"),
		client.WithJitter(func(max time.Duration) time.Duration { return max / 2 }))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendSMSCode(t.Context(), renewal.SMSCodeRequest{Mobile: clerkMobile})
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("error %v", err)
	}
	if sl := clk.Sleeps(); !slices.Equal(sl, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}) {
		t.Fatalf("sleeps %v", sl)
	}
	// A cancelled context stops at once.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Policy(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestErrorBodies(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	c, _ := e.client()
	var written atomic.Int64
	e.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/policy" {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		// A valid error object, padded past the limit.
		chunk := []byte(`{"code":"invalid_field","field":"x","message":"` + strings.Repeat("长", 20000) + `"}`)
		for i := 0; i < 64; i++ {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				break
			}
		}
		return true
	})
	_, err := c.Policy(ctx)
	ae := wantCode(t, err, http.StatusBadRequest, renewal.CodeUnknown)
	if !ae.Truncated || !strings.Contains(ae.Message, "65536") {
		t.Fatalf("oversized error body: %+v", ae)
	}
	e.setGate(nil)

	// Messages follow the language asked for; zh-CN is the default.
	zh, _ := e.client()
	en, _ := e.client(client.WithLanguage("en"))
	_, errZH := zh.LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: "123456"})
	_, errEN := en.LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: "123456"})
	var az, ae2 *client.APIError
	if !errors.As(errZH, &az) || !errors.As(errEN, &ae2) || az.Message != "验证码错误，请核对短信中的 6 位验证码" || ae2.Message != "wrong verification code" {
		t.Fatalf("messages %v / %v", errZH, errEN)
	}
}

// The service's own message, with its details, is what the contract's
// error localises to in the language asked for; the other language gets
// the table's text.
func TestServiceMessageLocalized(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	for _, lang := range []string{"zh-CN", "en"} {
		c, _ := e.client(client.WithLanguage(lang))
		e.smsSignIn(c, clerkMobile)
		form := validForm(e.Org, 1)
		form.Organisation.Name = "深圳市另一个名称有限公司"
		_, err := c.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: &form})
		var re *renewal.Error
		if !errors.As(err, &re) || renewal.CodeOf(err) != renewal.CodeInvalidField && renewal.CodeOf(err) != renewal.CodeOrgMismatch {
			t.Fatalf("%s: another organisation: %v", lang, err)
		}
		fe := re.FieldError("form.organisation.name")
		if fe == nil {
			t.Fatalf("%s: no error about the name: %v", lang, err)
		}
		zh, en := fe.Localized("zh-CN"), fe.Localized("en")
		if lang == "zh-CN" && (!strings.Contains(zh, e.Org.Name) || en != renewal.CodeOrgMismatch.Info().EN) {
			t.Errorf("asked in Chinese: zh %q, en %q", zh, en)
		}
		if lang == "en" && (!strings.Contains(en, e.Org.Name) || zh != renewal.CodeOrgMismatch.Info().ZH) {
			t.Errorf("asked in English: zh %q, en %q", zh, en)
		}
	}
}

// Bad input is refused before anything is sent, with the field named.
func TestBadInputRefusedLocally(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	c, _ := e.client()
	e.smsSignIn(c, clerkMobile)
	a, err := c.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial})
	if err != nil {
		t.Fatal(err)
	}
	badForm := validForm(e.Org, 1)
	badForm.Organisation.CreditCode = "91440300MA5000000X"
	nonce := make([]byte, renewal.NonceBytes)
	cases := []struct {
		name  string
		field string
		call  func() error
	}{
		{"mobile", "mobile", func() error { _, err := c.SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: "12345"}); return err }},
		{"sms code", "code", func() error {
			_, err := c.LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: "12"})
			return err
		}},
		{"password", "password", func() error {
			_, err := c.Login(ctx, renewal.PasswordLoginRequest{Account: "admin"})
			return err
		}},
		{"serial", "serial", func() error {
			_, err := c.Eligibility(ctx, renewal.EligibilityRequest{Serial: "not hex"})
			return err
		}},
		{"create serial", "cert_serial", func() error {
			_, err := c.CreateApplication(ctx, renewal.CreateApplicationRequest{})
			return err
		}},
		{"empty id", "id", func() error { _, err := c.GetApplication(ctx, ""); return err }},
		{"long id", "id", func() error { _, err := c.GetApplication(ctx, strings.Repeat("a", 65)); return err }},
		{"update version", "version", func() error {
			_, err := c.UpdateApplication(ctx, a.ID, renewal.UpdateApplicationRequest{Form: validForm(e.Org, 1)})
			return err
		}},
		{"credit code", "form.organisation.credit_code", func() error {
			_, err := c.UpdateApplication(ctx, a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Form: badForm})
			return err
		}},
		{"years", "form.years", func() error {
			f := validForm(e.Org, 5)
			_, err := c.UpdateApplication(ctx, a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Form: f})
			return err
		}},
		{"delete version", "version", func() error { return c.DeleteApplication(ctx, a.ID, 0) }},
		{"submit comment", "comment", func() error {
			_, err := c.Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version, Comment: strings.Repeat("很长", 1000)})
			return err
		}},
		{"reject reason", "reason", func() error {
			_, err := c.Reject(ctx, a.ID, renewal.ReviewRequest{Version: a.Version})
			return err
		}},
		{"hold reason", "reason", func() error {
			_, err := c.Hold(ctx, a.ID, renewal.ReviewRequest{Version: a.Version, Reason: "  "})
			return err
		}},
		{"document kind", "kind", func() error {
			_, err := c.UploadDocument(ctx, a.ID, renewal.UploadDocumentRequest{Kind: "selfie", Name: "x.png"}, []byte("\x89PNG\r\n\x1a\n"))
			return err
		}},
		{"document type", "document", func() error {
			_, err := c.UploadDocument(ctx, a.ID, renewal.UploadDocumentRequest{Kind: renewal.DocOther, Name: "x.exe"}, []byte("MZ\x90\x00"))
			return err
		}},
		{"document empty", "document", func() error {
			_, err := c.UploadDocument(ctx, a.ID, renewal.UploadDocumentRequest{Kind: renewal.DocOther, Name: "x.pdf"}, nil)
			return err
		}},
		{"document too large", "document", func() error {
			big := append([]byte("%PDF-"), make([]byte, renewal.MaxDocumentBytes)...)
			_, err := c.UploadDocument(ctx, a.ID, renewal.UploadDocumentRequest{Kind: renewal.DocOther, Name: "x.pdf"}, big)
			return err
		}},
		{"document id", "doc", func() error { return c.DeleteDocument(ctx, a.ID, "") }},
		{"finverify code", "code", func() error {
			_, err := c.SubmitFinVerifyCode(ctx, a.ID, renewal.FinVerifyCodeRequest{Version: a.Version, Code: "12ab"})
			return err
		}},
		{"bank account", "bank.account_number", func() error {
			b := validForm(e.Org, 1).Bank
			b.AccountNumber = "12"
			_, err := c.CorrectBank(ctx, a.ID, renewal.CorrectBankRequest{Version: a.Version, Bank: b})
			return err
		}},
		{"issue nonce", "nonce", func() error {
			_, err := c.Issue(ctx, a.ID, renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: []byte{1}, Signature: []byte{1}})
			return err
		}},
		{"issue mode", "mode", func() error {
			_, err := c.Issue(ctx, a.ID, renewal.IssueRequest{Version: a.Version, Mode: "both", Nonce: nonce})
			return err
		}},
		{"installed serial", "serial", func() error {
			_, err := c.ConfirmInstalled(ctx, a.ID, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: "xyz"})
			return err
		}},
		{"list status", "status", func() error {
			_, err := c.ListApplications(ctx, renewal.ListApplicationsRequest{Status: []renewal.Status{"bogus"}})
			return err
		}},
		{"page size", "page_size", func() error {
			_, err := c.ListApplications(ctx, renewal.ListApplicationsRequest{PageSize: 1000})
			return err
		}},
		{"queue page size", "page_size", func() error {
			_, err := c.ReviewQueue(ctx, client.ReviewQueueRequest{PageSize: -1})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.requests.Load()
			err := tc.call()
			var re *renewal.Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want a *renewal.Error", err)
			}
			var ae *client.APIError
			if errors.As(err, &ae) {
				t.Fatalf("sent to the service: %v", err)
			}
			if re.FieldError(tc.field) == nil && re.Field != tc.field {
				t.Fatalf("error %v does not name %q", err, tc.field)
			}
			if n := e.requests.Load() - before; n != 0 {
				t.Fatalf("%d requests sent", n)
			}
		})
	}
	got, err := c.GetApplication(ctx, a.ID)
	if err != nil || got.Version != a.Version {
		t.Fatalf("refused input changed the application: %+v, %v", got, err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	cases := map[string]struct {
		url  string
		opts []client.Option
	}{
		"empty url":        {"", nil},
		"ftp":              {"ftp://ca.example", nil},
		"plain http":       {"http://ca.example", nil},
		"user in url":      {"https://u:p@ca.example", nil},
		"query":            {"https://ca.example/?x=1", nil},
		"no host":          {"https:///v1", nil},
		"timeout 0":        {"https://ca.example", []client.Option{client.WithTimeout(0)}},
		"timeout 1h":       {"https://ca.example", []client.Option{client.WithTimeout(time.Hour)}},
		"language":         {"https://ca.example", []client.Option{client.WithLanguage("fr")}},
		"retries":          {"https://ca.example", []client.Option{client.WithRetry(-1, time.Second, time.Second)}},
		"too many retries": {"https://ca.example", []client.Option{client.WithRetry(11, time.Second, time.Second)}},
		"backoff":          {"https://ca.example", []client.Option{client.WithRetry(1, time.Second, time.Millisecond)}},
		"ca garbage":       {"https://ca.example", []client.Option{client.WithCA([]byte("not pem"))}},
		"ca empty":         {"https://ca.example", []client.Option{client.WithCA(nil)}},
		"ca and client":    {"https://ca.example", []client.Option{client.WithCA(testCAPEM(t)), client.WithHTTPClient(http.DefaultClient)}},
		"nil client":       {"https://ca.example", []client.Option{client.WithHTTPClient(nil)}},
		"user agent":       {"https://ca.example", []client.Option{client.WithUserAgent("a\r\nX-Evil: 1")}},
		"refresh token":    {"https://ca.example", []client.Option{client.WithRefreshToken("has space")}},
		"nil clock":        {"https://ca.example", []client.Option{client.WithClock(nil)}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if c, err := client.New(tc.url, tc.opts...); err == nil {
				t.Fatalf("accepted: %v", c.BaseURL())
			}
		})
	}
	for _, ok := range []string{"https://ca.example", "https://ca.example:8443/renew/", "http://127.0.0.1:8080", "http://[::1]:1", "http://localhost"} {
		if _, err := client.New(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
