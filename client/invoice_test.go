package client_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestInvoiceAgainstTheService(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	clerk, _ := e.client()
	e.smsSignIn(clerk, clerkMobile)
	reviewer, _ := e.client()
	if _, err := reviewer.Login(ctx, renewal.PasswordLoginRequest{Account: "reviewer", Password: reviewerPassword}); err != nil {
		t.Fatal(err)
	}
	form := validForm(e.Org, 1)
	a, err := clerk.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.holders["ecdsa"].Serial, Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	if a, err = clerk.Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version}); err != nil {
		t.Fatal(err)
	}
	if _, err = reviewer.Approve(ctx, a.ID, renewal.ReviewRequest{Version: a.Version}); err != nil {
		t.Fatal(err)
	}

	// Before payment, and wrong fields refused here before any request.
	_, err = clerk.RequestInvoice(ctx, a.ID, renewal.InvoiceRequest{})
	wantCode(t, err, http.StatusPaymentRequired, renewal.CodePaymentRequired)
	before := e.requests.Load()
	for field, req := range map[string]renewal.InvoiceRequest{
		"title": {Title: strings.Repeat("长", renewal.MaxInvoiceTitleRunes+1)}, "tax_id": {TaxID: "ABC"},
		"email": {Email: "a@"}, "phone": {Phone: "110"},
	} {
		_, err := clerk.RequestInvoice(ctx, a.ID, req)
		var re *renewal.Error
		if !errors.As(err, &re) || len(re.Fields) != 1 || re.Fields[0].Field != field {
			t.Errorf("%s wrong: %v", field, err)
		}
	}
	_, err = clerk.RequestInvoice(ctx, "", renewal.InvoiceRequest{})
	wantCode(t, err, 0, renewal.CodeRequired)
	if n := e.requests.Load() - before; n != 0 {
		t.Errorf("%d refused requests reached the service", n)
	}
	_, err = clerk.Invoice(ctx, a.ID)
	wantCode(t, err, http.StatusNotFound, renewal.CodeNotFound)

	e.MarkPaid(a.ID)
	// The answer is lost once: the retry with the same key gets the first
	// answer, and there is one invoice.
	tries := e.loseFirstAnswer("/v1/applications/"+a.ID+"/invoice", false)
	st, err := clerk.RequestInvoice(ctx, a.ID, renewal.InvoiceRequest{Email: "billing@example.cn"})
	e.setGate(nil)
	if err != nil || st.State != renewal.InvoiceIssued || st.Number == "" || st.URL == "" || st.Details.Email != "billing@example.cn" || st.Attempts != 1 {
		t.Fatalf("request: %+v, %v", st, err)
	}
	if tries.Load() != 2 {
		t.Errorf("%d POSTs, want 2", tries.Load())
	}
	_, err = clerk.RequestInvoice(ctx, a.ID, renewal.InvoiceRequest{})
	wantCode(t, err, http.StatusConflict, renewal.CodeConflict)

	got, err := clerk.Invoice(ctx, a.ID)
	if err != nil || got.Number != st.Number || got.State != renewal.InvoiceIssued {
		t.Fatalf("status: %+v, %v", got, err)
	}
	// The link works without the session: a client that never signed in.
	anon, _ := e.client()
	pdf, err := anon.InvoicePDF(ctx, got.URL)
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("pdf: %v %.20q", err, pdf)
	}
	for _, link := range []string{"https://evil.example/v1/applications/" + a.ID + "/invoice.pdf?token=1.x",
		strings.Replace(got.URL, "/invoice.pdf", "/form.pdf", 1), "::"} {
		if _, err := anon.InvoicePDF(ctx, link); !errors.Is(err, client.ErrForeignLink) {
			t.Errorf("%s: %v", link, err)
		}
	}
	u, _ := url.Parse(got.URL)
	q := u.Query()
	q.Set("token", q.Get("token")+"x")
	u.RawQuery = q.Encode()
	_, err = anon.InvoicePDF(ctx, u.String())
	wantCode(t, err, http.StatusNotFound, renewal.CodeNotFound)
	e.Clock.Advance(31 * 24 * time.Hour)
	_, err = anon.InvoicePDF(ctx, got.URL)
	wantCode(t, err, http.StatusGone, renewal.CodeLinkExpired)
}
