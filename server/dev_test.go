package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/sms"
)

// The /dev/ routes serve sign-in codes in clear: a peer that is not on a
// loopback address gets not found, judged by the connection's address,
// whatever a client-IP header claims.
func TestDevRoutesAnswerLoopbackPeersOnly(t *testing.T) {
	r := renewdtest.New(t, renewdtest.Options{Config: func(c *server.Config) {
		// Every peer is a trusted proxy: the header would be believed for
		// limits, and must still not open /dev/.
		c.ClientIPHeader = "X-Real-IP"
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}})
	if err := r.SMS.Send(context.Background(), sms.Message{Mobile: renewdtest.ClerkMobile, Purpose: sms.PurposeSignIn, Code: "424242", TTLMinutes: 5}); err != nil {
		t.Fatal(err)
	}
	h := r.Server.Handler()
	get := func(method, path, remote string, header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.RemoteAddr = remote
		for k, v := range header {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, remote := range []string{"127.0.0.1:40000", "[::1]:40000", "127.8.9.10:1"} {
		if w := get("GET", "/dev/outbox/sms", remote, nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "424242") {
			t.Errorf("loopback peer %s: %d %s", remote, w.Code, w.Body)
		}
	}
	for _, remote := range []string{"192.168.1.20:51000", "10.0.0.7:443", "[fe80::1]:8080", "[2001:db8::1]:1", "[::ffff:192.168.1.20]:2", "garbage"} {
		for _, route := range []struct{ method, path string }{
			{"GET", "/dev/outbox/sms"}, {"GET", "/dev/outbox/sms?mobile=" + renewdtest.ClerkMobile},
			{"GET", "/dev/outbox/bank"}, {"GET", "/dev/outbox/mail"}, {"POST", "/dev/applications/x/pay"},
		} {
			// A client-IP header naming loopback changes nothing.
			w := get(route.method, route.path, remote, map[string]string{"X-Real-IP": "127.0.0.1", "X-Forwarded-For": "127.0.0.1"})
			if w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "424242") || !strings.Contains(w.Body.String(), `"not_found"`) {
				t.Errorf("%s %s from %s: %d %s", route.method, route.path, remote, w.Code, w.Body)
			}
		}
	}
	// The API itself still answers a network peer.
	if w := get("GET", "/v1/policy", "192.168.1.20:51000", nil); w.Code != http.StatusOK {
		t.Errorf("/v1/policy from the network: %d", w.Code)
	}
}
