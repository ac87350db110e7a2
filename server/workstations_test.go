package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/renewal/counter"
	"github.com/ukeyrenew/ukeyrenew/server"
)

func pubPEM(t testing.TB, k any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// counterSign asks for a challenge and signs it with k (over origin, if
// set, instead of the one given).
func (e *env) counterSign(k *ecdsa.PrivateKey, origin string) server.CounterSessionRequest {
	e.t.Helper()
	var ch renewal.CounterChallenge
	e.Clock.Advance(5 * time.Second) // the per-address limit refills
	e.ok(http.StatusOK, &ch, "POST", "/v1/counter/challenge", "", nil)
	c := counter.Challenge{Origin: ch.Origin}
	if origin != "" {
		c.Origin = origin
	}
	n, err := hex.DecodeString(ch.Nonce)
	if err != nil || len(n) != counter.NonceSize {
		e.t.Fatalf("nonce %q", ch.Nonce)
	}
	copy(c.Nonce[:], n)
	d, err := c.Digest()
	if err != nil {
		e.t.Fatal(err)
	}
	sig, err := ecdsa.SignASN1(rand.Reader, k, d)
	if err != nil {
		e.t.Fatal(err)
	}
	fp, _ := counter.Fingerprint(&k.PublicKey)
	return server.CounterSessionRequest{Fingerprint: fp, Nonce: ch.Nonce, Signature: hex.EncodeToString(sig)}
}

func (e *env) auditOf(admin, target string) []string {
	e.t.Helper()
	var page struct{ Items []renewal.AuditEntry }
	e.ok(http.StatusOK, &page, "GET", "/v1/audit?target="+target+"&page_size=1000", admin, nil)
	var out []string
	for _, en := range page.Items {
		out = append(out, en.Action)
	}
	return out
}

func TestCounterWorkstations(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testCounterWorkstations(t, false) })
	t.Run("postgres", func(t *testing.T) { testCounterWorkstations(t, true) })
}

func testCounterWorkstations(t *testing.T, pg bool) {
	e := newEnv(t, envOptions{postgres: pg})
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := server.EnrolWorkstationRequest{Name: "一号柜台", PublicKey: pubPEM(t, &k.PublicKey)}

	// Enrolment is for administrators only, and checks every field.
	e.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/v1/workstations", "", good)
	e.fails(http.StatusForbidden, "forbidden", "POST", "/v1/workstations", reviewer, good)
	e.fails(http.StatusForbidden, "forbidden", "GET", "/v1/workstations", reviewer, nil)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	long := make([]rune, renewal.MaxWorkstationName+1)
	for i := range long {
		long[i] = '柜'
	}
	for name, req := range map[string]any{
		"no name":     server.EnrolWorkstationRequest{PublicKey: good.PublicKey},
		"long name":   server.EnrolWorkstationRequest{Name: string(long), PublicKey: good.PublicKey},
		"no key":      server.EnrolWorkstationRequest{Name: "x"},
		"not pem":     server.EnrolWorkstationRequest{Name: "x", PublicKey: "hello"},
		"bad pem":     server.EnrolWorkstationRequest{Name: "x", PublicKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
		"rsa key":     server.EnrolWorkstationRequest{Name: "x", PublicKey: pubPEM(t, &rsaKey.PublicKey)},
		"p384 key":    server.EnrolWorkstationRequest{Name: "x", PublicKey: pubPEM(t, &p384.PublicKey)},
		"private pem": server.EnrolWorkstationRequest{Name: "x", PublicKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		"unknown key": `{"name":"x","public_key":"` + "a" + `","extra":1}`,
		"wrong type":  `{"name":1,"public_key":"x"}`,
		"not json":    `{`,
	} {
		r := e.do("POST", "/v1/workstations", admin, req)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d: %s", name, r.status, r.body)
		}
	}
	var enrolled struct {
		ID, Fingerprint string
	}
	e.ok(http.StatusCreated, &enrolled, "POST", "/v1/workstations", admin, good)
	fp, _ := counter.Fingerprint(&k.PublicKey)
	if enrolled.Fingerprint != fp || enrolled.ID == "" {
		t.Fatalf("enrolled %+v, want fingerprint %s", enrolled, fp)
	}
	e.fails(http.StatusConflict, "conflict", "POST", "/v1/workstations", admin, server.EnrolWorkstationRequest{Name: "again", PublicKey: good.PublicKey})
	var list struct{ Workstations []json.RawMessage }
	e.ok(http.StatusOK, &list, "GET", "/v1/workstations", admin, nil)
	if len(list.Workstations) != 1 {
		t.Fatalf("%d workstations listed, want 1", len(list.Workstations))
	}

	// A signed challenge opens a counter session.
	var tok renewal.CounterTokens
	req := e.counterSign(k, "")
	e.ok(http.StatusOK, &tok, "POST", "/v1/counter/session", "", req)
	if tok.Role != server.RoleCounter || tok.WorkstationID != enrolled.ID || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("session %+v", tok)
	}
	// The nonce was used up.
	e.fails(http.StatusUnprocessableEntity, "proof_invalid", "POST", "/v1/counter/session", "", req)

	// Wrong input on the session route.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bad := e.counterSign(other, "")
	e.fails(http.StatusForbidden, "forbidden", "POST", "/v1/counter/session", "", bad) // unknown fingerprint
	bad = e.counterSign(other, "")
	bad.Fingerprint = fp // signed by another key
	e.fails(http.StatusUnprocessableEntity, "proof_invalid", "POST", "/v1/counter/session", "", bad)
	bad = e.counterSign(k, "https://evil.example")
	e.fails(http.StatusUnprocessableEntity, "proof_invalid", "POST", "/v1/counter/session", "", bad)
	fresh := e.counterSign(k, "")
	for name, q := range map[string]server.CounterSessionRequest{
		"short fingerprint": {Fingerprint: "abcd", Nonce: fresh.Nonce, Signature: fresh.Signature},
		"bad nonce":         {Fingerprint: fp, Nonce: "zz", Signature: fresh.Signature},
		"short nonce":       {Fingerprint: fp, Nonce: fresh.Nonce[:62], Signature: fresh.Signature},
		"no signature":      {Fingerprint: fp, Nonce: fresh.Nonce},
		"huge signature":    {Fingerprint: fp, Nonce: fresh.Nonce, Signature: hex.EncodeToString(make([]byte, 73))},
	} {
		if r := e.do("POST", "/v1/counter/session", "", q); r.status != http.StatusBadRequest || r.errCode() != "invalid_field" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// Those did not spend the nonce.
	e.ok(http.StatusOK, nil, "POST", "/v1/counter/session", "", fresh)

	// The counter signs clerks of two organisations in, in turn, with the
	// codes sent to their mobiles.
	clerkAt := func(mobile string) renewal.Tokens {
		e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: mobile})
		m, ok := e.SMS.Last(mobile)
		if !ok {
			t.Fatalf("no SMS to %s", mobile)
		}
		wrong := "000000"
		if m.Code == wrong {
			wrong = "111111"
		}
		e.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/v1/counter/sms-login", admin, renewal.SMSLoginRequest{Mobile: mobile, Code: m.Code})
		e.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/v1/counter/sms-login", tok.RefreshToken, renewal.SMSLoginRequest{Mobile: mobile, Code: m.Code})
		e.fails(http.StatusUnauthorized, "sms_code_wrong", "POST", "/v1/counter/sms-login", tok.AccessToken, renewal.SMSLoginRequest{Mobile: mobile, Code: wrong})
		var ct renewal.Tokens
		e.ok(http.StatusOK, &ct, "POST", "/v1/counter/sms-login", tok.AccessToken, renewal.SMSLoginRequest{Mobile: mobile, Code: m.Code})
		e.Clock.Advance(61 * time.Second)
		return ct
	}
	first, second := clerkAt(clerkMobile), clerkAt(otherClerkMobile)
	if first.User.OrganisationID == second.User.OrganisationID || first.User.Role != renewal.RoleClerk {
		t.Fatalf("clerks %+v and %+v", first.User, second.User)
	}
	e.ok(http.StatusOK, nil, "GET", "/v1/me", first.AccessToken, nil)
	var page struct{ Items []renewal.AuditEntry }
	e.ok(http.StatusOK, &page, "GET", "/v1/audit?target=user/"+second.User.ID+"&page_size=1000", admin, nil)
	if n := len(page.Items); n == 0 || !strings.Contains(string(page.Items[n-1].After), `"workstation":"`+enrolled.ID+`"`) {
		t.Fatalf("the counter sign-in is not audited with its workstation: %+v", page.Items)
	}
	unknownNonce := e.counterSign(k, "")
	unknownNonce.Nonce = hex.EncodeToString(make([]byte, 31)) + "01"
	e.fails(http.StatusUnprocessableEntity, "proof_invalid", "POST", "/v1/counter/session", "", unknownNonce)

	// The counter refresh token is single use.
	var tok2 renewal.CounterTokens
	e.ok(http.StatusOK, &tok2, "POST", "/v1/counter/refresh", "", renewal.RefreshRequest{RefreshToken: tok.RefreshToken})
	if tok2.Role != server.RoleCounter || tok2.WorkstationID != enrolled.ID || tok2.RefreshToken == tok.RefreshToken {
		t.Fatalf("refreshed %+v", tok2)
	}
	e.fails(http.StatusUnauthorized, "token_revoked", "POST", "/v1/counter/refresh", "", renewal.RefreshRequest{RefreshToken: tok.RefreshToken})
	e.fails(http.StatusUnauthorized, "token_revoked", "POST", "/v1/counter/refresh", "", renewal.RefreshRequest{RefreshToken: tok2.AccessToken})
	e.fails(http.StatusBadRequest, "invalid_field", "POST", "/v1/counter/refresh", "", renewal.RefreshRequest{})

	// An expired challenge is refused (the clock is injected).
	late := e.counterSign(k, "")
	e.Clock.Advance(server.CounterChallengeTTL + time.Second)
	e.fails(http.StatusUnprocessableEntity, "challenge_expired", "POST", "/v1/counter/session", "", late)

	// Revocation: sessions of a revoked workstation are refused.
	pending := e.counterSign(k, "")
	e.fails(http.StatusNotFound, "not_found", "DELETE", "/v1/workstations/nope", admin, nil)
	e.fails(http.StatusForbidden, "forbidden", "DELETE", "/v1/workstations/"+enrolled.ID, reviewer, nil)
	e.ok(http.StatusNoContent, nil, "DELETE", "/v1/workstations/"+enrolled.ID, admin, nil)
	e.fails(http.StatusConflict, "conflict", "DELETE", "/v1/workstations/"+enrolled.ID, admin, nil)
	e.fails(http.StatusForbidden, "forbidden", "POST", "/v1/counter/session", "", pending)
	// The counter session and the clerk sessions it opened end with it.
	e.fails(http.StatusUnauthorized, "token_revoked", "POST", "/v1/counter/refresh", "", renewal.RefreshRequest{RefreshToken: tok2.RefreshToken})
	e.fails(http.StatusUnauthorized, "token_revoked", "GET", "/v1/me", first.AccessToken, nil)
	e.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/v1/counter/sms-login", tok.AccessToken, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: "123456"})
	var after struct {
		Workstations []struct {
			RevokedAt *time.Time `json:"revoked_at"`
		}
	}
	e.ok(http.StatusOK, &after, "GET", "/v1/workstations", admin, nil)
	if len(after.Workstations) != 1 || after.Workstations[0].RevokedAt == nil {
		t.Fatalf("after revocation: %+v", after)
	}

	// Every step is audited; the two bad signatures within a minute from
	// one source are one row (refusals are collapsed), the revoked one another.
	acts := e.auditOf(admin, "workstation/"+enrolled.ID)
	want := map[string]int{"workstation.enrol": 1, "counter.session_granted": 2, "workstation.revoke": 1, "counter.session_refused": 2}
	for a, n := range want {
		if got := count(acts, a); got != n {
			t.Errorf("%s audited %d times, want %d (%v)", a, got, n, acts)
		}
	}
	anon := e.auditOf(admin, "counter")
	if got := count(anon, "counter.session_refused"); got != 4 {
		t.Errorf("refusals without a workstation: %d, want 4 (%v)", got, anon)
	}
}

func TestCounterChallengeRateLimited(t *testing.T) {
	e := newEnv(t, envOptions{})
	limited := false
	for range 20 {
		r := e.do("POST", "/v1/counter/challenge", "", nil)
		if r.status == http.StatusTooManyRequests {
			limited = r.errCode() == "rate_limited" && r.header.Get("Retry-After") != ""
			break
		}
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	if !limited {
		t.Fatal("20 challenges in a row from one address were not limited")
	}
}

// TestCounterChallengeOrigin: without a public URL the origin comes from
// the Host header, and only a loopback one is signed, so a caller cannot
// have the service vouch for a host of its choosing.
func TestCounterChallengeOrigin(t *testing.T) {
	e := newEnv(t, envOptions{})
	for host, want := range map[string]int{"127.0.0.1:8443": http.StatusOK, "ca.example": http.StatusBadRequest, "evil.example:443": http.StatusBadRequest} {
		req := httptest.NewRequest("POST", "/v1/counter/challenge", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		e.Server.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: %d, want %d: %s", host, rec.Code, want, rec.Body)
		}
		if want == http.StatusOK {
			var ch renewal.CounterChallenge
			if err := json.Unmarshal(rec.Body.Bytes(), &ch); err != nil || ch.Origin != "http://"+host {
				t.Errorf("Host %s: origin %q (%v)", host, ch.Origin, err)
			}
		}
	}
	pub := newEnv(t, envOptions{cfg: func(c *server.Config) { c.PublicURL = "https://CA.example.cn/" }})
	req := httptest.NewRequest("POST", "/v1/counter/challenge", nil)
	req.Host = "evil.example"
	rec := httptest.NewRecorder()
	pub.Server.Handler().ServeHTTP(rec, req)
	var ch renewal.CounterChallenge
	if err := json.Unmarshal(rec.Body.Bytes(), &ch); err != nil || ch.Origin != "https://ca.example.cn" {
		t.Errorf("with a public URL: %d origin %q (%v)", rec.Code, ch.Origin, err)
	}
}
