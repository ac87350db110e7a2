package sms_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/sms"
)

func fixedClock() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }

func TestOutbox(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sms.jsonl")
	o := sms.NewOutbox(file, fixedClock)
	ctx := context.Background()
	m := sms.Message{Mobile: "13800138000", Purpose: sms.PurposeSignIn, Code: "123456", TTLMinutes: 5}
	if err := o.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := o.Send(ctx, sms.Message{Mobile: "13900139000", Purpose: sms.PurposePhoneCheck, Code: "4321", TTLMinutes: 5}); err != nil {
		t.Fatal(err)
	}
	last, ok := o.Last("13800138000")
	if !ok || last.Code != "123456" || !last.At.Equal(fixedClock()) {
		t.Fatalf("last = %+v, %v", last, ok)
	}
	if n := len(o.Messages("")); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
	if _, ok := o.Last("13700137000"); ok {
		t.Fatal("message for a number never sent to")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var first sms.Sent
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Code != "123456" {
		t.Fatalf("outbox file: %q", data)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("outbox file mode %v", fi.Mode().Perm())
	}
	for i := 0; i < sms.OutboxCapacity+5; i++ {
		o.Send(ctx, m)
	}
	if n := len(o.Messages("")); n != sms.OutboxCapacity {
		t.Fatalf("outbox holds %d, cap %d", n, sms.OutboxCapacity)
	}
}

func TestMessageValidation(t *testing.T) {
	good := sms.Message{Mobile: "13800138000", Purpose: sms.PurposeSignIn, Code: "123456", TTLMinutes: 5}
	bad := map[string]func(*sms.Message){
		"short mobile": func(m *sms.Message) { m.Mobile = "1380013800" },
		"+86 prefix":   func(m *sms.Message) { m.Mobile = "+8613800138000" },
		"landline":     func(m *sms.Message) { m.Mobile = "02012345678" },
		"letters code": func(m *sms.Message) { m.Code = "12ab56" },
		"long code":    func(m *sms.Message) { m.Code = "123456789" },
		"purpose":      func(m *sms.Message) { m.Purpose = "marketing" },
		"ttl zero":     func(m *sms.Message) { m.TTLMinutes = 0 },
		"ttl too long": func(m *sms.Message) { m.TTLMinutes = 61 },
	}
	o := sms.NewOutbox("", fixedClock)
	for name, f := range bad {
		m := good
		f(&m)
		if err := o.Send(context.Background(), m); !errors.Is(err, sms.ErrRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
	link := sms.Message{Mobile: "13800138000", Purpose: sms.PurposeInvoice, Link: "https://renew.ca.test/v1/applications/a/invoice.pdf?token=1.x"}
	badLink := map[string]func(*sms.Message){
		"invoice without link":  func(m *sms.Message) { m.Link = "" },
		"invoice with code":     func(m *sms.Message) { m.Code = "123456" },
		"invoice not http":      func(m *sms.Message) { m.Link = "javascript:alert(1)" },
		"invoice with space":    func(m *sms.Message) { m.Link = "https://a.test/x y" },
		"invoice link too long": func(m *sms.Message) { m.Link = "https://a.test/" + strings.Repeat("x", sms.MaxLinkBytes) },
		"code with link":        func(m *sms.Message) { *m = good; m.Link = "https://a.test/" },
	}
	for name, f := range badLink {
		m := link
		f(&m)
		if err := o.Send(context.Background(), m); !errors.Is(err, sms.ErrRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(o.Messages("")) != 0 {
		t.Fatal("a refused message was recorded")
	}
	if err := o.Send(context.Background(), link); err != nil {
		t.Errorf("invoice link: %v", err)
	}
}

// fakeTencent is a faithful stand-in for sms.tencentcloudapi.com: it checks
// the TC3-HMAC-SHA256 signature the way the real API does and answers in
// the real response shape.
type fakeTencent struct {
	t         *testing.T
	id, key   string
	mu        sync.Mutex
	bodies    []map[string]any
	statusFor func(phone string) string
}

var authRE = regexp.MustCompile(`^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/sms/tc3_request, SignedHeaders=content-type;host, Signature=([0-9a-f]{64})$`)

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func (f *fakeTencent) fail(w http.ResponseWriter, code, msg string) {
	fmt.Fprintf(w, `{"Response":{"Error":{"Code":%q,"Message":%q},"RequestId":"req-err"}}`, code, msg)
}

func (f *fakeTencent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/json" {
		f.fail(w, "InvalidParameter", "method, path or content type")
		return
	}
	if r.Header.Get("X-TC-Action") != "SendSms" || r.Header.Get("X-TC-Version") != "2021-01-11" || r.Header.Get("X-TC-Region") != "ap-guangzhou" {
		f.fail(w, "InvalidAction", "action, version or region")
		return
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		f.fail(w, "AuthFailure.SignatureExpire", "timestamp")
		return
	}
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || m[1] != f.id || m[2] != time.Unix(ts, 0).UTC().Format("2006-01-02") {
		f.fail(w, "AuthFailure.SecretIdNotFound", "authorization header")
		return
	}
	payload := sha256.Sum256(body)
	canonical := fmt.Sprintf("POST\n/\n\ncontent-type:application/json\nhost:%s\n\ncontent-type;host\n%s", r.Host, hex.EncodeToString(payload[:]))
	cr := sha256.Sum256([]byte(canonical))
	scope := m[2] + "/sms/tc3_request"
	toSign := fmt.Sprintf("TC3-HMAC-SHA256\n%d\n%s\n%s", ts, scope, hex.EncodeToString(cr[:]))
	k := hmacSHA256(hmacSHA256(hmacSHA256([]byte("TC3"+f.key), m[2]), "sms"), "tc3_request")
	if !hmac.Equal([]byte(hex.EncodeToString(hmacSHA256(k, toSign))), []byte(m[3])) {
		f.fail(w, "AuthFailure.SignatureFailure", "signature does not match")
		return
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		f.fail(w, "InvalidParameter", "body")
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, req)
	f.mu.Unlock()
	phone := req["PhoneNumberSet"].([]any)[0].(string)
	code := "Ok"
	if f.statusFor != nil {
		code = f.statusFor(phone)
	}
	fmt.Fprintf(w, `{"Response":{"SendStatusSet":[{"SerialNo":"2028:1","PhoneNumber":%q,"Fee":1,"SessionContext":"","Code":%q,"Message":"send success","IsoCode":"CN"}],"RequestId":"req-1"}}`, phone, code)
}

func newTencent(t *testing.T, f *fakeTencent, secret string) *sms.Tencent {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s, err := sms.NewTencent(sms.TencentConfig{
		SecretID: f.id, SecretKey: secret, Region: "ap-guangzhou", AppID: "1400000001", SignName: "测试CA",
		Templates: map[sms.Purpose]string{sms.PurposeSignIn: "100001", sms.PurposePhoneCheck: "100002"},
		Endpoint:  strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTencentSendsSignedRequest(t *testing.T) {
	f := &fakeTencent{t: t, id: "AKIDtest", key: "secret-key"}
	s := newTencent(t, f, "secret-key")
	err := s.Send(context.Background(), sms.Message{Mobile: "13800138000", Purpose: sms.PurposeSignIn, Code: "654321", TTLMinutes: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.bodies) != 1 {
		t.Fatalf("%d requests reached the fake", len(f.bodies))
	}
	b := f.bodies[0]
	want := map[string]any{
		"SmsSdkAppId": "1400000001", "SignName": "测试CA", "TemplateId": "100001",
		"PhoneNumberSet": []any{"+8613800138000"}, "TemplateParamSet": []any{"654321", "5"},
	}
	for k, v := range want {
		if fmt.Sprint(b[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, b[k], v)
		}
	}
	if err := s.Send(context.Background(), sms.Message{Mobile: "13800138000", Purpose: sms.PurposePhoneCheck, Code: "1234", TTLMinutes: 5}); err != nil {
		t.Fatal(err)
	}
	// No invoice template configured: refused before any request.
	if err := s.Send(context.Background(), sms.Message{Mobile: "13800138000", Purpose: sms.PurposeInvoice, Link: "https://a.test/i"}); !errors.Is(err, sms.ErrRejected) || len(f.bodies) != 2 {
		t.Errorf("invoice without template: %v, %d requests", err, len(f.bodies))
	}
	if f.bodies[1]["TemplateId"] != "100002" {
		t.Errorf("phone check used template %v", f.bodies[1]["TemplateId"])
	}
}

func TestTencentSendsTheInvoiceLink(t *testing.T) {
	f := &fakeTencent{t: t, id: "AKIDtest", key: "secret-key"}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s, err := sms.NewTencent(sms.TencentConfig{
		SecretID: f.id, SecretKey: "secret-key", Region: "ap-guangzhou", AppID: "1400000001", SignName: "测试CA",
		Templates: map[sms.Purpose]string{sms.PurposeSignIn: "100001", sms.PurposePhoneCheck: "100002", sms.PurposeInvoice: "100003"},
		Endpoint:  strings.TrimPrefix(srv.URL, "http://"), Scheme: "HTTP",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	link := "https://renew.ca.test/v1/applications/a1/invoice.pdf?token=1797998522.XvhI"
	if err := s.Send(context.Background(), sms.Message{Mobile: "13800138000", Purpose: sms.PurposeInvoice, Link: link}); err != nil {
		t.Fatal(err)
	}
	if len(f.bodies) != 1 || f.bodies[0]["TemplateId"] != "100003" || fmt.Sprint(f.bodies[0]["TemplateParamSet"]) != fmt.Sprint([]any{link}) {
		t.Fatalf("invoice SMS: %v", f.bodies)
	}
}

func TestTencentErrors(t *testing.T) {
	// A wrong secret is caught by the fake's signature check.
	f := &fakeTencent{t: t, id: "AKIDtest", key: "secret-key"}
	s := newTencent(t, f, "wrong-key")
	m := sms.Message{Mobile: "13800138000", Purpose: sms.PurposeSignIn, Code: "654321", TTLMinutes: 5}
	err := s.Send(context.Background(), m)
	if !errors.Is(err, sms.ErrRejected) || !strings.Contains(err.Error(), "AuthFailure.SignatureFailure") {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "654321") {
		t.Fatal("error text carries the code")
	}
	// A per-number failure (e.g. daily limit) is an error, not a silent success.
	f2 := &fakeTencent{t: t, id: "AKIDtest", key: "k", statusFor: func(string) string { return "LimitExceeded.PhoneNumberDailyLimit" }}
	s2 := newTencent(t, f2, "k")
	if err := s2.Send(context.Background(), m); !errors.Is(err, sms.ErrRejected) || !strings.Contains(err.Error(), "PhoneNumberDailyLimit") {
		t.Fatalf("per-number failure: %v", err)
	}
	// Invalid messages never reach the provider.
	bad := m
	bad.Mobile = "123"
	if err := s2.Send(context.Background(), bad); !errors.Is(err, sms.ErrRejected) || len(f2.bodies) != 1 {
		t.Fatalf("invalid message: %v, %d requests", err, len(f2.bodies))
	}
	// Configuration errors.
	for name, cfg := range map[string]sms.TencentConfig{
		"no secret":   {Region: "r", AppID: "a", SignName: "s"},
		"no app":      {SecretID: "i", SecretKey: "k", Region: "r", SignName: "s"},
		"no template": {SecretID: "i", SecretKey: "k", Region: "r", AppID: "a", SignName: "s", Templates: map[sms.Purpose]string{sms.PurposeSignIn: "1"}},
	} {
		if _, err := sms.NewTencent(cfg, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// An unreachable endpoint is an error, not a hang.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	s3, _ := sms.NewTencent(sms.TencentConfig{SecretID: "i", SecretKey: "k", Region: "ap-guangzhou", AppID: "a", SignName: "s",
		Templates: map[sms.Purpose]string{sms.PurposeSignIn: "1", sms.PurposePhoneCheck: "2"},
		Endpoint:  strings.TrimPrefix(dead.URL, "http://"), Scheme: "HTTP", TimeoutSeconds: 2}, nil)
	if err := s3.Send(context.Background(), m); err == nil || errors.Is(err, sms.ErrRejected) {
		t.Fatalf("dead endpoint: %v", err)
	}
}
