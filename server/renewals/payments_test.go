package renewals_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// paid has an approved application paid by QR code at the simulator; the
// poll applies the payment.
func (e *env) paid() *renewal.Application {
	e.t.Helper()
	ctx := e.t.Context()
	a := e.arrange(e.draft(), renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending})
	qr, err := e.svc.PaymentQR(ctx, e.clerk, a.ID, renewal.PaymentQRRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	price, _ := renewal.DefaultPolicy().PriceFen(a.Form.Years)
	if qr.Order.AmountFen != price || qr.Order.CodeURL == "" || qr.Order.State != payment.OrderOpen {
		e.t.Fatalf("QR %+v, want an open order of %d fen", qr.Order, price)
	}
	if _, err := e.PaySim.Sim.Pay(qr.Order.OutTradeNo); err != nil {
		e.t.Fatal(err)
	}
	st, err := e.svc.PaymentStatus(ctx, e.clerk, a.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if st.State != renewal.PaymentPaid || st.Order == nil || st.Order.CodeURL != "" {
		e.t.Fatalf("after paying: %+v", st)
	}
	a, err = e.svc.Get(ctx, e.clerk, a.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// Paying is the clerk's once the application allows it; cancelling a paid
// application refunds it in the same transaction as the cancel.
func TestPayAndCancelRefunds(t *testing.T) {
	dialectsPaying(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		draft := e.draft()
		_, err := e.svc.PaymentQR(ctx, e.clerk, draft.ID, renewal.PaymentQRRequest{})
		wantCode(t, err, renewal.CodeActionNotAllowed) // pay after review
		_, err = e.svc.PaymentStatus(ctx, e.otherClerk, draft.ID)
		wantCode(t, err, renewal.CodeNotFound)

		a := e.paid()
		_, err = e.svc.Cancel(ctx, e.clerk, a.ID, renewal.VersionRequest{Version: a.Version - 1})
		wantCode(t, err, renewal.CodeStaleVersion)
		got, err := e.svc.Get(ctx, e.clerk, a.ID)
		if err != nil || got.Payment != renewal.PaymentPaid || got.Status != renewal.StatusApproved {
			t.Fatalf("a stale cancel moved the application: %+v, %v", got, err)
		}
		c, err := e.svc.Cancel(ctx, e.clerk, a.ID, renewal.VersionRequest{Version: a.Version})
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != renewal.StatusCancelled || c.Payment != renewal.PaymentRefunding || c.Version != a.Version+1 {
			t.Fatalf("cancelled %+v", c)
		}
		st, err := e.svc.PaymentStatus(ctx, e.clerk, a.ID)
		if err != nil || len(st.Refunds) != 1 {
			t.Fatalf("refunds %+v, %v; want one", st, err)
		}
		if audit := e.actions("application/" + a.ID); !slices.Contains(audit, "application.cancel") {
			t.Fatalf("audit %v lacks the cancel", audit)
		}
		// An admin's refund of it now: nothing paid is left to refund.
		_, err = e.svc.Refund(ctx, e.admin, a.ID, renewal.RefundRequest{Reason: "again"})
		wantCode(t, err, renewal.CodeActionNotAllowed)
	})
}

// Without a payment module the payment uses say so, and cancelling an
// unpaid application is a plain cancel.
func TestNoPayments(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.draft()
		_, err := e.svc.PaymentQR(ctx, e.clerk, a.ID, renewal.PaymentQRRequest{})
		wantCode(t, err, renewal.CodeActionNotAllowed)
		c, err := e.svc.Cancel(ctx, e.clerk, a.ID, renewal.VersionRequest{Version: a.Version})
		if err != nil || c.Status != renewal.StatusCancelled || c.Payment != renewal.PaymentUnpaid {
			t.Fatalf("cancelled %+v, %v", c, err)
		}
	})
}

// An e-invoice issued for the payment blocks the refund, and so the cancel
// of a paid application: the CA reverses the invoice first.
func TestInvoiceBlocksCancelRefund(t *testing.T) {
	dialectsPaying(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.paid()
		req := renewal.InvoiceRequest{Title: e.Org.Name, TaxID: e.Org.CreditCode, Email: "finance@example.cn", Phone: "13800138000"}
		inv, _, err := e.svc.RequestInvoice(ctx, e.clerk, a.ID, req, func(context.Context, *store.Invoice) {})
		if err != nil || inv.State != renewal.InvoiceIssued {
			t.Fatalf("invoice %+v, %v", inv, err)
		}
		_, err = e.svc.Cancel(ctx, e.clerk, a.ID, renewal.VersionRequest{Version: a.Version})
		wantCode(t, err, renewal.CodeActionNotAllowed)
		got, err := e.svc.Get(ctx, e.clerk, a.ID)
		if err != nil || got.Status != renewal.StatusApproved || got.Payment != renewal.PaymentPaid || got.Version != a.Version {
			t.Fatalf("after the refused cancel %+v, %v", got, err)
		}
	})
}
