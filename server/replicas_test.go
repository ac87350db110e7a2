package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Two replicas of the service on one database, as behind a load balancer,
// hold every limit together: what a client did through one counts on the
// other. On PostgreSQL and on one SQLite file.
func TestReplicasShareTheirState(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) { testReplicas(t, pg) })
	}
}

func testReplicas(t *testing.T, pg bool) {
	a := lockoutEnv(t, pg, func(c *server.Config) {
		c.Limits.AccountBurst, c.Limits.AccountPerSecond = 8, 1e-6
	})
	pg = a.Postgres // UKEY_TEST_STORE=postgres runs both on PostgreSQL
	b := &env{Renewd: a.Replica(), t: t, holders: a.holders, http: a.http}
	both := []*env{a, b}

	t.Run("an SMS cap of 10 is 10 for both", func(t *testing.T) {
		sent := 0
		for i := range 24 {
			a.Clock.Advance(61 * time.Second) // past the resend wait
			r := both[i%2].do("POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile}, from(attackerIP)...)
			switch {
			case r.status == http.StatusAccepted:
				sent++
			case r.status != http.StatusTooManyRequests || r.errCode() != "sms_daily_limit":
				t.Fatalf("code %d: %d %s", i+1, r.status, r.body)
			}
		}
		if want := a.Config.Limits.SMSDailyPerMobileSource; sent != want {
			t.Fatalf("%d codes sent through two replicas, cap %d", sent, want)
		}
	})

	t.Run("a lock-out reached through A holds on B", func(t *testing.T) {
		login := func(e *env, password string) resp {
			return e.do("POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: "reviewer", Password: password}, from(attackerIP)...)
		}
		burst := a.Config.Limits.PasswordFailBurst
		for i := range burst {
			if r := login(a, "guess"); r.errCode() != "bad_credentials" {
				t.Fatalf("wrong password %d of the burst: %d %s", i+1, r.status, r.body)
			}
		}
		if r := login(a, "guess"); r.errCode() != "rate_limited" {
			t.Fatalf("past the burst on A: %d %s", r.status, r.body)
		}
		if r := login(b, reviewerPassword); r.status != http.StatusTooManyRequests || r.errCode() != "rate_limited" || retryAfter(r) < 1 {
			t.Fatalf("the right password from the locked-out source on B: %d %s", r.status, r.body)
		}
		if r := b.do("POST", "/v1/auth/login", "", renewal.PasswordLoginRequest{Account: "reviewer", Password: reviewerPassword}, from(staffIP)...); r.status != http.StatusOK {
			t.Fatalf("the right password from another source on B: %d %s", r.status, r.body)
		}
	})

	ct := b.smsSignIn(clerkMobile).AccessToken
	t.Run("an idempotent retry sent to B gets A's answer", func(t *testing.T) {
		req := renewal.CreateApplicationRequest{CertSerial: a.holders["rsa"].Serial, Form: ptr(validForm(a.Org, 1))}
		var first, again renewal.Application
		a.ok(http.StatusCreated, &first, "POST", "/v1/applications", ct, req, "Idempotency-Key", "create-1")
		r := b.ok(http.StatusCreated, &again, "POST", "/v1/applications", ct, req, "Idempotency-Key", "create-1")
		if again.ID != first.ID || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("ETag") != `"v1"` {
			t.Fatalf("retry on B: %s, first %s; headers %v", again.ID, first.ID, r.header)
		}
		other := renewal.CreateApplicationRequest{CertSerial: a.holders["sm2"].Serial}
		b.fails(http.StatusConflict, "conflict", "POST", "/v1/applications", ct, other, "Idempotency-Key", "create-1")

		// A request still running on A (its key claimed, no answer yet):
		// its duplicate on B is told to retry (503, which clients retry),
		// and nothing runs twice.
		sub := renewal.SubmitRequest{Version: first.Version}
		body, _ := json.Marshal(sub)
		path := "/v1/applications/" + first.ID + "/submit"
		bodySum := sha256.Sum256(body)
		h := sha256.New()
		h.Write([]byte("POST " + path + "?\n"))
		h.Write(bodySum[:])
		k := store.IdemKey{User: a.Clerk.ID, Key: "submit-1", Hash: h.Sum(nil)}
		if st, _, err := a.Store.BeginIdempotent(t.Context(), k, "running-on-A", store.IdemLimits{TTL: server.IdempotencyTTL,
			StaleAfter: server.IdempotencyStaleAfter, PerUser: server.IdempotencyPerUser}); err != nil || st != store.IdemLeader {
			t.Fatalf("claim as A: %v %v", st, err)
		}
		r = b.fails(http.StatusServiceUnavailable, "busy", "POST", path, ct, sub, "Idempotency-Key", "submit-1")
		if retryAfter(r) < 1 {
			t.Fatalf("no Retry-After on a duplicate of a running request: %v", r.header)
		}
		var now renewal.Application
		b.ok(http.StatusOK, &now, "GET", "/v1/applications/"+first.ID, ct, nil)
		if now.Status != first.Status {
			t.Fatalf("the duplicate ran: %s", now.Status)
		}
	})

	t.Run("a challenge issued by A is accepted once by B", func(t *testing.T) {
		admin := a.passwordSignIn("admin", adminPassword).AccessToken
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		a.ok(http.StatusCreated, nil, "POST", "/v1/workstations", admin, server.EnrolWorkstationRequest{Name: "一号柜台", PublicKey: pubPEM(t, &k.PublicKey)})
		proof := a.counterSign(k, "")
		b.ok(http.StatusOK, nil, "POST", "/v1/counter/session", "", proof)
		for _, e := range both {
			if r := e.do("POST", "/v1/counter/session", "", proof); r.errCode() != "proof_invalid" {
				t.Fatalf("the spent challenge again: %d %s", r.status, r.body)
			}
		}
	})

	t.Run("refused proofs through both are one audit row", func(t *testing.T) {
		admin := a.passwordSignIn("admin", adminPassword).AccessToken
		before := len(a.auditOf(admin, "counter"))
		for i := range 4 {
			a.Clock.Advance(5 * time.Second) // within the per-source limit
			if r := both[i%2].do("POST", "/v1/counter/session", "", junkCounterProof(t), from(attackerIP)...); r.errCode() != "proof_invalid" {
				t.Fatalf("junk proof: %d %s", r.status, r.body)
			}
		}
		if n := len(a.auditOf(admin, "counter")) - before; n != 1 {
			t.Fatalf("4 refused proofs through two replicas wrote %d rows, want 1", n)
		}
	})

	t.Run("the per-user request limit", func(t *testing.T) {
		ok := 0
		for i := range 2 * a.Config.Limits.AccountBurst {
			r := both[i%2].do("GET", "/v1/me", ct, nil)
			switch {
			case r.status == http.StatusOK:
				ok++
			case r.status != http.StatusTooManyRequests:
				t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
			}
		}
		// The requests above spent some of the burst already.
		if pg && ok >= a.Config.Limits.AccountBurst {
			t.Fatalf("%d of %d requests through two replicas served, burst %d shared", ok, 2*a.Config.Limits.AccountBurst, a.Config.Limits.AccountBurst)
		}
		// On SQLite, the one-process database, each process has its own.
		if !pg && ok < a.Config.Limits.AccountBurst {
			t.Fatalf("%d requests served on SQLite", ok)
		}
	})
}
