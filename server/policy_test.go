package server_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// A CA that takes payment before review, needs no financial verification
// and always re-keys: the same code, other rows of the states table.
func TestPolicyPayBeforeReviewRekeyNoFinVerify(t *testing.T) {
	p := renewal.DefaultPolicy()
	p.PaymentTiming, p.FinVerifyRequired, p.RekeyRequired = renewal.PayBeforeReview, false, true
	e := newEnv(t, envOptions{cfg: func(c *server.Config) { c.Policy = p }})
	ct := e.smsSignIn(clerkMobile).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	var el renewal.Eligibility
	e.ok(http.StatusOK, &el, "GET", "/v1/certificates/"+e.holders["rsa"].Serial+"/eligibility", ct, nil)
	if !el.RekeyRequired || el.FinVerifyRequired || el.PaymentTiming != renewal.PayBeforeReview {
		t.Fatalf("eligibility does not carry the policy: %+v", el)
	}
	var a renewal.Application
	e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: ptr(validForm(e.Org, 1))})
	if !a.Rekey || a.FinVerify != renewal.FinVerifyNotRequired || !contains(a.Actions, renewal.ActionPay) || contains(a.Actions, renewal.ActionSubmit) {
		t.Fatalf("draft under pay-before-review: %+v %v", a.State, a.Actions)
	}
	app := "/v1/applications/" + a.ID
	e.fails(http.StatusPaymentRequired, "payment_required", "POST", app+"/submit", ct, renewal.SubmitRequest{Version: a.Version})
	a = e.payQR(ct, a.ID)
	e.ok(http.StatusOK, &a, "POST", app+"/submit", ct, renewal.SubmitRequest{Version: a.Version})
	e.ok(http.StatusOK, &a, "POST", app+"/approve", reviewer, renewal.ReviewRequest{Version: a.Version})
	if a.Status != renewal.StatusReadyToDownload {
		t.Fatalf("paid, no finverify, approved: %+v", a.State)
	}
	e.fails(http.StatusConflict, "action_not_allowed", "POST", app+"/finverify/start", ct, renewal.VersionRequest{Version: a.Version})
	nonce := e.challenge(ct, a.ID)
	h := e.holders["rsa"]
	e.fails(http.StatusUnprocessableEntity, "rekey_required", "POST", app+"/issue", ct, renewal.IssueRequest{Version: a.Version,
		Mode: renewal.IssueSameKey, Nonce: nonce, Signature: tokenSign(t, h.Key, renewal.SameKeyMessage(a.ID, h.Serial, nonce))})
}

func contains(as []renewal.Action, a renewal.Action) bool { return slices.Contains(as, a) }

func TestCancelDeleteAndRefund(t *testing.T) {
	e := newEnv(t, envOptions{})
	ct := e.smsSignIn(clerkMobile).AccessToken
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	create := func(h string) renewal.Application {
		var a renewal.Application
		e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders[h].Serial, Form: ptr(validForm(e.Org, 1))})
		return a
	}
	// A draft is deleted (If-Match carries the version), then gone.
	a := create("rsa")
	e.fails(http.StatusConflict, "stale_version", "DELETE", "/v1/applications/"+a.ID, ct, nil, "If-Match", `"v2"`)
	e.ok(http.StatusNoContent, nil, "DELETE", "/v1/applications/"+a.ID, ct, nil, "If-Match", `"v1"`)
	e.fails(http.StatusNotFound, "not_found", "GET", "/v1/applications/"+a.ID, ct, nil)
	// The certificate is free again; a submitted one cannot be deleted, only cancelled.
	a = create("rsa")
	e.ok(http.StatusOK, &a, "POST", "/v1/applications/"+a.ID+"/submit", ct, renewal.SubmitRequest{Version: a.Version})
	e.fails(http.StatusConflict, "action_not_allowed", "DELETE", "/v1/applications/"+a.ID+"?version=2", ct, nil)
	e.ok(http.StatusOK, &a, "POST", "/v1/applications/"+a.ID+"/approve", reviewer, renewal.ReviewRequest{Version: a.Version})
	a = e.payQR(ct, a.ID)
	// Cancelling a paid application starts a refund; the payment module finishes it.
	e.ok(http.StatusOK, &a, "POST", "/v1/applications/"+a.ID+"/cancel", ct, renewal.VersionRequest{Version: a.Version})
	if a.Status != renewal.StatusCancelled || a.Payment != renewal.PaymentRefunding {
		t.Fatalf("cancelled paid: %+v", a.State)
	}
	refuseForbidden(e, a, renewal.RoleClerk, ct, renewal.DefaultPolicy())
	refuseForbidden(e, a, renewal.RoleAdmin, admin, renewal.DefaultPolicy())
	err := e.Store.Write(t.Context(), func(tx *store.Tx) error {
		issued, err := e.Server.Issued(t.Context(), tx, a.ID)
		if err != nil || issued {
			t.Fatalf("issued = %v, %v", issued, err)
		}
		_, err = e.Server.SetPaymentState(t.Context(), tx, a.ID, renewal.PaymentRefunded)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ok(http.StatusOK, &a, "GET", "/v1/applications/"+a.ID, ct, nil)
	if a.Payment != renewal.PaymentRefunded {
		t.Fatalf("refunded: %+v", a.State)
	}
	// A payment state the table does not allow is refused.
	err = e.Store.Write(t.Context(), func(tx *store.Tx) error {
		_, err := e.Server.SetPaymentState(t.Context(), tx, a.ID, renewal.PaymentPaid)
		return err
	})
	if renewal.CodeOf(err) != renewal.CodeActionNotAllowed {
		t.Fatalf("paid after refund: %v", err)
	}
	// An admin cancels for the clerk; a reviewer may not.
	b := create("sm2")
	e.fails(http.StatusConflict, "action_not_allowed", "POST", "/v1/applications/"+b.ID+"/cancel", reviewer, renewal.VersionRequest{Version: b.Version})
	e.ok(http.StatusOK, &b, "POST", "/v1/applications/"+b.ID+"/cancel", admin, renewal.VersionRequest{Version: b.Version})
	if b.Status != renewal.StatusCancelled || b.Payment != renewal.PaymentUnpaid {
		t.Fatalf("admin cancel: %+v", b.State)
	}
}

// Two edits of the same version at once: exactly one wins, the other is
// told its version is stale; the stored form is the winner's.
func TestConcurrentEditsOneWins(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "sqlite", true: "postgres"}[pg]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: pg})
			ct := e.smsSignIn(clerkMobile).AccessToken
			var a renewal.Application
			e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial})
			const n = 8
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i] = e.do("PUT", "/v1/applications/"+a.ID, ct, renewal.UpdateApplicationRequest{Version: 1, Form: validForm(e.Org, 1+i%3)}).status
				}()
			}
			wg.Wait()
			won := 0
			for _, c := range codes {
				switch c {
				case http.StatusOK:
					won++
				case http.StatusConflict:
				default:
					t.Fatalf("status %d", c)
				}
			}
			if won != 1 {
				t.Fatalf("%d edits of version 1 succeeded, want 1 (%v)", won, codes)
			}
			e.ok(http.StatusOK, &a, "GET", "/v1/applications/"+a.ID, ct, nil)
			if a.Version != 2 {
				t.Fatalf("version %d", a.Version)
			}
		})
	}
}

func TestMetricsAndDevRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.smsSignIn(clerkMobile)
	m := e.ok(http.StatusOK, nil, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`renewd_http_requests_total{code="2xx",route="POST /v1/auth/sms-login"} 1`,
		`renewd_events_total{event="sms_sent"} 1`,
		`renewd_http_request_duration_seconds_bucket{route="POST /v1/auth/sms-code",le="+Inf"} 1`,
		"# TYPE renewd_http_requests_in_flight gauge\nrenewd_http_requests_in_flight 1\n",
		"# TYPE go_goroutines gauge",
		"# TYPE process_cpu_seconds_total counter",
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s:\n%s", want, m.body)
		}
	}
	if ct := m.header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("metrics Content-Type %q", ct)
	}
	// With a metrics token, /metrics wants it.
	g := newEnv(t, envOptions{cfg: func(c *server.Config) { c.MetricsToken = "scrape-secret" }})
	g.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/metrics", "", nil)
	g.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/metrics", "wrong", nil)
	gm := g.ok(http.StatusOK, nil, "GET", "/metrics", "scrape-secret", nil)
	// Each server counts its own requests and events: the first one's sign-in is not here.
	for _, absent := range []string{"sms-login", "sms_sent"} {
		if strings.Contains(string(gm.body), absent) {
			t.Errorf("a second server's metrics show %s of the first:\n%s", absent, gm.body)
		}
	}
	// Without Dev the outboxes are not served.
	p := newEnv(t, envOptions{cfg: func(c *server.Config) { c.Dev = false }})
	p.fails(http.StatusNotFound, "not_found", "GET", "/dev/outbox/sms", "", nil)
	p.fails(http.StatusNotFound, "not_found", "POST", "/dev/applications/x/pay", "", nil)
}
