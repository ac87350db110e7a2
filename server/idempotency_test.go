package server_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// A client that retries a POST after a lost answer, with the same
// Idempotency-Key, gets the first answer again and nothing is done twice.
func TestIdempotencyKeys(t *testing.T) {
	e := newEnv(t, envOptions{})
	ct := e.smsSignIn(clerkMobile).AccessToken
	// A first key that fails, then others: the forgotten failure must not
	// trip the bookkeeping of the next ones.
	e.fails(http.StatusUnprocessableEntity, "window_not_open", "POST", "/v1/applications", ct,
		renewal.CreateApplicationRequest{CertSerial: e.holders["far"].Serial}, "Idempotency-Key", "fails-first")
	e.fails(http.StatusUnprocessableEntity, "window_not_open", "POST", "/v1/applications", ct,
		renewal.CreateApplicationRequest{CertSerial: e.holders["far"].Serial}, "Idempotency-Key", "fails-second")
	req := renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: ptr(validForm(e.Org, 1))}
	var a1, a2 renewal.Application
	e.ok(http.StatusCreated, &a1, "POST", "/v1/applications", ct, req, "Idempotency-Key", "create-1")
	r := e.ok(http.StatusCreated, &a2, "POST", "/v1/applications", ct, req, "Idempotency-Key", "create-1")
	if a2.ID != a1.ID || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("ETag") != `"v1"` {
		t.Fatalf("replayed create: %s vs %s, headers %v", a2.ID, a1.ID, r.header)
	}
	// Without the key the second create is refused by the store's rule.
	e.fails(http.StatusConflict, "conflict", "POST", "/v1/applications", ct, req)
	// The same key for another request is refused.
	other := renewal.CreateApplicationRequest{CertSerial: e.holders["sm2"].Serial}
	e.fails(http.StatusConflict, "conflict", "POST", "/v1/applications", ct, other, "Idempotency-Key", "create-1")

	// Concurrent retries of one upload store one document.
	app := "/v1/applications/" + a1.ID + "/documents?kind=other&name=scan.png"
	png := []byte("\x89PNG\r\n\x1a\n0000IHDR")
	var wg sync.WaitGroup
	ids := make([]string, 6)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d renewal.Document
			r := e.do("POST", app, ct, png, "Idempotency-Key", "upload-1")
			if r.status != http.StatusCreated {
				t.Errorf("upload: %d %s", r.status, r.body)
				return
			}
			_ = jsonUnmarshal(r.body, &d)
			ids[i] = d.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("retries answered different documents: %v", ids)
		}
	}
	var docs struct{ Items []renewal.Document }
	e.ok(http.StatusOK, &docs, "GET", "/v1/applications/"+a1.ID+"/documents", ct, nil)
	if len(docs.Items) != 1 {
		t.Fatalf("%d documents stored from one upload retried", len(docs.Items))
	}
	// Another user's identical key is another request.
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	e.fails(http.StatusForbidden, "forbidden", "POST", "/v1/applications", reviewer, req, "Idempotency-Key", "create-1")
	// A failure is not remembered: fixing the request and retrying works.
	e.fails(http.StatusConflict, "stale_version", "POST", "/v1/applications/"+a1.ID+"/submit", ct, renewal.SubmitRequest{Version: 9}, "Idempotency-Key", "x")
	var sub renewal.Application
	e.ok(http.StatusOK, &sub, "POST", "/v1/applications/"+a1.ID+"/submit", ct, renewal.SubmitRequest{Version: 1}, "Idempotency-Key", "x")
	if sub.Status != renewal.StatusPendingReview {
		t.Fatalf("submit after a failed try with the same key: %+v", sub.State)
	}
	e.fails(http.StatusBadRequest, "invalid_field", "POST", "/v1/applications", ct, req, "Idempotency-Key", "bad key with spaces")
}

// The cache stays bounded and forgets after its TTL.
func TestIdempotencyCacheBounds(t *testing.T) {
	e := newEnv(t, envOptions{})
	ct := e.smsSignIn(clerkMobile).AccessToken
	var a renewal.Application
	req := renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: ptr(validForm(e.Org, 1))}
	e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, req, "Idempotency-Key", "k")
	e.Clock.Advance(server.IdempotencyTTL + time.Second)
	// After the TTL the key is forgotten: the retry runs and meets the store's rule.
	ct = e.smsSignIn(clerkMobile).AccessToken
	e.fails(http.StatusConflict, "conflict", "POST", "/v1/applications", ct, req, "Idempotency-Key", "k")
}
