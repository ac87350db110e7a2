package server_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

func TestInvoicesNeedIssuerAndMailer(t *testing.T) {
	e := newEnv(t, envOptions{})
	for name, d := range map[string]server.Deps{
		"issuer without mailer": {Invoices: &invoice.DevIssuer{}},
		"mailer without issuer": {Mailer: invoice.NewOutbox(e.Clock.Now)},
	} {
		d.Store, d.Issuer, d.SMS, d.Bank, d.Pepper = e.Store, e.CA, e.SMS, e.Bank, []byte("test pepper, 32 bytes long......")
		if _, err := server.New(server.DefaultConfig(), d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg := server.DefaultConfig()
	cfg.Limits.InvoiceLinkTTL = 0
	d := server.Deps{Store: e.Store, Issuer: e.CA, SMS: e.SMS, Bank: e.Bank, Pepper: []byte("test pepper, 32 bytes long......"),
		Invoices: &invoice.DevIssuer{}, Mailer: e.Mail}
	if _, err := server.New(cfg, d); err == nil {
		t.Error("a zero link lifetime was accepted")
	}
	// In production the links' base is configured, never the Host header.
	cfg = server.DefaultConfig()
	if _, err := server.New(cfg, d); err == nil {
		t.Error("invoices without a public URL were accepted")
	}
	for _, bad := range []string{"renew.example.cn", "ftp://renew.example.cn", "https://", "https://renew.example.cn/?x=1"} {
		cfg.PublicURL = bad
		if _, err := server.New(cfg, d); err == nil {
			t.Errorf("public URL %q accepted", bad)
		}
	}
	cfg.PublicURL = "https://renew.example-ca.cn/"
	if _, err := server.New(cfg, d); err != nil {
		t.Errorf("public URL: %v", err)
	}
}

// With a public URL, the links use it whatever Host the request named.
func TestInvoiceLinkUsesThePublicURL(t *testing.T) {
	iss := &invoice.DevIssuer{}
	e := newEnv(t, envOptions{invoices: iss, cfg: func(c *server.Config) { c.PublicURL = "https://renew.example-ca.cn/" }})
	iss.Now = e.Clock.Now
	ct, a := e.paid("rsa")
	var st renewal.InvoiceStatus
	e.ok(http.StatusOK, &st, "POST", "/v1/applications/"+a.ID+"/invoice", ct, renewal.InvoiceRequest{}, "Host", "evil.example")
	if !strings.HasPrefix(st.URL, "https://renew.example-ca.cn/v1/applications/"+a.ID+"/invoice.pdf?token=") {
		t.Fatalf("link %q", st.URL)
	}
	for _, m := range e.SMS.Messages(clerkMobile) {
		if m.Link != "" && !strings.HasPrefix(m.Link, "https://renew.example-ca.cn/") {
			t.Errorf("SMS link %q", m.Link)
		}
	}
}

func TestInvoicesSQLite(t *testing.T) { runInvoices(t, false) }

func TestInvoicesPostgres(t *testing.T) { runInvoices(t, true) }

// fieldsOf lists the fields a refusal names.
func fieldsOf(r resp) []string {
	var e renewal.Error
	_ = json.Unmarshal(r.body, &e)
	out := []string{e.Field}
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

// paid is an application of the clerk's for holder, approved and paid,
// and the clerk's access token.
func (e *env) paid(holder string) (string, renewal.Application) {
	e.t.Helper()
	ct := e.smsSignIn(clerkMobile).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	a := e.approved(ct, reviewer, holder)
	e.payQR(ct, a.ID)
	return ct, a
}

func runInvoices(t *testing.T, postgres bool) {
	iss := renewdtest.NewFlakyIssuer()
	e := newEnv(t, envOptions{postgres: postgres, invoices: iss})
	iss.Dev.Now = e.Clock.Now
	ct := e.smsSignIn(clerkMobile).AccessToken
	other := e.smsSignIn(otherClerkMobile).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	for _, name := range []string{"i1", "i2", "i3"} {
		e.addHolder(name, issuer.ECDSA, e.Org, start.AddDate(0, 0, 40))
	}
	a := e.approved(ct, reviewer, "i1")
	base := "/v1/applications/" + a.ID + "/invoice"

	t.Run("before payment", func(t *testing.T) {
		e.fails(http.StatusPaymentRequired, "payment_required", "POST", base, ct, renewal.InvoiceRequest{})
		e.fails(http.StatusNotFound, "not_found", "GET", base, ct, nil)
	})
	e.payQR(ct, a.ID)

	t.Run("wrong input", func(t *testing.T) {
		for field, req := range map[string]renewal.InvoiceRequest{
			"title":  {Title: strings.Repeat("长", renewal.MaxInvoiceTitleRunes+1)},
			"tax_id": {TaxID: "12345"},
			"email":  {Email: "finance@"},
			"phone":  {Phone: "12345678901"},
		} {
			r := e.fails(http.StatusBadRequest, "invalid_field", "POST", base, ct, req)
			if !slices.Contains(fieldsOf(r), field) {
				t.Errorf("%s wrong: fields %v", field, fieldsOf(r))
			}
		}
		// A Chinese user name would be lost in the mail: refused, saying why.
		r := e.fails(http.StatusBadRequest, "invalid_field", "POST", base, ct, renewal.InvoiceRequest{Email: "用户@例子.中国"})
		if !slices.Contains(fieldsOf(r), "email") || !strings.Contains(string(r.body), "@ 前面的部分") {
			t.Errorf("Chinese user name: %s", r.body)
		}
		e.fails(http.StatusBadRequest, "invalid_request", "POST", base, ct, `{"title": "x", "colour": "red"}`)
		e.fails(http.StatusBadRequest, "invalid_request", "POST", base, ct, `{"title": `)
		e.fails(http.StatusBadRequest, "invalid_field", "POST", base, ct, `["title"]`)
		e.fails(http.StatusUnauthorized, "unauthenticated", "POST", base, "", renewal.InvoiceRequest{})
		e.fails(http.StatusNotFound, "not_found", "POST", base, other, renewal.InvoiceRequest{})
		e.fails(http.StatusNotFound, "not_found", "GET", base, other, nil)
		e.fails(http.StatusForbidden, "forbidden", "POST", base, reviewer, renewal.InvoiceRequest{})
		e.fails(http.StatusNotFound, "not_found", "POST", "/v1/applications/nope/invoice", ct, renewal.InvoiceRequest{})
		e.fails(http.StatusNotFound, "not_found", "POST", "/v1/applications/"+strings.Repeat("a", 65)+"/invoice", ct, renewal.InvoiceRequest{})
		// Nothing was stored by any of them.
		e.fails(http.StatusNotFound, "not_found", "GET", base, ct, nil)
	})

	var st renewal.InvoiceStatus
	t.Run("platform refuses, then is down, then issues", func(t *testing.T) {
		iss.Fail(invoice.ErrRejected)
		e.ok(http.StatusOK, &st, "POST", base, ct, renewal.InvoiceRequest{})
		if st.State != renewal.InvoiceFailed || !strings.Contains(st.Reason, "taxpayer ID") || st.URL != "" || st.Attempts != 1 {
			t.Fatalf("rejected: %+v", st)
		}
		iss.Fail(errors.New("connection reset by the platform"))
		st = renewal.InvoiceStatus{}
		e.ok(http.StatusOK, &st, "POST", base, ct, renewal.InvoiceRequest{})
		if st.State != renewal.InvoiceFailed || !strings.Contains(st.Reason, "unavailable") || strings.Contains(st.Reason, "reset") || st.Attempts != 2 {
			t.Fatalf("down: %+v", st)
		}
		iss.Fail(nil)
		// Corrected at request time: another e-mail address.
		st = renewal.InvoiceStatus{}
		e.ok(http.StatusOK, &st, "POST", base, ct, renewal.InvoiceRequest{Email: " Billing@Example.cn "})
		if st.State != renewal.InvoiceIssued || !regexp.MustCompile(`^[0-9]{20}$`).MatchString(st.Number) || st.Attempts != 3 ||
			st.Details.Email != "Billing@Example.cn" || st.Details.Title != e.Org.Name || st.Details.Phone != clerkMobile ||
			st.AmountFen != a.PriceFen || st.Kind != "vat_ordinary" || st.ReceiptConfirmedAt != nil || st.URL == "" || st.Reason != "" {
			t.Fatalf("issued: %+v", st)
		}
	})

	t.Run("the link goes to the phone and the e-mail", func(t *testing.T) {
		var sent string
		for _, m := range e.SMS.Messages(clerkMobile) {
			if m.Purpose == "invoice" {
				sent = m.Link
			}
		}
		if !strings.Contains(sent, "/v1/applications/"+a.ID+"/invoice.pdf?token=") {
			t.Fatalf("SMS link: %q", sent)
		}
		mails := e.Mail.Mails("Billing@Example.cn")
		if len(mails) != 1 || !strings.Contains(mails[0].Body, sent) || !strings.Contains(mails[0].Subject, st.Number) {
			t.Fatalf("mails: %+v", mails)
		}
		var dev []invoice.SentMail
		e.ok(http.StatusOK, &dev, "GET", "/dev/outbox/mail?to="+url.QueryEscape("Billing@Example.cn"), "", nil)
		if len(dev) != 1 || dev[0].Subject != mails[0].Subject {
			t.Errorf("dev outbox: %+v", dev)
		}
		if len(e.Mail.Mails("finance@example.cn")) != 0 {
			t.Error("the form's old address got the invoice too")
		}
		r := e.ok(http.StatusOK, nil, "GET", strings.TrimPrefix(sent, e.URL), "", nil)
		if r.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(string(r.body), "%PDF-") ||
			!strings.Contains(r.header.Get("Content-Disposition"), st.Number) {
			t.Fatalf("PDF: %v %.20q", r.header, r.body)
		}
	})

	t.Run("one invoice an application", func(t *testing.T) {
		e.fails(http.StatusConflict, "conflict", "POST", base, ct, renewal.InvoiceRequest{})
		var again renewal.InvoiceStatus
		e.ok(http.StatusOK, &again, "GET", base, ct, nil)
		if again.Number != st.Number || again.State != renewal.InvoiceIssued {
			t.Fatalf("after a double request: %+v", again)
		}
		// Staff may look too.
		e.ok(http.StatusOK, &again, "GET", base, reviewer, nil)
	})

	t.Run("no refund once invoiced", func(t *testing.T) {
		// Within the 7-day cancel window, which would otherwise refund.
		var cur renewal.Application
		e.ok(http.StatusOK, &cur, "GET", "/v1/applications/"+a.ID, ct, nil)
		r := e.fails(http.StatusConflict, "action_not_allowed", "POST", "/v1/applications/"+a.ID+"/cancel", ct, renewal.VersionRequest{Version: cur.Version},
			"Accept-Language", "zh-CN")
		// The clerk reads why, not the generic refusal.
		var refusal struct{ Message string }
		if err := json.Unmarshal(r.body, &refusal); err != nil || !strings.Contains(refusal.Message, "红字发票") {
			t.Fatalf("refusal in Chinese: %s", r.body)
		}
		var after renewal.Application
		e.ok(http.StatusOK, &after, "GET", "/v1/applications/"+a.ID, ct, nil)
		if after.State != cur.State || after.Version != cur.Version {
			t.Fatalf("a refused cancel changed %+v into %+v", cur.State, after.State)
		}
	})

	t.Run("forged and expired links", func(t *testing.T) {
		u, _ := url.Parse(st.URL)
		tok := u.Query().Get("token")
		pdf := base + ".pdf?token="
		dot := strings.IndexByte(tok, '.')
		stretched := "9999999999" + tok[dot:]
		flipped := tok[:len(tok)-1] + map[bool]string{true: "A", false: "B"}[tok[len(tok)-1] != 'A']
		for name, p := range map[string]string{
			"no token": base + ".pdf", "empty": pdf, "flipped": pdf + url.QueryEscape(flipped),
			"stretched": pdf + url.QueryEscape(stretched), "garbage": pdf + "x.y", "too long": pdf + strings.Repeat("1", 200),
			"other application": "/v1/applications/" + e.holders["i2"].Serial + "/invoice.pdf?token=" + url.QueryEscape(tok),
		} {
			if r := e.do("GET", p, "", nil); r.status != http.StatusNotFound || r.errCode() != "not_found" {
				t.Errorf("%s: %d %s", name, r.status, r.body)
			}
		}
		e.Clock.Advance(server.DefaultConfig().Limits.InvoiceLinkTTL)
		e.fails(http.StatusGone, "link_expired", "GET", strings.TrimPrefix(st.URL, e.URL), "", nil)
		ct = e.smsSignIn(clerkMobile).AccessToken // the session ran out meanwhile
		admin = e.passwordSignIn("admin", adminPassword).AccessToken
		reviewer = e.passwordSignIn("reviewer", reviewerPassword).AccessToken
		var fresh renewal.InvoiceStatus
		e.ok(http.StatusOK, &fresh, "GET", base, ct, nil)
		if fresh.URL == st.URL || fresh.URLExpiresAt == nil || !fresh.URLExpiresAt.After(e.Clock.Now()) {
			t.Fatalf("fresh link: %+v", fresh)
		}
		e.ok(http.StatusOK, nil, "GET", strings.TrimPrefix(fresh.URL, e.URL), "", nil)
	})

	t.Run("audited", func(t *testing.T) {
		acts := e.auditActions(admin, a.ID)
		for act, n := range map[string]int{"invoice.request": 3, "invoice.failed": 2, "invoice.issued": 1, "invoice.send": 1, "invoice.download": 2} {
			if count(acts, act) != n {
				t.Errorf("%s audited %d times, want %d: %v", act, count(acts, act), n, acts)
			}
		}
		var ok renewal.AuditVerification
		e.ok(http.StatusOK, &ok, "GET", "/v1/audit/verify", admin, nil)
		if !ok.OK {
			t.Errorf("audit chain: %+v", ok)
		}
	})

	t.Run("a refunded application gets none", func(t *testing.T) {
		b := e.approved(ct, reviewer, "i2")
		b = e.payQR(ct, b.ID)
		e.ok(http.StatusOK, &b, "POST", "/v1/applications/"+b.ID+"/cancel", ct, renewal.VersionRequest{Version: b.Version})
		if b.Status != renewal.StatusCancelled || b.Payment != renewal.PaymentRefunding {
			t.Fatalf("cancelled: %+v", b.State)
		}
		e.fails(http.StatusConflict, "action_not_allowed", "POST", "/v1/applications/"+b.ID+"/invoice", ct, renewal.InvoiceRequest{})
		e.fails(http.StatusNotFound, "not_found", "GET", "/v1/applications/"+b.ID+"/invoice", ct, nil)
	})

	t.Run("asking for the invoice confirms a posted key arrived", func(t *testing.T) {
		var c renewal.Application
		f := validForm(e.Org, 1)
		f.Pickup = renewal.Pickup{Method: renewal.PickupPost, Recipient: "张三", Mobile: clerkMobile, Address: "广东省深圳市南山区科技园路1号"}
		f.Invoice = renewal.Invoice{Kind: renewal.InvoiceNone}
		e.ok(http.StatusCreated, &c, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["i3"].Serial, Form: &f})
		e.ok(http.StatusOK, &c, "POST", "/v1/applications/"+c.ID+"/submit", ct, renewal.SubmitRequest{Version: c.Version})
		e.ok(http.StatusOK, &c, "POST", "/v1/applications/"+c.ID+"/approve", reviewer, renewal.ReviewRequest{Version: c.Version})
		e.payQR(ct, c.ID)
		p := "/v1/applications/" + c.ID + "/invoice"
		// The form wanted no invoice: every field must come with the request.
		r := e.fails(http.StatusBadRequest, "invalid_field", "POST", p, ct, renewal.InvoiceRequest{})
		if got := fieldsOf(r); !slices.Contains(got, "title") || !slices.Contains(got, "tax_id") || !slices.Contains(got, "email") || !slices.Contains(got, "phone") {
			t.Errorf("empty request without form fields: %v", got)
		}
		var st renewal.InvoiceStatus
		e.ok(http.StatusOK, &st, "POST", p, ct, renewal.InvoiceRequest{Title: e.Org.Name, TaxID: strings.ToLower(e.Org.CreditCode), Email: "a@example.cn", Phone: "+86 138 0013 8000"})
		if st.State != renewal.InvoiceIssued || st.ReceiptConfirmedAt == nil || st.Details.TaxID != e.Org.CreditCode || st.Details.Phone != clerkMobile {
			t.Fatalf("posted key: %+v", st)
		}
		when := *st.ReceiptConfirmedAt
		e.Clock.Advance(10 * time.Minute)
		e.ok(http.StatusOK, &st, "GET", p, ct, nil)
		if st.ReceiptConfirmedAt == nil || !st.ReceiptConfirmedAt.Equal(when) {
			t.Errorf("receipt: %v, want %v", st.ReceiptConfirmedAt, when)
		}
		if n := count(e.auditActions(admin, c.ID), "application.key_receipt"); n != 1 {
			t.Errorf("key receipt audited %d times", n)
		}
	})
}
