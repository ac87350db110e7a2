package server

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Which address each limit counts under, behind proxies and not.
func TestClientIP(t *testing.T) {
	nets := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, n := range s {
			out = append(out, netip.MustParsePrefix(n))
		}
		return out
	}
	proxies := nets("127.0.0.0/8", "::1/128", "10.0.0.0/24")
	for _, c := range []struct {
		name, header string
		trusted      []netip.Prefix
		peer         string
		values       []string
		want         string
	}{
		{"no header configured", "", nil, "203.0.113.7:4000", []string{"1.2.3.4"}, "203.0.113.7"},
		{"X-Real-IP from the proxy", "X-Real-IP", proxies, "127.0.0.1:4000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"X-Real-IP from an untrusted peer", "X-Real-IP", proxies, "198.51.100.9:4000", []string{"203.0.113.7"}, "198.51.100.9"},
		{"X-Real-IP that is not an address", "X-Real-IP", proxies, "127.0.0.1:4000", []string{"not-an-ip"}, "127.0.0.1"},
		{"X-Real-IP with two values", "X-Real-IP", proxies, "127.0.0.1:4000", []string{"1.2.3.4, 203.0.113.7"}, "127.0.0.1"},
		{"X-Real-IP twice", "X-Real-IP", proxies, "127.0.0.1:4000", []string{"1.2.3.4", "203.0.113.7"}, "127.0.0.1"},
		{"X-Real-IP missing", "X-Real-IP", proxies, "127.0.0.1:4000", nil, "127.0.0.1"},
		{"XFF: the client's own entry is ignored", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"1.2.3.4, 203.0.113.7"}, "203.0.113.7"},
		{"XFF: garbage on the left is ignored", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"junk, 203.0.113.7"}, "203.0.113.7"},
		{"XFF: rightmost that is not a proxy", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"1.2.3.4, 203.0.113.7, 10.0.0.5"}, "203.0.113.7"},
		{"XFF: a client claiming to be a proxy", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"203.0.113.7, 10.0.0.9, 198.51.100.9"}, "198.51.100.9"},
		{"XFF: over two header lines", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"1.2.3.4", "203.0.113.7"}, "203.0.113.7"},
		{"XFF: from an untrusted peer", "X-Forwarded-For", proxies, "198.51.100.9:4000", []string{"203.0.113.7"}, "198.51.100.9"},
		{"XFF: only proxies", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"10.0.0.7, 10.0.0.5"}, "10.0.0.7"},
		{"XFF: junk where the proxy's entry should be", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"203.0.113.7, junk"}, "127.0.0.1"},
		{"XFF: IPv6 over IPv6 loopback", "x-forwarded-for", proxies, "[::1]:4000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"XFF: the client's hop with a port", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"1.2.3.4, 203.0.113.7:5555"}, "203.0.113.7"},
		{"XFF: an IPv6 hop with a port", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"[2001:db8::1]:80"}, "2001:db8::1"},
		{"XFF: an IPv6 hop in brackets", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"[2001:db8::1]"}, "2001:db8::1"},
		{"XFF: a proxy's hop with a port", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"203.0.113.7, 10.0.0.5:443"}, "203.0.113.7"},
		{"XFF: the loopback with a port is still a proxy", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"203.0.113.7, 127.0.0.1:5555"}, "203.0.113.7"},
		{"XFF: unknown", "X-Forwarded-For", proxies, "127.0.0.1:4000", []string{"unknown"}, "127.0.0.1"},
		{"XFF: IPv4-mapped", "X-Forwarded-For", proxies, "[::ffff:127.0.0.1]:4000", []string{"::ffff:203.0.113.7"}, "203.0.113.7"},
	} {
		s := &Server{cfg: Config{ClientIPHeader: c.header, TrustedProxies: c.trusted}}
		r := httptest.NewRequest("GET", "/v1/policy", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.values {
			r.Header.Add(c.header, v)
		}
		if got := s.clientIP(r); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// A header without the proxies it is believed from is refused at start.
func TestClientIPHeaderNeedsTrustedProxies(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ClientIPHeader = "X-Forwarded-For"
	if err := checkClientIPConfig(&cfg); err == nil || !strings.Contains(err.Error(), "trusted_proxies") {
		t.Fatalf("client_ip_header without trusted_proxies: %v", err)
	}
	cfg.TrustedProxies = []netip.Prefix{{}}
	if err := checkClientIPConfig(&cfg); err == nil {
		t.Fatal("an empty network was accepted")
	}
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.9/8")}
	if err := checkClientIPConfig(&cfg); err != nil || cfg.TrustedProxies[0].String() != "127.0.0.0/8" {
		t.Fatalf("%v %v", cfg.TrustedProxies, err)
	}
}

// A hop that is no address counts the request under the proxy that wrote
// it, and says so in a WARN at most once a minute, with the hop's shape
// and not its value.
func TestClientIPUnreadableHopWarns(t *testing.T) {
	var logged bytes.Buffer
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := &Server{cfg: Config{ClientIPHeader: "X-Forwarded-For", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		log: slog.New(slog.NewTextHandler(&logged, nil)), now: func() time.Time { return now }}
	ask := func(hop string) string {
		r := httptest.NewRequest("GET", "/v1/policy", nil)
		r.RemoteAddr = "127.0.0.1:4000"
		r.Header.Set("X-Forwarded-For", hop)
		return s.clientIP(r)
	}
	if got := ask("unknown"); got != "127.0.0.1" {
		t.Fatalf("unknown: %s", got)
	}
	if got := ask("_hidden"); got != "127.0.0.1" {
		t.Fatalf("_hidden: %s", got)
	}
	if n := strings.Count(logged.String(), "level=WARN"); n != 1 || !strings.Contains(logged.String(), "hop_shape=aaaaaaa") {
		t.Fatalf("%d WARNs in a minute, want 1 naming the shape:\n%s", n, logged.String())
	}
	now = now.Add(time.Minute)
	ask("host-9.example")
	if n := strings.Count(logged.String(), "level=WARN"); n != 2 || !strings.Contains(logged.String(), "hop_shape=aaaa-9.aaaaaaa") ||
		strings.Contains(logged.String(), "example") {
		t.Fatalf("%d WARNs after a minute, want 2, the second with the shape and not the value:\n%s", n, logged.String())
	}
}
