package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// Tests that the sign-in limits cannot be turned into a weapon: failures
// and requests from one place do not lock the account's owner out of
// another. Clients are told apart by X-Real-IP.

const (
	attackerIP = "203.0.113.7"
	staffIP    = "198.51.100.9"
)

func lockoutEnv(t *testing.T, pg bool, cfg func(*server.Config)) *env {
	return newEnv(t, envOptions{postgres: pg, cfg: func(c *server.Config) {
		c.ClientIPHeader, c.TrustedProxies = "X-Real-IP", loopbackProxy
		if cfg != nil {
			cfg(c)
		}
	}})
}

func from(ip string) []string { return []string{"X-Real-IP", ip} }

// retryAfter is the answer's Retry-After in seconds (0 if none).
func retryAfter(r resp) int {
	n, _ := strconv.Atoi(r.header.Get("Retry-After"))
	return n
}

// A burst of wrong passwords for admin from one address throttles that
// address only: the right password from another address still signs in,
// minute after minute of the attack.
func TestPasswordFailuresDoNotLockTheAccountOut(t *testing.T) {
	e := lockoutEnv(t, false, nil)
	login := func(ip, account, password string) resp {
		return e.do("POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: account, Password: password}, from(ip)...)
	}
	for minute := range 5 {
		for i := range 12 {
			r := login(attackerIP, "admin", "guess")
			if want := i < 10 && minute == 0 || i < 5 && minute > 0; want != (r.errCode() == "bad_credentials") {
				t.Fatalf("minute %d, wrong password %d from the attacker: %d %s", minute, i+1, r.status, r.body)
			}
			if r.status == http.StatusTooManyRequests && (r.errCode() != "rate_limited" || retryAfter(r) < 1) {
				t.Fatalf("attacker throttled without Retry-After: %v %s", r.header, r.body)
			}
		}
		// The administrator, elsewhere, signs in.
		if r := login(staffIP, "admin", adminPassword); r.status != http.StatusOK {
			t.Fatalf("minute %d: the right password from elsewhere: %d %s", minute, r.status, r.body)
		}
		// The attacker's address waits, even with the right password, and is told how long.
		r := e.fails(http.StatusTooManyRequests, "rate_limited", "POST", "/v1/auth/login", "",
			renewal.PasswordLoginRequest{Account: "admin", Password: adminPassword}, from(attackerIP)...)
		if ra := retryAfter(r); ra < 1 || ra > 12 || !strings.Contains(string(r.body), fmt.Sprintf("%d 秒后可重试", ra)) {
			t.Fatalf("Retry-After %d, message %s", ra, r.body)
		}
		e.Clock.Advance(time.Minute)
	}

	// An IPv6 source is its /64: other addresses of it share the failures.
	for range 10 {
		login("2001:db8:1:2::1", "reviewer", "guess")
	}
	e.fails(http.StatusTooManyRequests, "rate_limited", "POST", "/v1/auth/login", "",
		renewal.PasswordLoginRequest{Account: "reviewer", Password: reviewerPassword}, from("2001:db8:1:2::ffff")...)
	e.ok(http.StatusOK, nil, "POST", "/v1/auth/login", "",
		renewal.PasswordLoginRequest{Account: "reviewer", Password: reviewerPassword}, from("2001:db8:1:3::1")...)

	// Spraying many accounts from one address is limited per address: 20
	// failures, then it waits for any account; others do not.
	const sprayer = "192.0.2.50"
	for i := range 20 {
		if r := login(sprayer, fmt.Sprintf("user%d", i), "guess"); r.errCode() != "bad_credentials" {
			t.Fatalf("spray %d: %s", i+1, r.body)
		}
	}
	e.fails(http.StatusTooManyRequests, "rate_limited", "POST", "/v1/auth/login", "",
		renewal.PasswordLoginRequest{Account: "admin", Password: adminPassword}, from(sprayer)...)
	e.ok(http.StatusOK, nil, "POST", "/v1/auth/login", "",
		renewal.PasswordLoginRequest{Account: "admin", Password: adminPassword}, from("192.0.2.51")...)
	// The per-address bucket refills: 10 a minute.
	e.Clock.Advance(6 * time.Second)
	if r := login(sprayer, "admin", adminPassword); r.status != http.StatusOK {
		t.Fatalf("the sprayer's address after the refill: %d %s", r.status, r.body)
	}
}

// Strangers asking for codes to a clerk's number, from many addresses,
// cannot keep the clerk from a code where the clerk signs in; they are
// bounded (SMSDailyPerMobile codes to the number from untrusted sources),
// and the refusal says until when.
func TestSMSStrangersCannotLockTheClerkOut(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testSMSStrangers(t, false) })
	t.Run("postgres", func(t *testing.T) { testSMSStrangers(t, true) })
}

func testSMSStrangers(t *testing.T, pg bool) {
	e := lockoutEnv(t, pg, nil)
	const office = "198.51.100.20"
	ask := func(ip string) resp {
		e.Clock.Advance(61 * time.Second) // past the resend wait
		return e.do("POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, from(ip)...)
	}
	signIn := func(ip string) {
		t.Helper()
		e.ok(http.StatusOK, nil, "POST", "/v1/auth/sms-login", "",
			renewal.SMSLoginRequest{Mobile: clerkMobile, Code: e.SMSCode(clerkMobile)}, from(ip)...)
	}
	// The clerk signed in from the office yesterday.
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, from(office)...)
	signIn(office)
	e.Clock.Advance(24 * time.Hour)

	// Today strangers ask from 20 addresses: 20 codes to the number, then refused.
	for i := range 21 {
		r := ask(fmt.Sprintf("203.0.113.%d", 100+i))
		if want := i < 20; want != (r.status == http.StatusAccepted) {
			t.Fatalf("stranger %d: %d %s", i+1, r.status, r.body)
		}
		if i == 20 {
			if r.errCode() != "sms_daily_limit" {
				t.Fatalf("stranger past the cap: %s", r.body)
			}
			// Until midnight in Beijing (the day began at noon there; 21 minutes and a bit have passed).
			until := time.Date(2026, 11, 25, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
			if ra := retryAfter(r); ra != int(math.Ceil(until.Sub(e.Clock.Now()).Seconds())) {
				t.Fatalf("Retry-After %d, want %v", ra, until.Sub(e.Clock.Now()))
			}
			if !strings.Contains(string(r.body), "北京时间 00:00 后可重试") {
				t.Fatalf("the refusal does not say when: %s", r.body)
			}
		}
	}
	// The clerk, at the office, still gets a code and signs in.
	if r := ask(office); r.status != http.StatusAccepted {
		t.Fatalf("the clerk at the office: %d %s", r.status, r.body)
	}
	signIn(office)
	// Another address of the same IPv4 network is a stranger.
	if r := ask("198.51.100.21"); r.errCode() != "sms_daily_limit" {
		t.Fatalf("a neighbour of the office: %s", r.body)
	}
	// The clerk's own cap at the office: 10 a day.
	n := 1
	for ; n < 20 && ask(office).status == http.StatusAccepted; n++ {
	}
	if n != 10 {
		t.Fatalf("the clerk got %d codes at the office, want 10", n)
	}
	// What reached the clerk's phone today is bounded: 20 + 10.
	today := 0
	for _, m := range e.SMS.Messages(clerkMobile) {
		if !m.At.Before(e.Clock.Now().Add(-2 * time.Hour)) {
			today++
		}
	}
	if today != 30 {
		t.Fatalf("%d codes to the clerk today, want 30", today)
	}
}

// Wrong codes typed from elsewhere cannot kill the code the clerk asked for.
func TestSMSWrongCodesFromElsewhere(t *testing.T) {
	e := lockoutEnv(t, false, nil)
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, from(staffIP)...)
	code := e.SMSCode(clerkMobile)
	for i := range 6 {
		r := e.do("POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: otherCode(code)}, from(fmt.Sprint("203.0.113.", 10+i))...)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d %s", i+1, r.status, r.body)
		}
	}
	e.ok(http.StatusOK, nil, "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: code}, from(staffIP)...)
}

// An office behind one NAT address, configured as such, gets its own
// allowance; a single host gets the lower cap, except for the numbers that
// signed in from it before.
func TestSMSOfficeAllowance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testSMSOfficeAllowance(t, false) })
	t.Run("postgres", func(t *testing.T) { testSMSOfficeAllowance(t, true) })
}

func testSMSOfficeAllowance(t *testing.T, pg bool) {
	e := lockoutEnv(t, pg, func(c *server.Config) {
		c.Limits.SMSOffices = []server.SMSOffice{{Net: netip.MustParsePrefix("198.51.100.0/28"), DailyPerIP: 200}}
	})
	ask := func(ip, mobile string) resp {
		return e.do("POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: mobile}, from(ip)...)
	}
	for i := range 50 {
		if r := ask("198.51.100.5", fmt.Sprintf("1370000%04d", i)); r.status != http.StatusAccepted {
			t.Fatalf("office code %d: %d %s", i+1, r.status, r.body)
		}
	}
	// A host: the clerk signs in from it, then 20 codes for other numbers.
	const host = "203.0.113.9"
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, from(host)...)
	e.ok(http.StatusOK, nil, "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: e.SMSCode(clerkMobile)}, from(host)...)
	for i := range 21 {
		r := ask(host, fmt.Sprintf("1360000%04d", i))
		if want := i < 20; want != (r.status == http.StatusAccepted) {
			t.Fatalf("host code %d: %d %s", i+1, r.status, r.body)
		}
		if i == 20 && (r.errCode() != "sms_daily_limit" || retryAfter(r) < 3600) {
			t.Fatalf("host past its cap: %v %s", r.header, r.body)
		}
	}
	// The clerk who signed in from the host is not held by its cap.
	e.Clock.Advance(61 * time.Second)
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, from(host)...)
	// The English message says when too.
	r := e.fails(http.StatusTooManyRequests, "sms_daily_limit", "POST", "/v1/auth/sms-code", "",
		renewal.SMSCodeRequest{Mobile: "13500135000"}, "X-Real-IP", host, "Accept-Language", "en")
	if !strings.Contains(string(r.body), "try again after 00:00 Beijing time") {
		t.Fatalf("English refusal: %s", r.body)
	}
}

// At a counter the clerk's code is asked for and spent from the counter's
// address, through the same rules: wrong codes typed elsewhere do not kill
// it, and once a clerk signed in there, strangers cannot keep the clerk from
// a code there.
func TestCounterSignInKeepsTheSameRules(t *testing.T) {
	e := lockoutEnv(t, false, nil)
	const counterIP = "198.51.100.30"
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e.ok(http.StatusCreated, nil, "POST", "/v1/workstations", admin, server.EnrolWorkstationRequest{Name: "一号柜台", PublicKey: pubPEM(t, &k.PublicKey)})
	var ws renewal.CounterTokens
	e.ok(http.StatusOK, &ws, "POST", "/v1/counter/session", "", e.counterSign(k, ""))
	signIn := func() {
		t.Helper()
		e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, from(counterIP)...)
		code := e.SMSCode(clerkMobile)
		for i := range 6 {
			e.do("POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: otherCode(code)}, from(fmt.Sprint("203.0.113.", 50+i))...)
		}
		e.ok(http.StatusOK, nil, "POST", "/v1/counter/sms-login", ws.AccessToken, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: code}, from(counterIP)...)
	}
	signIn()
	for i := range 20 {
		e.Clock.Advance(61 * time.Second)
		e.do("POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, from(fmt.Sprint("203.0.113.", 100+i))...)
	}
	e.fails(http.StatusTooManyRequests, "sms_daily_limit", "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, from("203.0.113.200")...)
	e.Clock.Advance(61 * time.Second)
	e.ok(http.StatusOK, &ws, "POST", "/v1/counter/session", "", e.counterSign(k, "")) // the first session has expired
	signIn()
}
