package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/server/auth"
)

func TestPassword(t *testing.T) {
	h := auth.NewHasher()
	ctx := context.Background()
	enc, err := h.Hash(ctx, "正确的马 battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(enc, "staple") {
		t.Fatalf("hash %q", enc)
	}
	if err := h.Verify(ctx, enc, "正确的马 battery staple"); err != nil {
		t.Fatal(err)
	}
	if err := h.Verify(ctx, enc, "正确的马 battery staplE"); !errors.Is(err, auth.ErrMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	again, _ := h.Hash(ctx, "正确的马 battery staple")
	if again == enc {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "$argon2id$v=19$m=1,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		strings.Replace(enc, "v=19", "v=16", 1), strings.Replace(enc, "m=19456", "m=99999999", 1)} {
		if err := h.Verify(ctx, bad, "x"); err == nil || errors.Is(err, auth.ErrMismatch) {
			t.Errorf("malformed hash %q: %v", bad, err)
		}
	}
	if _, err := h.Hash(ctx, ""); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := h.Hash(ctx, strings.Repeat("x", auth.MaxPasswordBytes+1)); err == nil {
		t.Error("overlong password hashed")
	}
	if err := h.Verify(ctx, enc, strings.Repeat("x", auth.MaxPasswordBytes+1)); !errors.Is(err, auth.ErrMismatch) {
		t.Errorf("overlong password: %v", err)
	}
}

func TestTokensAndCodes(t *testing.T) {
	tok, hash, err := auth.NewToken(auth.AccessPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "uka_") || len(tok) != 4+43 || auth.HashToken(tok) != hash || strings.Contains(hash, tok) {
		t.Fatalf("token %q hash %q", tok, hash)
	}
	tok2, _, _ := auth.NewToken(auth.AccessPrefix)
	if tok2 == tok {
		t.Fatal("tokens repeat")
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		c, err := auth.NewCode(6)
		if err != nil || len(c) != 6 || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("code %q: %v", c, err)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct codes of 200", len(seen))
	}
	p := auth.Pepper("server-key")
	h := p.HashCode("sms_login", "13800138000", "123456")
	if !p.CheckCode("sms_login", "13800138000", "123456", h) {
		t.Fatal("right code refused")
	}
	for _, c := range [][3]string{{"sms_login", "13800138000", "123457"}, {"sms_login", "13800138001", "123456"}, {"finverify", "13800138000", "123456"}} {
		if p.CheckCode(c[0], c[1], c[2], h) {
			t.Fatalf("%v accepted", c)
		}
	}
	if auth.Pepper("other").CheckCode("sms_login", "13800138000", "123456", h) {
		t.Fatal("hash checks under another pepper")
	}
}
