package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

type weakSecret struct{ name, value, hint string }

// weakSecrets are guessable though their entropy a symbol is high: a
// shorter string repeated, an ascending run, a phrase or a hex string as
// the pepper's bytes, letters of one case. TestProductionRefusesWeakSecrets
// sends each through the configuration.
var weakSecrets = []weakSecret{
	{"RENEWD_METRICS_TOKEN", "passwordpasswordpasswordpassword", "openssl rand -hex 16"},
	{"RENEWD_METRICS_TOKEN", "abcdefghijklmnopqrstuvwxyzabcdef", "openssl rand -hex 16"},
	{"RENEWD_METRICS_TOKEN", "zyxwvutsrqponmlkjihgfedcbazyxwvu", "openssl rand -hex 16"},
	{"RENEWD_METRICS_TOKEN", "correcthorsebatterystaplecorrect", "openssl rand -hex 16"},
	{"RENEWD_METRICS_TOKEN", "CORRECTHORSEBATTERYSTAPLEMONITOR", "openssl rand -hex 16"},
	{"RENEWD_METRICS_TOKEN", "7f3a9c0123456789e1d4b8a6f2c5d7e9", "openssl rand -hex 16"},
	{"RENEWD_WECHAT_APIV3_KEY", "12345678901234567890123456789012", "openssl rand -hex 16"},
	{"RENEWD_WECHAT_APIV3_KEY", "Wx8kQ2mZWx8kQ2mZWx8kQ2mZWx8kQ2mZ", "openssl rand -hex 16"},
	{"RENEWD_WECHAT_APIV3_KEY", "9q4TzK8m0abcdefghijLw3Rn5Yp7Vs2X", "openssl rand -hex 16"},
	{"RENEWD_PEPPER", hex.EncodeToString(ascending(32)), "openssl rand -hex 32"},
	{"RENEWD_PEPPER", hex.EncodeToString([]byte("correct horse battery staple!!!!")), "openssl rand -hex 32"},
	{"RENEWD_PEPPER", hex.EncodeToString([]byte(strings.Repeat("0123456789abcdef", 2))), "openssl rand -hex 32"},
	{"RENEWD_PEPPER", hex.EncodeToString([]byte("7fd08256cf90072f164a56d1c9fdc527")), "openssl rand -hex 32"},
	{"RENEWD_PEPPER", "a1" + hex.EncodeToString(ascending(16)) + "5c03e8f7b9d24a6e1f8c3b5d7a9e20", "openssl rand -hex 32"},
}

func ascending(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// The checker's rules, one each: what it names.
func TestWeaknessSays(t *testing.T) {
	for _, c := range []struct {
		secret, unit, want string
	}{
		{"passwordpasswordpasswordpassword", "characters", "first 8 characters repeated"},
		{"12345678901234567890123456789012", "characters", "first 10 characters repeated"},
		{"abcdefghijklmnopqrstuvwxyzabcdef", "characters", "run of 26 characters"},
		{"9q4TzK8m0abcdefghijLw3Rn5Yp7Vs2X", "characters", "run of 10 characters"},
		{"correcthorsebatterystaplecorrect", "characters", "letters of one case"},
		{string(ascending(32)), "bytes", "run of 32 bytes"},
		{"correct horse battery staple!!!!", "bytes", "printable text"},
	} {
		if got := weakness([]byte(c.secret), 32, 0, c.unit); !strings.Contains(got, c.want) {
			t.Errorf("%q: %q, want %q", c.secret, got, c.want)
		}
	}
	// A run of 9 characters, the most random hex digits hold more often
	// than once in 10^10, is not refused; nor a mixed-case token.
	for _, s := range []string{"7f3a9c0123456780e1d4b8a6f2c5d7e9", "Wx8kQ2mZpL4nR7tVb3YcH9sDf6GjK1aE"} {
		if got := weakness([]byte(s), 32, minTokenEntropy, "characters"); got != "" {
			t.Errorf("%q refused: %s", s, got)
		}
	}
}

// What openssl rand gives is never refused: 10^5 each of a pepper from
// -hex 32 (and -hex 64), a token from -hex 16, -hex 32 and -base64 32, and
// an APIv3 key from -hex 16, checked as the configuration checks them.
func TestRandomSecretsPass(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	random := func(size int) []byte {
		b := make([]byte, size)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i := 0; i < n; i++ {
		for _, p := range [][]byte{random(32), random(64)} {
			if err := checkSecret("RENEWD_PEPPER", p, minPepperBytes, minPepperEntropy, "bytes", generatePepperHint); err != nil {
				t.Fatalf("pepper %x: %v", p, err)
			}
		}
		for _, tok := range []string{hex.EncodeToString(random(16)), hex.EncodeToString(random(32)), base64.StdEncoding.EncodeToString(random(32))} {
			if err := checkSecret("RENEWD_METRICS_TOKEN", []byte(tok), minTokenChars, minTokenEntropy, "characters", generateTokenHint); err != nil {
				t.Fatalf("token %s: %v", tok, err)
			}
		}
		if k := hex.EncodeToString(random(16)); checkSecret("RENEWD_WECHAT_APIV3_KEY", []byte(k), 32, minTokenEntropy, "characters", "") != nil {
			t.Fatalf("APIv3 key %s refused", k)
		}
	}
}
