package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

func TestNotifyFloodSQLite(t *testing.T) { runNotifyFlood(t, false) }

func TestNotifyFloodPostgres(t *testing.T) { runNotifyFlood(t, true) }

// refusedRows are the notification.refused audit rows after seq.
func (e *env) refusedRows(admin string, after int64) []renewal.AuditEntry {
	e.t.Helper()
	var page struct{ Items []renewal.AuditEntry }
	e.ok(http.StatusOK, &page, "GET", fmt.Sprintf("/v1/audit?after_seq=%d&page_size=1000", after), admin, nil)
	var out []renewal.AuditEntry
	for _, en := range page.Items {
		if en.Action == "notification.refused" {
			out = append(out, en)
		}
	}
	return out
}

// An unsigned flood at the notify URL with a 15 KB header of \xff bytes:
// every request is refused (401) and counted, but the audit log gets one
// small row a minute for the source, with its address, and the count of
// the refusals it stands for.
func runNotifyFlood(t *testing.T, pg bool) {
	// Behind a proxy on loopback, so that the test can send from two places.
	e := newEnv(t, envOptions{postgres: pg, cfg: func(c *server.Config) {
		c.ClientIPHeader, c.TrustedProxies = "X-Real-IP", loopbackProxy
	}})
	const flooder, other = "203.0.113.7", "198.51.100.9"
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	seq0, _, err := e.Store.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	junk := strings.Repeat("\xff", 15000)
	floodFrom := func(ip string, n int) {
		t.Helper()
		for range n {
			r := e.do("POST", "/v1/payments/notify/wechat", "", "{}", "X-Real-IP", ip,
				"Wechatpay-Serial", "x", "Wechatpay-Signature", "x", "Wechatpay-Nonce", "x", "Wechatpay-Timestamp", junk)
			if r.status != http.StatusUnauthorized {
				t.Fatalf("flood request: %d %s", r.status, r.body)
			}
		}
	}
	detailOf := func(en renewal.AuditEntry) (string, int64) {
		var a struct {
			Detail     string `json:"detail"`
			Suppressed int64  `json:"suppressed"`
		}
		if err := json.Unmarshal(en.After, &a); err != nil {
			t.Fatal(err)
		}
		return a.Detail, a.Suppressed
	}
	check := func(rows []renewal.AuditEntry) {
		t.Helper()
		for _, en := range rows {
			d, _ := detailOf(en)
			if len(en.After) > 1024 || len(d) > payment.MaxRefusalDetail || strings.Contains(d, "\\xff\\xff\\xff") {
				t.Errorf("row %d: %d bytes after, detail %d bytes: %.200s", en.Seq, len(en.After), len(d), d)
			}
			if en.IP != flooder {
				t.Errorf("row %d: ip %q, want the client's", en.Seq, en.IP)
			}
		}
	}

	flood := func(n int) { t.Helper(); floodFrom(flooder, n) }
	sweep := func() {
		t.Helper()
		if err := e.Payments.FlushRefusals(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// expect checks the rows so far, and that the last counts suppressed.
	expect := func(when string, n int, suppressed int64) {
		t.Helper()
		rows := e.refusedRows(admin, seq0)
		if len(rows) != n {
			t.Fatalf("%s: %d audit rows, want %d", when, len(rows), n)
		}
		check(rows)
		if _, got := detailOf(rows[n-1]); got != suppressed {
			t.Errorf("%s: the last row counts %d suppressed refusals, want %d", when, got, suppressed)
		}
	}

	flood(50)
	expect("50 refusals in a minute", 1, 0)
	first := e.refusedRows(admin, seq0)[0]
	t.Logf("50 refusals with a 15000-byte header: 1 audit row, %d bytes of after: %s", len(first.After), first.After)
	if d, _ := detailOf(e.refusedRows(admin, seq0)[0]); !strings.Contains(d, "bad_signature") || !strings.Contains(d, "15000 bytes, not UTF-8") {
		t.Errorf("detail %q", d)
	}
	// A minute later the next refusal is written, with the 49 it stands for.
	e.Clock.Advance(payment.RefusalWindow)
	flood(1)
	expect("a minute later", 2, 49)
	// A flood that stops: the sweep writes what the last row did not say,
	// once the window is over.
	flood(5)
	sweep()
	expect("a sweep inside the window", 2, 49)
	e.Clock.Advance(payment.RefusalWindow)
	sweep()
	expect("a sweep after the window", 3, 5)
	// Nothing more to say: the next sweep writes nothing.
	e.Clock.Advance(payment.RefusalWindow)
	sweep()
	expect("a quiet sweep", 3, 5)

	// Another source has rows of its own, with its address.
	floodFrom(other, 3)
	rows := e.refusedRows(admin, seq0)
	if len(rows) != 4 || rows[3].IP != other {
		t.Fatalf("another source: %d rows, the last from %q", len(rows), rows[len(rows)-1].IP)
	}

	// Prometheus counts every one of the 59.
	m := e.do("GET", "/metrics", "", nil)
	want := `renewd_payment_notifications_refused_total{provider="wechat",reason="bad_signature"} 59`
	if !strings.Contains(string(m.body), want) {
		t.Errorf("metrics lack %s", want)
	}
	var v renewal.AuditVerification
	e.ok(http.StatusOK, &v, "GET", "/v1/audit/verify", admin, nil)
	if !v.OK {
		t.Fatalf("audit chain: %+v", v)
	}
}
