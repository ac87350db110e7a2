package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// The documented session rule (docs/INSTALL.md, "Sessions"): after a
// refresh the previous access token stays valid until its own 15 minutes
// are over, and no longer; signing out ends both at once.
func TestAccessTokenOutlivesARefreshByAtMostItsTTL(t *testing.T) {
	e := newEnv(t, envOptions{})
	if ttl := server.DefaultConfig().Limits.AccessTTL; ttl != 15*time.Minute {
		t.Fatalf("access tokens live %s; docs/INSTALL.md says 15 minutes", ttl)
	}
	old := e.smsSignIn(clerkMobile)
	if ttl := old.ExpiresAt.Sub(e.Clock.Now().Add(-61 * time.Second)); ttl != 15*time.Minute { // smsSignIn waits out the resend
		t.Fatalf("access token valid for %s", ttl)
	}
	e.Clock.Set(old.ExpiresAt.Add(-5 * time.Minute))
	var next renewal.Tokens
	e.ok(http.StatusOK, &next, "POST", "/v1/auth/refresh", "", renewal.RefreshRequest{RefreshToken: old.RefreshToken})
	e.ok(http.StatusOK, nil, "GET", "/v1/me", old.AccessToken, nil)
	e.Clock.Set(old.ExpiresAt.Add(-time.Second))
	e.ok(http.StatusOK, nil, "GET", "/v1/me", old.AccessToken, nil)
	e.Clock.Set(old.ExpiresAt)
	e.fails(http.StatusUnauthorized, "token_expired", "GET", "/v1/me", old.AccessToken, nil)
	e.ok(http.StatusOK, nil, "GET", "/v1/me", next.AccessToken, nil)
	// Sign-out revokes the new pair at once.
	e.ok(http.StatusNoContent, nil, "POST", "/v1/auth/logout", next.AccessToken, nil)
	e.fails(http.StatusUnauthorized, "token_revoked", "GET", "/v1/me", next.AccessToken, nil)
	e.fails(http.StatusUnauthorized, "token_revoked", "POST", "/v1/auth/refresh", "", renewal.RefreshRequest{RefreshToken: next.RefreshToken})
}

// Strict-Transport-Security: on every answer over the service's own TLS,
// on plain-HTTP answers only with Config.HSTS (a TLS proxy in front), never
// otherwise (--dev on http://127.0.0.1).
func TestStrictTransportSecurity(t *testing.T) {
	for _, c := range []struct {
		name      string
		hsts, tls bool
		want      string
	}{
		{"own TLS", false, true, "max-age=31536000"},
		{"behind a TLS proxy", true, false, "max-age=31536000"},
		{"plain HTTP", false, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{cfg: func(cfg *server.Config) { cfg.HSTS = c.hsts }})
			ts := httptest.NewUnstartedServer(e.Server.Handler())
			if c.tls {
				ts.StartTLS()
			} else {
				ts.Start()
			}
			defer ts.Close()
			for _, path := range []string{"/readyz", "/v1/policy", "/v1/nope", "/metrics"} {
				res, err := ts.Client().Get(ts.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if got := res.Header.Get("Strict-Transport-Security"); got != c.want {
					t.Errorf("%s: Strict-Transport-Security %q, want %q", path, got, c.want)
				}
			}
		})
	}
}
