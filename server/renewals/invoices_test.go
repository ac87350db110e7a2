package renewals_test

import (
	"context"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The clerk asks for the invoice of a paid application once; the issuer's
// refusal is stored with the clerk's reason and may be asked again; the
// link of an issued invoice is sent.
func TestRequestInvoice(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		var sent []string
		send := func(_ context.Context, inv *store.Invoice) { sent = append(sent, inv.Number) }
		req := renewal.InvoiceRequest{Title: e.Org.Name, TaxID: e.Org.CreditCode, Email: "finance@example.cn", Phone: "13800138000"}

		unpaid := e.draft()
		_, _, err := e.svc.RequestInvoice(ctx, e.clerk, unpaid.ID, req, send)
		wantCode(t, err, renewal.CodePaymentRequired)
		a := e.arrange(e.draft(), renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyPending})
		_, _, err = e.svc.RequestInvoice(ctx, e.reviewer, a.ID, req, send)
		wantCode(t, err, renewal.CodeForbidden)
		_, _, err = e.svc.RequestInvoice(ctx, e.otherClerk, a.ID, req, send)
		wantCode(t, err, renewal.CodeNotFound)
		_, _, err = e.svc.Invoice(ctx, e.clerk, a.ID)
		wantCode(t, err, renewal.CodeNotFound)

		e.invoices.Fail(invoice.ErrRejected)
		inv, receipt, err := e.svc.RequestInvoice(ctx, e.clerk, a.ID, req, send)
		if err != nil {
			t.Fatal(err)
		}
		if inv.State != renewal.InvoiceFailed || inv.Reason == "" || receipt != nil || len(sent) != 0 || e.counts["invoice_failed"] != 1 {
			t.Fatalf("refused: %+v, receipt %v, sent %v", inv, receipt, sent)
		}
		e.invoices.Fail(nil)
		inv, _, err = e.svc.RequestInvoice(ctx, e.clerk, a.ID, req, send)
		if err != nil {
			t.Fatal(err)
		}
		if inv.State != renewal.InvoiceIssued || inv.Number == "" || len(sent) != 1 || sent[0] != inv.Number {
			t.Fatalf("issued: %+v, sent %v", inv, sent)
		}
		_, _, err = e.svc.RequestInvoice(ctx, e.clerk, a.ID, req, send)
		wantCode(t, err, renewal.CodeConflict)
		got, _, err := e.svc.Invoice(ctx, e.reviewer, a.ID)
		if err != nil || got.Number != inv.Number || got.Attempts != 2 {
			t.Fatalf("read back %+v, %v", got, err)
		}
	})
}
