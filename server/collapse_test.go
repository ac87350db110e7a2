package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// junkCounterProof is a well-formed proof of a made-up nonce and
// fingerprint: what anyone can post.
func junkCounterProof(t *testing.T) server.CounterSessionRequest {
	b := make([]byte, 64)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return server.CounterSessionRequest{Fingerprint: hex.EncodeToString(b[:32]), Nonce: hex.EncodeToString(b[32:]), Signature: "3006020101020101"}
}

// rowsOf is the audit rows of action at target.
func (e *env) rowsOf(admin, target, action string) []renewal.AuditEntry {
	e.t.Helper()
	var out []renewal.AuditEntry
	for _, en := range e.auditWhere(admin, "target="+target) {
		if en.Action == action {
			out = append(out, en)
		}
	}
	return out
}

func suppressedOf(t *testing.T, en renewal.AuditEntry) int64 {
	t.Helper()
	var a struct{ Suppressed int64 }
	if len(en.After) > 0 {
		if err := json.Unmarshal(en.After, &a); err != nil {
			t.Fatal(err)
		}
	}
	return a.Suppressed
}

// Anonymous made-up counter proofs were refused with one audit row each,
// at the request limiter's rate (599 rows in 10 s from one address). Now
// the session route has the challenge's per-source limit, and a source's
// refusals of one reason are one row a minute, the rest counted into the
// next row or written by FlushCollapsedAudit once the minute is over.
func TestCounterRefusalsCollapsed(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: pg, cfg: func(c *server.Config) {
				c.ClientIPHeader, c.TrustedProxies = "X-Forwarded-For", loopbackProxy
			}})
			admin := e.passwordSignIn("admin", adminPassword).AccessToken
			const a, b = "203.0.113.7", "198.51.100.9"
			refused, limited := 0, 0
			for range 30 {
				r := e.do("POST", "/v1/counter/session", "", junkCounterProof(t), "X-Forwarded-For", a)
				switch {
				case r.status == http.StatusUnprocessableEntity && r.errCode() == "proof_invalid":
					refused++
				case r.status == http.StatusTooManyRequests && r.errCode() == "rate_limited" && r.header.Get("Retry-After") != "":
					limited++
				default:
					t.Fatalf("junk proof: %d %s", r.status, r.body)
				}
			}
			if limited == 0 || refused > 5 {
				t.Fatalf("30 junk proofs at once: %d refused, %d rate limited; want the challenge's limit (burst 5)", refused, limited)
			}
			// At the limit's rate for most of a minute.
			for range 10 {
				e.Clock.Advance(5 * time.Second)
				e.fails(http.StatusUnprocessableEntity, "proof_invalid", "POST", "/v1/counter/session", "", junkCounterProof(t), "X-Forwarded-For", a)
				refused++
			}
			e.fails(http.StatusUnprocessableEntity, "proof_invalid", "POST", "/v1/counter/session", "", junkCounterProof(t), "X-Forwarded-For", b)

			rows := e.rowsOf(admin, "counter", "counter.session_refused")
			if len(rows) != 2 || rows[0].IP != a || rows[1].IP != b || rows[0].Actor != "anonymous" {
				t.Fatalf("%d refusals from 2 sources in 50 s wrote %d rows, want one a source: %+v", refused+1, len(rows), rows)
			}
			if err := e.Server.FlushCollapsedAudit(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(e.rowsOf(admin, "counter", "counter.session_refused")); n != 2 {
				t.Fatalf("a flush within the minute wrote rows: %d", n)
			}
			e.Clock.Advance(11 * time.Second)
			if err := e.Server.FlushCollapsedAudit(context.Background()); err != nil {
				t.Fatal(err)
			}
			rows = e.rowsOf(admin, "counter", "counter.session_refused")
			if len(rows) != 3 || rows[2].IP != a || suppressedOf(t, rows[2]) != int64(refused-1) {
				t.Fatalf("after the minute: %+v; want a row of %s counting the %d not written", rows, a, refused-1)
			}
			// The flushed row opened a window: the next refusal is counted.
			e.Clock.Advance(5 * time.Second)
			e.fails(http.StatusUnprocessableEntity, "proof_invalid", "POST", "/v1/counter/session", "", junkCounterProof(t), "X-Forwarded-For", a)
			if n := len(e.rowsOf(admin, "counter", "counter.session_refused")); n != 3 {
				t.Fatalf("a refusal right after the flushed row wrote one: %d rows", n)
			}
			var v renewal.AuditVerification
			e.ok(http.StatusOK, &v, "GET", "/v1/audit/verify", admin, nil)
			if !v.OK {
				t.Fatalf("the chain does not verify: %+v", v)
			}
		})
	}
}

// Anyone holding an invoice link (valid 30 days) could add an audit row
// per download at the request limiter's rate. Downloads of an invoice from
// one source are one row an hour, the rest counted.
func TestInvoiceDownloadsCollapsed(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			iss := &bulkyIssuer{}
			e := newEnv(t, envOptions{postgres: pg, invoices: iss, cfg: func(c *server.Config) {
				c.ClientIPHeader, c.TrustedProxies = "X-Forwarded-For", loopbackProxy
			}})
			iss.Now = e.Clock.Now
			ct, a := e.paid("rsa")
			var st renewal.InvoiceStatus
			e.ok(http.StatusOK, &st, "POST", "/v1/applications/"+a.ID+"/invoice", ct, renewal.InvoiceRequest{})
			link := strings.TrimPrefix(st.URL, e.URL)
			for range 20 {
				e.Clock.Advance(time.Minute)
				if r := e.do("GET", link, "", nil, "X-Forwarded-For", "203.0.113.7"); r.status != http.StatusOK {
					t.Fatalf("download: %d %s", r.status, r.body)
				}
			}
			e.ok(http.StatusOK, nil, "GET", link, "", nil, "X-Forwarded-For", "198.51.100.9")
			target := "application/" + a.ID
			admin := e.passwordSignIn("admin", adminPassword).AccessToken
			if rows := e.rowsOf(admin, target, "invoice.download"); len(rows) != 2 {
				t.Fatalf("21 downloads from 2 sources in 20 minutes wrote %d rows, want 2", len(rows))
			}
			e.Clock.Advance(time.Hour)
			if err := e.Server.FlushCollapsedAudit(context.Background()); err != nil {
				t.Fatal(err)
			}
			admin = e.passwordSignIn("admin", adminPassword).AccessToken
			rows := e.rowsOf(admin, target, "invoice.download")
			if len(rows) != 3 || rows[2].IP != "203.0.113.7" || suppressedOf(t, rows[2]) != 19 {
				t.Fatalf("after the hour: %+v; want a row counting 19", rows)
			}
		})
	}
}
