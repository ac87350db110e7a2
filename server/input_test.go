package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// TestWrongInput tries every endpoint with wrong input and checks the
// status, the code and (where one is concerned) the field, and that
// nothing changed.
func TestWrongInput(t *testing.T) {
	e := newEnv(t, envOptions{})
	ct := e.smsSignIn(clerkMobile).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	var a renewal.Application
	e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: ptr(validForm(e.Org, 1))})
	app := "/v1/applications/" + a.ID
	long := strings.Repeat("x", 70<<10)
	badForm := validForm(e.Org, 1)
	badForm.Organisation.CreditCode = "91440300MA5000000X"
	badForm.Years = 5

	cases := []struct {
		name         string
		method, path string
		token        string
		body         any
		hdr          []string
		status       int
		code, field  string
	}{
		{"malformed json", "POST", "/v1/auth/sms-code", "", `{"mobile":`, nil, 400, "invalid_request", ""},
		{"unknown field", "POST", "/v1/auth/sms-code", "", `{"mobile":"13800138000","admin":true}`, nil, 400, "invalid_request", "admin"},
		{"trailing data", "POST", "/v1/auth/sms-code", "", `{"mobile":"13800138000"} {}`, nil, 400, "invalid_request", ""},
		{"empty body", "POST", "/v1/auth/sms-code", "", "", nil, 400, "invalid_request", ""},
		{"wrong type", "POST", "/v1/auth/sms-code", "", `{"mobile":13800138000}`, nil, 400, "invalid_field", "mobile"},
		{"body too large", "POST", "/v1/auth/sms-code", "", `{"mobile":"` + long + `"}`, nil, 413, "body_too_large", ""},
		{"form content type", "POST", "/v1/auth/sms-code", "", []byte(`mobile=13800138000`), []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "invalid_request", ""},
		{"bad mobile", "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: "12345"}, nil, 400, "invalid_field", "mobile"},
		{"bad sms code", "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: "12ab"}, nil, 400, "invalid_field", "code"},
		{"no code asked", "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: "13700137000", Code: "123456"}, nil, 401, "sms_code_wrong", "code"},
		{"no password", "POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: "admin"}, nil, 400, "invalid_field", "password"},
		{"wrong password", "POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: "admin", Password: "guess"}, nil, 401, "bad_credentials", "password"},
		{"unknown account", "POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: "nobody", Password: "guess"}, nil, 401, "bad_credentials", "password"},
		{"refresh junk", "POST", "/v1/auth/refresh", "", renewal.RefreshRequest{RefreshToken: "not a token"}, nil, 400, "invalid_field", "refresh_token"},
		{"refresh unknown", "POST", "/v1/auth/refresh", "", renewal.RefreshRequest{RefreshToken: "ukr_unknown"}, nil, 401, "token_revoked", ""},
		{"no token", "GET", "/v1/me", "", nil, nil, 401, "unauthenticated", ""},
		{"unknown token", "GET", "/v1/me", "uka_unknown", nil, nil, 401, "unauthenticated", ""},
		{"overlong token", "GET", "/v1/me", strings.Repeat("a", 300), nil, nil, 401, "unauthenticated", ""},
		{"basic auth", "GET", "/v1/me", "", nil, []string{"Authorization", "Basic YWRtaW46YWRtaW4="}, 401, "unauthenticated", ""},
		{"logout unauthenticated", "POST", "/v1/auth/logout", "", nil, nil, 401, "unauthenticated", ""},
		{"serial not hex", "GET", "/v1/certificates/zz-not-hex/eligibility", ct, nil, nil, 400, "invalid_field", "serial"},
		{"serial too long", "GET", "/v1/certificates/" + strings.Repeat("a", 65) + "/eligibility", ct, nil, nil, 400, "invalid_field", "serial"},
		{"serial unknown", "GET", "/v1/certificates/abcdef/eligibility", ct, nil, nil, 422, "not_eligible", "cert_serial"},
		{"list bad status", "GET", "/v1/applications?status=bogus", ct, nil, nil, 400, "invalid_field", "status"},
		{"list page size", "GET", "/v1/applications?page_size=1000", ct, nil, nil, 400, "invalid_field", "page_size"},
		{"list page size nan", "GET", "/v1/applications?page_size=abc", ct, nil, nil, 400, "invalid_field", "page_size"},
		{"list page token", "GET", "/v1/applications?page_token=%21%21", ct, nil, nil, 400, "page_token", "page_token"},
		{"create as reviewer", "POST", "/v1/applications", reviewer, renewal.CreateApplicationRequest{CertSerial: e.holders["sm2"].Serial}, nil, 403, "forbidden", ""},
		{"create bad serial", "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: "xyz"}, nil, 400, "invalid_field", "cert_serial"},
		{"create bad form", "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["sm2"].Serial, Form: &badForm}, nil, 400, "invalid_field", ""},
		{"create expired too long", "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: "abcdef"}, nil, 422, "not_eligible", "cert_serial"},
		{"get unknown", "GET", "/v1/applications/0123456789abcdef", ct, nil, nil, 404, "not_found", ""},
		{"get overlong id", "GET", "/v1/applications/" + strings.Repeat("a", 65), ct, nil, nil, 404, "not_found", ""},
		{"put no version", "PUT", app, ct, renewal.UpdateApplicationRequest{Form: validForm(e.Org, 1)}, nil, 400, "invalid_field", "version"},
		{"put bad form", "PUT", app, ct, renewal.UpdateApplicationRequest{Version: 1, Form: badForm}, nil, 400, "invalid_field", ""},
		{"put stale", "PUT", app, ct, renewal.UpdateApplicationRequest{Version: 7, Form: validForm(e.Org, 1)}, nil, 409, "stale_version", "version"},
		{"delete no version", "DELETE", app, ct, nil, nil, 400, "required", "version"},
		{"delete stale", "DELETE", app + "?version=3", ct, nil, nil, 409, "stale_version", "version"},
		{"delete bad if-match", "DELETE", app, ct, nil, []string{"If-Match", `"vx"`}, 400, "required", "version"},
		{"submit long comment", "POST", app + "/submit", ct, renewal.SubmitRequest{Version: 1, Comment: strings.Repeat("很", 1001)}, nil, 400, "invalid_field", "comment"},
		{"cancel no version", "POST", app + "/cancel", ct, `{}`, nil, 400, "invalid_field", "version"},
		{"approve as clerk", "POST", app + "/approve", ct, renewal.ReviewRequest{Version: 1}, nil, 403, "forbidden", ""},
		{"reject without reason", "POST", app + "/reject", reviewer, renewal.ReviewRequest{Version: 1}, nil, 400, "invalid_field", "reason"},
		{"hold without reason", "POST", app + "/hold", reviewer, renewal.ReviewRequest{Version: 1, Reason: "  "}, nil, 400, "invalid_field", "reason"},
		{"approve editing", "POST", app + "/approve", reviewer, renewal.ReviewRequest{Version: 1}, nil, 409, "action_not_allowed", ""},
		{"queue as clerk", "GET", "/v1/review/queue", ct, nil, nil, 403, "forbidden", ""},
		{"queue page size", "GET", "/v1/review/queue?page_size=0x10", reviewer, nil, nil, 400, "invalid_field", "page_size"},
		{"upload bad kind", "POST", app + "/documents?kind=selfie&name=a.png", ct, []byte("\x89PNG\r\n\x1a\nxx"), nil, 400, "invalid_field", "kind"},
		{"upload no name", "POST", app + "/documents?kind=other", ct, []byte("\x89PNG\r\n\x1a\nxx"), nil, 400, "invalid_field", "name"},
		{"upload empty", "POST", app + "/documents?kind=other&name=a.pdf", ct, []byte{}, nil, 400, "required", "document"},
		{"upload exe", "POST", app + "/documents?kind=other&name=a.pdf", ct, []byte("MZ\x90\x00"), nil, 415, "document_type", "document"},
		{"upload html named pdf", "POST", app + "/documents?kind=other&name=a.pdf", ct, []byte("<html><script>"), nil, 415, "document_type", "document"},
		{"upload too large", "POST", app + "/documents?kind=other&name=a.pdf", ct, append([]byte("%PDF-"), make([]byte, renewal.MaxDocumentBytes)...), nil, 413, "document_too_large", "document"},
		{"upload unknown app", "POST", "/v1/applications/ffff/documents?kind=other&name=a.pdf", ct, []byte("%PDF-1.4"), nil, 404, "not_found", ""},
		{"form unknown app", "GET", "/v1/applications/ffff/form.pdf", ct, nil, nil, 404, "not_found", ""},
		{"document unknown", "GET", app + "/documents/ffff", ct, nil, nil, 404, "not_found", ""},
		{"delete document unknown", "DELETE", app + "/documents/ffff", ct, nil, nil, 404, "not_found", ""},
		{"finverify unknown app", "GET", "/v1/applications/ffff/finverify", ct, nil, nil, 404, "not_found", ""},
		{"finverify start editing", "POST", app + "/finverify/start", ct, renewal.VersionRequest{Version: 1}, nil, 409, "action_not_allowed", ""},
		{"finverify start no version", "POST", app + "/finverify/start", ct, renewal.VersionRequest{}, nil, 400, "invalid_field", "version"},
		{"finverify code short", "POST", app + "/finverify/code", ct, renewal.FinVerifyCodeRequest{Version: 1, Code: "12345"}, nil, 400, "invalid_field", "code"},
		{"finverify bank bad", "POST", app + "/finverify/bank", ct, renewal.CorrectBankRequest{Version: 1, Bank: renewal.BankAccount{AccountName: "x", BankName: "y", AccountNumber: "12"}}, nil, 400, "invalid_field", "bank.account_number"},
		{"challenge editing", "POST", app + "/challenge", ct, nil, nil, 409, "action_not_allowed", ""},
		{"challenge unknown", "POST", "/v1/applications/ffff/challenge", ct, nil, nil, 404, "not_found", ""},
		{"issue short nonce", "POST", app + "/issue", ct, renewal.IssueRequest{Version: 1, Mode: renewal.IssueSameKey, Nonce: []byte("short"), Signature: []byte{1}}, nil, 400, "invalid_field", "nonce"},
		{"issue bad mode", "POST", app + "/issue", ct, renewal.IssueRequest{Version: 1, Mode: "magic", Nonce: make([]byte, 32)}, nil, 400, "invalid_field", "mode"},
		{"issue same key with csr", "POST", app + "/issue", ct, renewal.IssueRequest{Version: 1, Mode: renewal.IssueSameKey, Nonce: make([]byte, 32), Signature: []byte{1}, CSR: []byte{1}}, nil, 400, "invalid_field", ""},
		{"issue base64", "POST", app + "/issue", ct, `{"version":1,"mode":"same_key","nonce":"%%%","signature":"AQ=="}`, nil, 400, "invalid_request", ""},
		{"issue editing", "POST", app + "/issue", ct, renewal.IssueRequest{Version: 1, Mode: renewal.IssueSameKey, Nonce: make([]byte, 32), Signature: []byte{1}}, nil, 409, "action_not_allowed", ""},
		{"certificate editing", "GET", app + "/certificate", ct, nil, nil, 409, "action_not_allowed", ""},
		{"chain editing", "GET", app + "/certificate/chain.pem", ct, nil, nil, 409, "action_not_allowed", ""},
		{"installed bad serial", "POST", app + "/installed", ct, renewal.ConfirmInstalledRequest{Version: 1, Serial: "xyz"}, nil, 400, "invalid_field", "serial"},
		{"installed editing", "POST", app + "/installed", ct, renewal.ConfirmInstalledRequest{Version: 1, Serial: "ab"}, nil, 409, "action_not_allowed", ""},
		{"audit as clerk", "GET", "/v1/audit/verify", ct, nil, nil, 403, "forbidden", ""},
		{"audit list as clerk", "GET", "/v1/audit", ct, nil, nil, 403, "forbidden", ""},
		{"audit bad since", "GET", "/v1/audit?since=yesterday", admin, nil, nil, 400, "invalid_field", "since"},
		{"audit until before since", "GET", "/v1/audit?since=2026-11-23T00:00:00Z&until=2026-11-22T00:00:00Z", admin, nil, nil, 400, "invalid_field", "until"},
		{"audit after_seq", "GET", "/v1/audit?after_seq=-1", admin, nil, nil, 400, "invalid_field", "after_seq"},
		{"audit page size", "GET", "/v1/audit?page_size=5000", admin, nil, nil, 400, "invalid_field", "page_size"},
		{"audit format", "GET", "/v1/audit/export?format=xml", reviewer, nil, nil, 403, "forbidden", ""},
		{"unknown route", "GET", "/v1/nothing", "", nil, nil, 404, "not_found", ""},
		{"wrong method", "DELETE", "/v1/me", ct, nil, nil, 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.token, c.body, c.hdr...)
			if r.status != c.status || r.errCode() != c.code {
				t.Fatalf("got %d %s, want %d %s: %.300s", r.status, r.errCode(), c.status, c.code, r.body)
			}
			if c.field != "" && !bytes.Contains(r.body, []byte(`"field":"`+c.field+`"`)) {
				t.Fatalf("field %q not named: %.300s", c.field, r.body)
			}
			if !bytes.Contains(r.body, []byte(`"message":"`)) {
				t.Fatalf("no message: %s", r.body)
			}
		})
	}
	// Nothing above changed the application.
	var now renewal.Application
	e.ok(http.StatusOK, &now, "GET", app, ct, nil)
	if now.Version != 1 || now.State != a.State || now.Form != a.Form {
		t.Fatalf("wrong input changed the application: v%d %v", now.Version, now.State)
	}
	var docs struct{ Items []renewal.Document }
	e.ok(http.StatusOK, &docs, "GET", app+"/documents", ct, nil)
	if len(docs.Items) != 0 {
		t.Fatalf("%d documents stored from wrong uploads", len(docs.Items))
	}
}

func ptr[T any](v T) *T { return &v }

func TestErrorLanguage(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, c := range []struct{ lang, want string }{
		{"", "请先登录"},
		{"zh-CN,zh;q=0.9", "请先登录"},
		{"en-US,en;q=0.9", "please sign in"},
		{"fr-FR, en;q=0.5, zh;q=0.8", "请先登录"},
		{"de, en;q=0.8, zh;q=0.3", "please sign in"},
		{"en-GB", "please sign in"},
		{"en-US;q=0.5, zh-TW;q=0.4", "please sign in"},
		// Traditional Chinese readers get the Chinese messages, not English of a lower weight.
		{"zh-TW", "请先登录"},
		{"zh-TW, en;q=0.5", "请先登录"},
		{"zh-HK,en;q=0.9", "请先登录"},
		{"*", "请先登录"},
		{"*, en;q=0.5", "please sign in"},
		{"ja", "请先登录"},
		// q=0 means "not this one".
		{"en;q=0", "请先登录"},
		{"en;q=0, zh;q=0.1", "请先登录"},
		// A header that does not parse is ignored.
		{"!!garbage", "请先登录"},
		{"en;q=high", "请先登录"},
		{"en-US-!!", "请先登录"},
		// 10 KB: a long list is read; one with too many subtags is ignored.
		{strings.Repeat("de, ", 2600) + "en;q=0.5", "please sign in"},
		{strings.Repeat("de-DE, ", 1500) + "en;q=0.5", "请先登录"},
	} {
		r := e.do("GET", "/v1/me", "", nil, "Accept-Language", c.lang)
		if !bytes.Contains(r.body, []byte(c.want)) {
			t.Errorf("Accept-Language %.40q: %s", c.lang, r.body)
		}
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *server.Config) {
		c.Limits.IPPerSecond, c.Limits.IPBurst = 1, 30
		c.Limits.AccountPerSecond, c.Limits.AccountBurst = 1, 5
		c.Limits.SMSDailyPerIP = 3
		c.Limits.NotifyPerSecond, c.Limits.NotifyBurst = 1, 3
	}})
	// Per IP: the burst, then 429 with Retry-After, then one a second again.
	var last resp
	for i := 0; i < 40; i++ {
		if last = e.do("GET", "/v1/policy", "", nil); last.status == http.StatusTooManyRequests {
			break
		}
	}
	if last.errCode() != "rate_limited" || last.header.Get("Retry-After") == "" {
		t.Fatalf("per-IP limit: %d %s", last.status, last.body)
	}
	// Payment notifications have their own bucket: still served while the
	// client limit is spent, and bounded themselves (unsigned ones here).
	for i := range 4 {
		r := e.do("POST", "/v1/payments/notify/wechat", "", map[string]string{"id": "flood"})
		if want := i < 3; want != (r.status != http.StatusTooManyRequests) {
			t.Fatalf("notification %d: %d %s", i+1, r.status, r.body)
		}
	}
	e.Clock.Advance(40 * time.Second)
	// Per account: 5, then refused although the IP has tokens.
	ct := e.smsSignIn(clerkMobile).AccessToken
	e.Clock.Advance(40 * time.Second)
	n := 0
	for ; n < 10; n++ {
		if r := e.do("GET", "/v1/me", ct, nil); r.status == http.StatusTooManyRequests {
			if r.errCode() != "rate_limited" {
				t.Fatal(r.errCode())
			}
			break
		}
	}
	if n != 5 {
		t.Fatalf("per-account limit let %d through, want 5", n)
	}
	// The SMS daily cap per IP (3 here): the clerk's sign-in from this
	// address does not count (the clerk's number is trusted here).
	e.Clock.Advance(2 * time.Minute)
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: otherClerkMobile})
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: "13700137000"})
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: "13500135000"})
	r := e.fails(http.StatusTooManyRequests, "sms_daily_limit", "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: "13600136000"})
	// Retry-After points at the next midnight in Beijing (start is 12:00 there).
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 40000 || ra > 43300 {
		t.Fatalf("Retry-After %d for the daily cap", ra)
	}
	// The next day (midnight in Beijing) the cap resets.
	e.Clock.Advance(24 * time.Hour)
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: "13600136000"})
}

// Behind a proxy the client address comes from its header: two clients
// behind one proxy have their own buckets.
func TestClientIPHeader(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *server.Config) {
		c.ClientIPHeader, c.TrustedProxies = "X-Real-IP", loopbackProxy
		c.Limits.IPPerSecond, c.Limits.IPBurst = 1, 3
	}})
	for i := 0; i < 3; i++ {
		e.ok(http.StatusOK, nil, "GET", "/v1/policy", "", nil, "X-Real-IP", "203.0.113.7")
	}
	e.fails(http.StatusTooManyRequests, "rate_limited", "GET", "/v1/policy", "", nil, "X-Real-IP", "203.0.113.7")
	e.ok(http.StatusOK, nil, "GET", "/v1/policy", "", nil, "X-Real-IP", "198.51.100.9")
	// A header that is not an address falls back to the connection's.
	e.ok(http.StatusOK, nil, "GET", "/v1/policy", "", nil, "X-Real-IP", "not-an-ip")
}

// loopbackProxy: the tests' requests come through a "proxy" on loopback.
var loopbackProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Behind nginx's $proxy_add_x_forwarded_for the leftmost address is what
// the client wrote: changing it does not give a client a new bucket. And a
// peer that is not a trusted proxy cannot choose its address at all.
func TestClientIPHeaderCannotBeSpoofed(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *server.Config) {
		c.ClientIPHeader, c.TrustedProxies = "X-Forwarded-For", loopbackProxy
		c.Limits.IPPerSecond, c.Limits.IPBurst = 1, 3
	}})
	for i := range 3 {
		e.ok(http.StatusOK, nil, "GET", "/v1/policy", "", nil, "X-Forwarded-For", fmt.Sprintf("10.9.9.%d, 203.0.113.7", i))
	}
	e.fails(http.StatusTooManyRequests, "rate_limited", "GET", "/v1/policy", "", nil, "X-Forwarded-For", "10.9.9.99, 203.0.113.7")
	e.ok(http.StatusOK, nil, "GET", "/v1/policy", "", nil, "X-Forwarded-For", "203.0.113.7, 198.51.100.9")

	// The proxy is elsewhere: the header of a loopback peer is not believed.
	e = newEnv(t, envOptions{cfg: func(c *server.Config) {
		c.ClientIPHeader, c.TrustedProxies = "X-Real-IP", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		c.Limits.IPPerSecond, c.Limits.IPBurst = 1, 3
	}})
	for i := range 3 {
		e.ok(http.StatusOK, nil, "GET", "/v1/policy", "", nil, "X-Real-IP", fmt.Sprintf("203.0.113.%d", i))
	}
	e.fails(http.StatusTooManyRequests, "rate_limited", "GET", "/v1/policy", "", nil, "X-Real-IP", "203.0.113.99")
}

// One IPv6 host holds a whole /64: walking through its addresses does not
// give it fresh buckets (the request limiter and the counter challenges
// count sources, as the sign-in limits do).
func TestIPv6HostCannotRotateAddresses(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *server.Config) {
		c.ClientIPHeader, c.TrustedProxies = "X-Real-IP", loopbackProxy
		c.Limits.IPPerSecond, c.Limits.IPBurst = 1, 3
	}})
	for i := range 3 {
		e.ok(http.StatusOK, nil, "GET", "/v1/policy", "", nil, "X-Real-IP", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	e.fails(http.StatusTooManyRequests, "rate_limited", "GET", "/v1/policy", "", nil, "X-Real-IP", "2001:db8:1:2:ffff:ffff:ffff:fffe")
	// The next /64 is another source.
	e.ok(http.StatusOK, nil, "GET", "/v1/policy", "", nil, "X-Real-IP", "2001:db8:1:3::1")

	e = newEnv(t, envOptions{cfg: func(c *server.Config) { c.ClientIPHeader, c.TrustedProxies = "X-Real-IP", loopbackProxy }})
	for i := range 5 {
		r := e.do("POST", "/v1/counter/challenge", "", nil, "X-Real-IP", fmt.Sprintf("2001:db8:1:4::%x", i+1))
		if r.errCode() == "rate_limited" {
			t.Fatalf("counter challenge %d refused by the limit before its burst", i)
		}
	}
	if r := e.do("POST", "/v1/counter/challenge", "", nil, "X-Real-IP", "2001:db8:1:4::abcd"); r.errCode() != "rate_limited" {
		t.Fatalf("the sixth counter challenge from one /64: %d %q, want rate_limited", r.status, r.errCode())
	}
}

func TestSMSCodeRules(t *testing.T) {
	e := newEnv(t, envOptions{})
	send := func() string {
		e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile})
		m, _ := e.SMS.Last(clerkMobile)
		return m.Code
	}
	login := func(code string) resp {
		return e.do("POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: code})
	}
	code := send()
	// Resend only after 60 s.
	r := e.fails(http.StatusTooManyRequests, "sms_too_soon", "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: "+86 138 0013 8000"})
	if r.header.Get("Retry-After") != "60" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Five wrong tries kill the code: then even the right one fails.
	for i := 0; i < 4; i++ {
		if r := login(otherCode(code)); r.errCode() != "sms_code_wrong" {
			t.Fatalf("try %d: %s", i+1, r.body)
		}
	}
	if r := login(otherCode(code)); r.errCode() != "sms_too_many_tries" {
		t.Fatalf("fifth wrong try: %s", r.body)
	}
	if r := login(code); r.errCode() != "sms_too_many_tries" {
		t.Fatalf("right code after five wrong: %s", r.body)
	}
	// A new code after 60 s; it expires after 5 minutes.
	e.Clock.Advance(61 * time.Second)
	code = send()
	e.Clock.Advance(5*time.Minute + time.Second)
	if r := login(code); r.errCode() != "sms_code_expired" {
		t.Fatalf("expired code: %s", r.body)
	}
	// A new code replaces the old one.
	old := send()
	e.Clock.Advance(61 * time.Second)
	code = send()
	if old != code {
		if r := login(old); r.errCode() != "sms_code_wrong" {
			t.Fatalf("replaced code: %s", r.body)
		}
	}
	e.ok(http.StatusOK, nil, "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: code})
	// Ten codes a day to one number.
	for i := 0; i < 20; i++ {
		e.Clock.Advance(61 * time.Second)
		r := e.do("POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile})
		if r.status == http.StatusTooManyRequests {
			if r.errCode() != "sms_daily_limit" {
				t.Fatal(r.errCode())
			}
			if sent := len(e.SMS.Messages(clerkMobile)); sent != 10 {
				t.Fatalf("daily cap after %d codes, want 10", sent)
			}
			break
		}
		if i == 19 {
			t.Fatal("no daily cap")
		}
	}
	// An unknown number gets the same answer but no SMS.
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: "13500135000"})
	if len(e.SMS.Messages("13500135000")) != 0 {
		t.Fatal("an SMS went to a number without an account")
	}
}

func TestPasswordGuessingIsLimited(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 0; i < 10; i++ {
		e.fails(http.StatusUnauthorized, "bad_credentials", "POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: "admin", Password: "guess"})
	}
	// The account is now limited: even the right password waits.
	e.fails(http.StatusTooManyRequests, "rate_limited", "POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: "Admin", Password: adminPassword})
	e.Clock.Advance(time.Minute)
	e.ok(http.StatusOK, nil, "POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: "admin", Password: adminPassword})
}
