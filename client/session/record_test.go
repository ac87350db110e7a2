package session

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func goodRecord() Record {
	return Record{
		ServiceURL:   "https://renew.example.cn",
		User:         "张三 (13800138000)",
		RefreshToken: "rt_0123456789abcdef",
		Expiry:       time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestRecordValidate(t *testing.T) {
	if err := goodRecord().Validate(); err != nil {
		t.Fatalf("good record: %v", err)
	}
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://ca.example.cn/renew"} {
		r := goodRecord()
		r.ServiceURL = ok
		if err := r.Validate(); err != nil {
			t.Errorf("ServiceURL %q: %v", ok, err)
		}
	}
	tests := []struct {
		name, field string
		mod         func(*Record)
	}{
		{"empty url", "ServiceURL", func(r *Record) { r.ServiceURL = "" }},
		{"long url", "ServiceURL", func(r *Record) { r.ServiceURL = "https://a.cn/" + strings.Repeat("a", MaxServiceURL) }},
		{"bad url", "ServiceURL", func(r *Record) { r.ServiceURL = "https://[::1" }},
		{"no host", "ServiceURL", func(r *Record) { r.ServiceURL = "https:///x" }},
		{"plain http", "ServiceURL", func(r *Record) { r.ServiceURL = "http://renew.example.cn" }},
		{"ftp", "ServiceURL", func(r *Record) { r.ServiceURL = "ftp://renew.example.cn" }},
		{"relative", "ServiceURL", func(r *Record) { r.ServiceURL = "renew.example.cn" }},
		{"userinfo", "ServiceURL", func(r *Record) { r.ServiceURL = "https://u:p@renew.example.cn" }},
		{"query", "ServiceURL", func(r *Record) { r.ServiceURL = "https://renew.example.cn/?token=x" }},
		{"fragment", "ServiceURL", func(r *Record) { r.ServiceURL = "https://renew.example.cn/#x" }},
		{"empty user", "User", func(r *Record) { r.User = "" }},
		{"long user", "User", func(r *Record) { r.User = strings.Repeat("用", MaxUser/3+1) }},
		{"bad utf8 user", "User", func(r *Record) { r.User = "a\xffb" }},
		{"control user", "User", func(r *Record) { r.User = "a\nb" }},
		{"empty token", "RefreshToken", func(r *Record) { r.RefreshToken = "" }},
		{"long token", "RefreshToken", func(r *Record) { r.RefreshToken = strings.Repeat("t", MaxRefreshToken+1) }},
		{"space in token", "RefreshToken", func(r *Record) { r.RefreshToken = "a b" }},
		{"non-ascii token", "RefreshToken", func(r *Record) { r.RefreshToken = "令牌" }},
		{"zero expiry", "Expiry", func(r *Record) { r.Expiry = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodRecord()
			tt.mod(&r)
			err := r.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want a FieldError on %s", err, tt.field)
			}
			if _, err := encodeRecord(r); !errors.Is(err, ErrInvalid) {
				t.Fatalf("encodeRecord = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestRecordLimitsFitWindowsCredentialManager(t *testing.T) {
	r := goodRecord()
	r.ServiceURL = "https://a.cn/" + strings.Repeat("p", MaxServiceURL-len("https://a.cn/"))
	r.User = strings.Repeat("u", MaxUser)
	r.RefreshToken = strings.Repeat("t", MaxRefreshToken)
	b, err := encodeRecord(r)
	if err != nil {
		t.Fatalf("largest valid record: %v", err)
	}
	if len(b) > MaxEncoded || MaxEncoded > 2560 {
		t.Fatalf("largest record encodes to %d bytes (limit %d, Windows 2560)", len(b), MaxEncoded)
	}
	// Characters that JSON escapes can push a valid record past the limit:
	// it is refused as a whole, never truncated.
	r.ServiceURL = "https://a.cn/" + strings.Repeat(`"`, MaxServiceURL-len("https://a.cn/"))
	r.User = strings.Repeat(`"`, MaxUser)
	if err := r.Validate(); err != nil {
		t.Fatalf("escaped record should be valid field by field: %v", err)
	}
	var fe *FieldError
	if _, err := encodeRecord(r); !errors.As(err, &fe) || fe.Field != "Record" {
		t.Fatalf("escaped record: %v, want a FieldError on Record", err)
	}
}

func TestDecodeRecordRefusesBadInput(t *testing.T) {
	good, err := encodeRecord(goodRecord())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := decodeRecord(good); err != nil || r != goodRecord() {
		t.Fatalf("round trip: %+v, %v", r, err)
	}
	for name, in := range map[string]string{
		"empty":         ``,
		"not json":      `hello`,
		"array":         `[]`,
		"version 0":     `{"service_url":"https://a.cn","user":"u","refresh_token":"t","expiry":"2027-01-01T00:00:00Z"}`,
		"version 2":     `{"v":2,"service_url":"https://a.cn","user":"u","refresh_token":"t","expiry":"2027-01-01T00:00:00Z"}`,
		"access token":  `{"v":1,"service_url":"https://a.cn","user":"u","refresh_token":"t","expiry":"2027-01-01T00:00:00Z","access_token":"x"}`,
		"pin":           `{"v":1,"service_url":"https://a.cn","user":"u","refresh_token":"t","expiry":"2027-01-01T00:00:00Z","pin":"123456"}`,
		"bad expiry":    `{"v":1,"service_url":"https://a.cn","user":"u","refresh_token":"t","expiry":"tomorrow"}`,
		"invalid field": `{"v":1,"service_url":"http://a.cn","user":"u","refresh_token":"t","expiry":"2027-01-01T00:00:00Z"}`,
		"trailing":      string(good) + `{}`,
		"too big":       `{"v":1,"user":"` + strings.Repeat("u", MaxEncoded) + `"}`,
	} {
		if _, err := decodeRecord([]byte(in)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeRecord = %v, want ErrCorrupt", name, err)
		}
	}
}
