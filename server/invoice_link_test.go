package server_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// bulkyIssuer is the development issuer with PDFs padded to size bytes.
type bulkyIssuer struct {
	invoice.DevIssuer
	size int
}

func (b *bulkyIssuer) Issue(ctx context.Context, r invoice.Request) (invoice.Issued, error) {
	is, err := b.DevIssuer.Issue(ctx, r)
	if err == nil && len(is.PDF) < b.size {
		is.PDF = append(is.PDF, bytes.Repeat([]byte{'\n'}, b.size-len(is.PDF))...)
	}
	return is, err
}

func TestInvoiceLinkCheckedBeforeThePDFIsReadSQLite(t *testing.T) { runInvoiceLinkFirst(t, false) }

func TestInvoiceLinkCheckedBeforeThePDFIsReadPostgres(t *testing.T) { runInvoiceLinkFirst(t, true) }

// invoice.pdf is a public route: a forged link is refused before the PDF
// is read from the database, so 20 forged requests for a 2 MiB invoice
// allocate far less than one PDF each (they allocated 20 before).
func runInvoiceLinkFirst(t *testing.T, pg bool) {
	const size = store.MaxInvoicePDFBytes - 1024
	iss := &bulkyIssuer{size: size}
	e := newEnv(t, envOptions{postgres: pg, invoices: iss})
	iss.Now = e.Clock.Now
	ct, a := e.paid("rsa")
	var st renewal.InvoiceStatus
	e.ok(http.StatusOK, &st, "POST", "/v1/applications/"+a.ID+"/invoice", ct, renewal.InvoiceRequest{})
	if st.State != renewal.InvoiceIssued || st.URL == "" {
		t.Fatalf("invoice %+v", st)
	}
	u, _ := url.Parse(st.URL)
	tok := u.Query().Get("token")
	forged := strings.TrimPrefix(st.URL, e.URL)
	forged = forged[:strings.Index(forged, "token=")+len("token=")] + url.QueryEscape(tok[:len(tok)-2]+map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(tok, "AA")])

	const n = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		if r := e.do("GET", forged, "", nil); r.status != http.StatusNotFound || r.errCode() != "not_found" {
			t.Fatalf("forged link: %d %.200s", r.status, r.body)
		}
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d forged links to a %d KiB invoice allocated %d KiB", n, size>>10, alloc>>10)
	if alloc > n*size/4 {
		t.Errorf("%d forged links allocated %d MiB: the %d KiB PDF is read before the link is checked", n, alloc>>20, size>>10)
	}
	// The genuine link still opens it, whole.
	r := e.do("GET", strings.TrimPrefix(st.URL, e.URL), "", nil)
	if r.status != http.StatusOK || len(r.body) != size || r.header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("genuine link: %d, %d bytes", r.status, len(r.body))
	}
}
