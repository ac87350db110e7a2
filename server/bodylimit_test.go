package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// bodyReads counts the bytes of request bodies the service's handlers
// read (not what net/http discards after an early answer), and tells when
// a request tagged with the header X-Test-Hold first reads its body.
type bodyReads struct {
	n       atomic.Int64
	mu      sync.Mutex
	reading map[string]chan struct{}
}

func newBodyReads() *bodyReads { return &bodyReads{reading: map[string]chan struct{}{}} }

func (b *bodyReads) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			cb := &countingBody{ReadCloser: r.Body, n: &b.n}
			if tag := r.Header.Get("X-Test-Hold"); tag != "" {
				cb.first = b.started(tag)
			}
			r.Body = cb
		}
		h.ServeHTTP(w, r)
	})
}

// started is closed when the request tagged tag first reads its body.
func (b *bodyReads) started(tag string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reading[tag] == nil {
		b.reading[tag] = make(chan struct{})
	}
	return b.reading[tag]
}

// since runs f and returns the body bytes handlers read meanwhile.
func (b *bodyReads) since(f func()) int64 {
	before := b.n.Load()
	f()
	return b.n.Load() - before
}

type countingBody struct {
	io.ReadCloser
	n     *atomic.Int64
	first chan struct{}
	once  sync.Once
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	if n > 0 && c.first != nil {
		c.once.Do(func() { close(c.first) })
	}
	return n, err
}

// draftEnv is a service whose handlers' body reads are counted, the
// clerk's token and a draft of theirs (the "rsa" certificate, form filled in).
func draftEnv(t *testing.T, cfg func(*server.Config)) (*env, *bodyReads, string, renewal.Application) {
	reads := newBodyReads()
	e := newEnv(t, envOptions{wrap: reads.wrap, cfg: cfg})
	ct := e.smsSignIn(clerkMobile).AccessToken
	var a renewal.Application
	e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct,
		renewal.CreateApplicationRequest{CertSerial: e.holders["rsa"].Serial, Form: ptr(validForm(e.Org, 1))})
	return e, reads, ct, a
}

// sendBody sends body as is: a *bytes.Reader declares its length, any
// other reader goes chunked.
func (e *env) sendBody(method, path, token string, body io.Reader, ct string, hdr ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

// chunked hides a reader's length from net/http.
func chunked(b []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(b)} }

func (r resp) wants(t *testing.T, status int, code, field string) {
	t.Helper()
	var e struct{ Code, Field string }
	_ = json.Unmarshal(r.body, &e)
	if r.status != status || e.Code != code || (field != "" && e.Field != field) {
		t.Fatalf("answered %d %s, want %d %s (field %q)", r.status, r.body, status, code, field)
	}
}

// A 10 MiB submit with an Idempotency-Key is refused as too large without
// being read: declared, before a byte; chunked, after the 64 KiB a JSON
// body may have. Nothing is submitted.
func TestLargeIdempotentBodyRefusedUnread(t *testing.T) {
	e, reads, ct, a := draftEnv(t, nil)
	big := append([]byte(`{"version":1,"comment":"`), bytes.Repeat([]byte("a"), 10<<20)...)
	submit := "/v1/applications/" + a.ID + "/submit"

	var r resp
	n := reads.since(func() {
		r = e.sendBody("POST", submit, ct, bytes.NewReader(big), "application/json", "Idempotency-Key", "big-1")
	})
	r.wants(t, http.StatusRequestEntityTooLarge, "body_too_large", "")
	if n != 0 {
		t.Fatalf("the service read %d bytes of a body declared over the limit", n)
	}
	for _, key := range []string{"big-2", ""} {
		n = reads.since(func() {
			r = e.sendBody("POST", submit, ct, chunked(big), "application/json", "Idempotency-Key", key)
		})
		r.wants(t, http.StatusRequestEntityTooLarge, "body_too_large", "")
		if n > server.MaxJSONBody+64<<10 {
			t.Fatalf("key %q: the service read %d bytes of a chunked body, beyond the %d a JSON body may have", key, n, server.MaxJSONBody)
		}
	}
	var got renewal.Application
	e.ok(http.StatusOK, &got, "GET", "/v1/applications/"+a.ID, ct, nil)
	if got.Status != renewal.StatusEditing || got.Version != 1 {
		t.Fatalf("after the refused submits: %+v v%d", got.State, got.Version)
	}
}

// An upload the service would refuse for the application (at its maximum
// of documents, another organisation's, in a state without uploads) is
// refused before a byte of it is read, with or without an Idempotency-Key.
// The retry of the upload that filled the application still gets its answer.
func TestUploadRefusedBeforeReading(t *testing.T) {
	e, reads, ct, a := draftEnv(t, nil)
	docs := "/v1/applications/" + a.ID + "/documents?kind=other&name=scan.png"
	png := []byte("\x89PNG\r\n\x1a\n0000IHDR")
	var last renewal.Document
	for i := range renewal.MaxDocumentsPerApp {
		e.ok(http.StatusCreated, &last, "POST", docs, ct, png, "Idempotency-Key", "fill-"+string(rune('a'+i)))
	}
	big := append(append([]byte{}, png...), make([]byte, renewal.MaxDocumentBytes-len(png))...)
	upload := func(path, key string) resp {
		var r resp
		if n := reads.since(func() { r = e.sendBody("POST", path, ct, bytes.NewReader(big), "image/png", "Idempotency-Key", key) }); n != 0 {
			t.Fatalf("%s (key %q): the service read %d bytes before refusing", path, key, n)
		}
		return r
	}
	upload(docs, "").wants(t, http.StatusBadRequest, "too_long", "document")
	upload(docs, "one-more").wants(t, http.StatusBadRequest, "too_long", "document")

	// The retry of the twentieth upload is answered as the first time.
	var again renewal.Document
	r := e.ok(http.StatusCreated, &again, "POST", docs, ct, png, "Idempotency-Key", "fill-"+string(rune('a'+renewal.MaxDocumentsPerApp-1)))
	if again.ID != last.ID || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry of the last upload: %s, first %s", again.ID, last.ID)
	}

	// Another organisation's application.
	oc := e.smsSignIn(otherClerkMobile).AccessToken
	var o renewal.Application
	e.ok(http.StatusCreated, &o, "POST", "/v1/applications", oc, renewal.CreateApplicationRequest{CertSerial: e.holders["other"].Serial})
	upload("/v1/applications/"+o.ID+"/documents?kind=other&name=scan.png", "").wants(t, http.StatusNotFound, "not_found", "")

	// A submitted application takes no documents.
	var s renewal.Application
	e.ok(http.StatusCreated, &s, "POST", "/v1/applications", ct,
		renewal.CreateApplicationRequest{CertSerial: e.holders["sm2"].Serial, Form: ptr(validForm(e.Org, 1))})
	e.ok(http.StatusOK, &s, "POST", "/v1/applications/"+s.ID+"/submit", ct, renewal.SubmitRequest{Version: 1})
	for _, key := range []string{"", "submitted"} {
		upload("/v1/applications/"+s.ID+"/documents?kind=other&name=scan.png", key).wants(t, http.StatusConflict, "action_not_allowed", "")
	}
	// A file of a wrong type is refused after its first bytes, not its end.
	exe := append([]byte("MZ"), make([]byte, renewal.MaxDocumentBytes-2)...)
	n := reads.since(func() {
		e.sendBody("POST", "/v1/applications/"+o.ID+"/documents?kind=other&name=a.exe", oc, bytes.NewReader(exe), "image/png").
			wants(t, http.StatusUnsupportedMediaType, "document_type", "")
	})
	if n > 1<<20 {
		t.Fatalf("the service read %d bytes of a file it refused by its first bytes", n)
	}
}

// The bytes of bodies being read at once are bounded per account (429
// rate_limited) and for the process (503 busy), both with Retry-After,
// refused before a byte is read; small requests still pass, and the
// budget comes back when the upload holding it ends.
func TestBodyBudgets(t *testing.T) {
	e, reads, ct, a := draftEnv(t, func(c *server.Config) {
		c.Limits.MaxDocument = 1 << 20
		c.Limits.BodyBytesPerAccount = 1<<20 + 1<<18 // 1.25 MiB
		c.Limits.BodyBytesTotal = 1<<20 + 1<<19      // 1.5 MiB
	})
	oc := e.smsSignIn(otherClerkMobile).AccessToken
	var o renewal.Application
	e.ok(http.StatusCreated, &o, "POST", "/v1/applications", oc, renewal.CreateApplicationRequest{CertSerial: e.holders["other"].Serial})
	mine := "/v1/applications/" + a.ID + "/documents?kind=other&name=scan.png"
	theirs := "/v1/applications/" + o.ID + "/documents?kind=other&name=scan.png"
	png := []byte("\x89PNG\r\n\x1a\n0000IHDR")
	doc := append(append([]byte{}, png...), make([]byte, 1<<20-len(png))...)
	var half renewal.Document // a document of 0.5 MiB, to download
	e.ok(http.StatusCreated, &half, "POST", mine, ct, doc[:1<<19])
	download := "/v1/applications/" + a.ID + "/documents/" + half.ID

	// The clerk's upload of 1 MiB, held half-sent.
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) }) // before the server closes, should the test fail
	held := make(chan resp, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.URL+mine, pr)
		req.ContentLength = int64(len(doc))
		req.Header.Set("Content-Type", "image/png")
		req.Header.Set("Authorization", "Bearer "+ct)
		req.Header.Set("X-Test-Hold", "held")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- resp{}
			return
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		held <- resp{status: res.StatusCode, body: data}
	}()
	if _, err := pw.Write(doc[:1024]); err != nil {
		t.Fatal(err)
	}
	<-reads.started("held") // its bytes are reserved: it is reading

	refused := func(token, path string, status int, code string) {
		t.Helper()
		var r resp
		if n := reads.since(func() { r = e.sendBody("POST", path, token, bytes.NewReader(doc), "image/png") }); n != 0 {
			t.Fatalf("read %d bytes of a request over the budget", n)
		}
		r.wants(t, status, code, "")
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("%d %s without Retry-After", r.status, code)
		}
	}
	// The same clerk's second upload: over the account's budget.
	refused(ct, mine, http.StatusTooManyRequests, "rate_limited")
	// Another clerk's: within theirs, over the process's.
	refused(oc, theirs, http.StatusServiceUnavailable, "busy")
	// A download is held in memory as it is sent: the same budgets.
	r := e.do("GET", download, ct, nil)
	r.wants(t, http.StatusTooManyRequests, "rate_limited", "")
	// Small requests of both still pass (declared, and chunked: 64 KiB).
	e.ok(http.StatusOK, nil, "PUT", "/v1/applications/"+a.ID, ct, renewal.UpdateApplicationRequest{Version: 1, Form: validForm(e.Org, 1)})
	body, _ := json.Marshal(renewal.CreateApplicationRequest{CertSerial: e.holders["other"].Serial})
	e.sendBody("POST", "/v1/applications", oc, chunked(body), "application/json").wants(t, http.StatusConflict, "conflict", "")

	// The held upload ends; the budget is back.
	if _, err := pw.Write(doc[1024:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if r := <-held; r.status != http.StatusCreated {
		t.Fatalf("held upload: %d %s", r.status, r.body)
	}
	e.ok(http.StatusCreated, nil, "POST", mine, ct, doc)
	e.ok(http.StatusCreated, nil, "POST", theirs, oc, doc)
	if r := e.do("GET", download, ct, nil); r.status != http.StatusOK || len(r.body) != 1<<19 {
		t.Fatalf("download after the upload ended: %d, %d bytes", r.status, len(r.body))
	}
}

// A JSON key given twice in one object, at any depth and in any case, is
// refused (encoding/json would keep the last), naming it.
func TestDuplicateJSONKeysRefused(t *testing.T) {
	e, _, ct, a := draftEnv(t, nil)
	app := "/v1/applications/" + a.ID
	for body, field := range map[string]string{
		`{"version":1,"comment":"a","version":2}`:   "version",
		`{"version":1,"Version":2}`:                 "Version",
		`{"comment":"a","comment":"b","version":1}`: "comment",
	} {
		e.fails(http.StatusBadRequest, "invalid_request", "POST", app+"/submit", ct, body).wantField(t, field)
	}
	form, _ := json.Marshal(validForm(e.Org, 1))
	// form.organisation.name twice: the second one is the last key of organisation.
	nested := strings.Replace(string(form), `"organisation":{`, `"organisation":{"name":"另一家公司",`, 1)
	if nested == string(form) {
		t.Fatal("the form has no organisation object")
	}
	e.fails(http.StatusBadRequest, "invalid_request", "PUT", app, ct, `{"version":1,"rekey":false,"form":`+nested+`}`).
		wantField(t, "form.organisation.name")
	// Nothing changed; the same body without the duplicate is taken.
	e.ok(http.StatusOK, nil, "PUT", app, ct, `{"version":1,"rekey":false,"form":`+string(form)+`}`)
}

func (r resp) wantField(t *testing.T, field string) {
	t.Helper()
	var e struct{ Field string }
	_ = json.Unmarshal(r.body, &e)
	if e.Field != field {
		t.Fatalf("field %q, want %q: %s", e.Field, field, r.body)
	}
}

// stalled is a request whose body was begun and is held open.
type stalled struct {
	pw   *io.PipeWriter
	done chan resp
}

// stall sends a POST to path from source (X-Real-IP) declaring length
// bytes and sending first, then nothing. It returns once the service has
// begun reading the body (the request holds its reservation: r is nil) or
// has answered without (r). The body is closed at the test's end.
func stall(t *testing.T, e *env, reads *bodyReads, path, source string, length int64, first []byte) (*stalled, *resp) {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	tag := fmt.Sprintf("stall-%p", pw)
	st := &stalled{pw: pw, done: make(chan resp, 1)}
	go func() {
		req, _ := http.NewRequest("POST", e.URL+path, pr)
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Real-IP", source)
		req.Header.Set("X-Test-Hold", tag)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			st.done <- resp{}
			return
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		st.done <- resp{status: res.StatusCode, header: res.Header, body: data}
	}()
	go func() { _, _ = pw.Write(first) }() // net/http may not read it if it answers first
	select {
	case <-reads.started(tag):
		return st, nil
	case r := <-st.done:
		return nil, &r
	}
}

// stallUntilRefused stalls requests from source until one is refused (at
// most max), and returns the ones held and the refusal.
func stallUntilRefused(t *testing.T, e *env, reads *bodyReads, path, source string, length int64, first []byte, max int) ([]*stalled, resp) {
	t.Helper()
	var held []*stalled
	for range max {
		st, r := stall(t, e, reads, path, source, length, first)
		if r != nil {
			return held, *r
		}
		held = append(held, st)
	}
	t.Fatalf("%d requests from %s all held their bodies open", max, source)
	return nil, resp{}
}

func (r resp) wantsRetry(t *testing.T, status int, code string) {
	t.Helper()
	r.wants(t, status, code, "")
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("%d %s without Retry-After", r.status, code)
	}
}

// anonEnv is draftEnv behind a proxy on loopback (so requests come from
// the X-Real-IP they name), with small budgets: 1.5 MiB for the process,
// 256 KiB for requests before sign-in, 128 KiB a source.
func anonEnv(t *testing.T, cfg func(*server.Config)) (*env, *bodyReads, string, renewal.Application) {
	return draftEnv(t, func(c *server.Config) {
		c.ClientIPHeader, c.TrustedProxies = "X-Real-IP", loopbackProxy
		c.Limits.IPPerSecond, c.Limits.IPBurst = 1000, 10000
		c.Limits.MaxDocument = 1 << 20
		c.Limits.BodyBytesPerAccount = 1<<20 + 1<<18 // 1.25 MiB
		c.Limits.BodyBytesTotal = 1<<20 + 1<<19      // 1.5 MiB
		c.Limits.AnonBodyBytesTotal = 256 << 10
		c.Limits.AnonBodyBytesPerSource = 128 << 10
		if cfg != nil {
			cfg(c)
		}
	})
}

// One address opening sign-ins that declare a body and never send it (the
// attack: Content-Length 65536, "{" and nothing) holds its share of the
// anonymous budget only: a sign-in declared over 4 KiB is refused before a
// byte is read, at its share it gets 429 with Retry-After, while another
// address signs in and a signed-in clerk uploads. Stalling from enough
// addresses fills the anonymous budget (503 busy for sign-ins), never the
// one signed-in clerks upload with.
func TestAnonymousBodyBudget(t *testing.T) {
	e, reads, ct, a := anonEnv(t, nil)
	const attacker, other, second = "203.0.113.7", "198.51.100.9", "203.0.113.8"
	login := "/v1/auth/login"
	png := []byte("\x89PNG\r\n\x1a\n0000IHDR")
	doc := append(append([]byte{}, png...), make([]byte, 1<<20-len(png))...)
	upload := func(name string) {
		t.Helper()
		r := e.sendBody("POST", "/v1/applications/"+a.ID+"/documents?kind=other&name="+name, ct, bytes.NewReader(doc), "image/png")
		if r.status != http.StatusCreated {
			t.Fatalf("a signed-in clerk's upload: %d %s", r.status, r.body)
		}
	}

	if _, r := stall(t, e, reads, login, attacker, 65536, []byte("{")); r == nil {
		t.Fatal("a sign-in declaring 64 KiB was read")
	} else {
		r.wants(t, http.StatusRequestEntityTooLarge, "body_too_large", "")
	}
	held, r := stallUntilRefused(t, e, reads, login, attacker, 4096, []byte("{"), 64)
	if len(held) != 32 {
		t.Fatalf("%d sign-ins of 4 KiB held from one address, want 32 (128 KiB)", len(held))
	}
	r.wantsRetry(t, http.StatusTooManyRequests, "rate_limited")
	e.passwordSignIn("admin", adminPassword) // from the test's own address
	e.ok(http.StatusOK, nil, "POST", login, "", renewal.PasswordLoginRequest{Account: "admin", Password: adminPassword}, "X-Real-IP", other)
	upload("a.png")

	// A second address fills the rest of the anonymous budget.
	held2, r := stallUntilRefused(t, e, reads, login, second, 4096, []byte("{"), 64)
	if len(held2) != 32 {
		t.Fatalf("%d sign-ins held from a second address, want 32", len(held2))
	}
	r.wantsRetry(t, http.StatusTooManyRequests, "rate_limited")
	e.fails(http.StatusServiceUnavailable, "busy", "POST", login, "",
		renewal.PasswordLoginRequest{Account: "admin", Password: adminPassword}, "X-Real-IP", other).wantsRetry(t, http.StatusServiceUnavailable, "busy")
	upload("b.png")

	// The attacker's bodies end (here: the connections close); its share
	// is back.
	for _, st := range held {
		st.pw.CloseWithError(io.ErrUnexpectedEOF)
		<-st.done
	}
	// The client may read a refusal before the handler has returned and
	// given the share back: ask again until it is back (bounded).
	var last resp
	for range 200 {
		last = e.do("POST", login, "", renewal.PasswordLoginRequest{Account: "admin", Password: adminPassword}, "X-Real-IP", attacker)
		if last.status != http.StatusTooManyRequests {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	last.wants(t, http.StatusOK, "", "")
}

// Payment notifications are bodies before sign-in too: declared over
// payment.MaxNotificationBytes they are refused unread; held open, one
// address holds its share of the anonymous budget (two of 64 KiB here),
// the next is refused 429 with Retry-After, and another address's
// notification and a signed-in clerk's upload go through.
func TestNotifyBodyBudget(t *testing.T) {
	e, reads, ct, a := anonEnv(t, nil)
	const attacker, other = "203.0.113.7", "198.51.100.9"
	notify := "/v1/payments/notify/wechat"
	if _, r := stall(t, e, reads, notify, attacker, payment.MaxNotificationBytes+1, []byte("{")); r == nil {
		t.Fatal("a notification declaring more than the limit was read")
	} else {
		r.wants(t, http.StatusRequestEntityTooLarge, "body_too_large", "")
	}
	held, r := stallUntilRefused(t, e, reads, notify, attacker, payment.MaxNotificationBytes, bytes.Repeat([]byte("a"), 65002), 16)
	if len(held) != 2 {
		t.Fatalf("%d notifications of 64 KiB held from one address, want 2 (128 KiB)", len(held))
	}
	r.wantsRetry(t, http.StatusTooManyRequests, "rate_limited")
	// Another address's (unsigned) notification reaches the provider's check.
	if r := e.do("POST", notify, "", "{}", "X-Real-IP", other,
		"Wechatpay-Serial", "x", "Wechatpay-Signature", "x", "Wechatpay-Nonce", "x", "Wechatpay-Timestamp", "1"); r.status != http.StatusUnauthorized {
		t.Fatalf("another address's notification: %d %s", r.status, r.body)
	}
	png := []byte("\x89PNG\r\n\x1a\n0000IHDR")
	doc := append(append([]byte{}, png...), make([]byte, 1<<20-len(png))...)
	e.ok(http.StatusCreated, nil, "POST", "/v1/applications/"+a.ID+"/documents?kind=other&name=a.png", ct, doc)
}

// A JSON body or notification is read within JSONBodyReadTimeout: the
// stalled ones are cut (400, 401 for a notification) and their source's
// share comes back, without the client closing anything.
func TestStalledBodiesAreCut(t *testing.T) {
	e, reads, _, _ := anonEnv(t, func(c *server.Config) { c.Limits.JSONBodyReadTimeout = 200 * time.Millisecond })
	const attacker = "203.0.113.7"
	notify := "/v1/payments/notify/wechat"
	var held []*stalled
	for _, c := range []struct {
		path   string
		length int64
	}{{"/v1/auth/login", 4096}, {"/v1/auth/sms-code", 4096}, {notify, payment.MaxNotificationBytes}} {
		st, r := stall(t, e, reads, c.path, attacker, c.length, []byte("{"))
		if r != nil {
			t.Fatalf("%s: %d %s", c.path, r.status, r.body)
		}
		held = append(held, st)
	}
	for _, st := range held {
		select {
		case r := <-st.done:
			if r.status != http.StatusBadRequest && r.status != http.StatusUnauthorized && r.status != 0 {
				t.Fatalf("a stalled body answered %d %s", r.status, r.body)
			}
		case <-time.After(30 * time.Second): // a failsafe only: the cut comes after 200 ms
			t.Fatal("a stalled body was not cut")
		}
	}
	// The share is back: 64 KiB of the 128 did not fit while they were held.
	if _, r := stall(t, e, reads, notify, attacker, payment.MaxNotificationBytes, []byte("{")); r != nil {
		t.Fatalf("after the cut: %d %s", r.status, r.body)
	}
}
