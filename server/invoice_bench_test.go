package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// BenchmarkInvoice measures one clerk's e-invoice request over loopback HTTP
// with the real store: POST /v1/applications/{id}/invoice (validation,
// the request row and its audit entry in one commit, the dev issuer's PDF,
// the issued row with the PDF, the SMS and e-mail outboxes, the send's
// audit entry), then GET of the PDF through its signed link (token check,
// the download's audit entry). Making each paid application is not timed.
// Run by hand:
//
//	go test -run '^$' -bench Invoice/sqlite -benchtime 200x ./server/
//	UKEY_TEST_PG_DSN=... go test -run '^$' -bench Invoice/postgres -benchtime 200x ./server/
func BenchmarkInvoice(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) { invoiceBench(b, db == "postgres") })
	}
}

func invoiceBench(b *testing.B, postgres bool) {
	e := newEnv(b, envOptions{postgres: postgres, noValidate: true})
	ct := e.smsSignIn(clerkMobile).AccessToken
	var req, get time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		name := fmt.Sprintf("bench%d", i)
		e.addHolder(name, issuer.ECDSA, e.Org, start.AddDate(0, 0, 40))
		var a renewal.Application
		e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders[name].Serial, Form: ptr(validForm(e.Org, 1))})
		if err := e.Store.Write(b.Context(), func(tx *store.Tx) error {
			_, err := e.Server.SetPaymentState(b.Context(), tx, a.ID, renewal.PaymentPaid)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		var st renewal.InvoiceStatus
		e.ok(http.StatusOK, &st, "POST", "/v1/applications/"+a.ID+"/invoice", ct, renewal.InvoiceRequest{})
		t1 := time.Now()
		r := e.ok(http.StatusOK, nil, "GET", strings.TrimPrefix(st.URL, e.URL), "", nil)
		get += time.Since(t1)
		req += t1.Sub(t0)
		if st.State != renewal.InvoiceIssued || !strings.HasPrefix(string(r.body), "%PDF-") {
			b.Fatalf("invoice %+v", st)
		}
	}
	b.ReportMetric(float64(req.Microseconds())/float64(b.N)/1000, "request-ms/op")
	b.ReportMetric(float64(get.Microseconds())/float64(b.N)/1000, "pdf-ms/op")
}
