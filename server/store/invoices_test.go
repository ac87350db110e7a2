package store

import (
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestInvoices(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		sc := OrgScope(f.orgA.ID)
		ch := Change{Actor: f.clerkA.ID, Action: "invoice.request", IP: "10.0.0.1"}
		details := renewal.InvoiceRequest{Title: f.orgA.Name, TaxID: f.orgA.CreditCode, Email: "finance@example.cn", Phone: "13800138000"}
		request := func(sc Scope, stuckBefore time.Time) (*Invoice, error) {
			inv := &Invoice{ApplicationID: a.ID, Details: details, AmountFen: 300_00}
			return inv, s.Write(ctx, func(tx *Tx) error { return tx.RequestInvoice(ctx, sc, inv, stuckBefore, ch) })
		}
		_, err := s.Invoice(ctx, sc, a.ID)
		wantErr(t, err, ErrNotFound)
		state := func() renewal.InvoiceState {
			var st renewal.InvoiceState
			must(t, s.Write(ctx, func(tx *Tx) error { var err error; st, err = tx.InvoiceState(ctx, a.ID); return err }))
			return st
		}
		if st := state(); st != "" {
			t.Fatalf("state before any request: %q", st)
		}
		// Another organisation cannot request it, nor see it.
		_, err = request(OrgScope(f.orgB.ID), clk.Now())
		wantErr(t, err, ErrNotFound)
		// Wrong amount: refused.
		bad := &Invoice{ApplicationID: a.ID, Details: details}
		wantErr(t, s.Write(ctx, func(tx *Tx) error { return tx.RequestInvoice(ctx, sc, bad, clk.Now(), ch) }), ErrInvalid)

		inv, err := request(sc, clk.Now().Add(-10*time.Minute))
		must(t, err)
		if inv.Attempts != 1 || inv.State != renewal.InvoiceRequested {
			t.Fatalf("requested: %+v", inv)
		}
		// While in progress, a second request is a conflict; once it is
		// older than the stuck limit it may be asked again.
		_, err = request(sc, clk.Now().Add(-10*time.Minute))
		wantErr(t, err, ErrConflict)
		clk.Advance(11 * time.Minute)
		inv, err = request(sc, clk.Now().Add(-10*time.Minute))
		must(t, err)
		if inv.Attempts != 2 {
			t.Fatalf("retried stuck: %+v", inv)
		}
		must(t, s.FailInvoice(ctx, a.ID, "platform down", ch))
		wantErr(t, s.FailInvoice(ctx, a.ID, "again", ch), ErrConflict)
		got, err := s.Invoice(ctx, sc, a.ID)
		must(t, err)
		if got.State != renewal.InvoiceFailed || got.Reason != "platform down" || got.Details != details {
			t.Fatalf("failed: %+v", got)
		}
		_, _, err = s.InvoicePDF(ctx, a.ID)
		wantErr(t, err, ErrNotFound)
		// Retry after the failure, with corrected details.
		details.Email = "new@example.cn"
		inv, err = request(sc, clk.Now().Add(-10*time.Minute))
		must(t, err)
		if inv.Attempts != 3 {
			t.Fatalf("retry: %+v", inv)
		}
		wantErr(t, s.FinishInvoice(ctx, a.ID, "", []byte("%PDF"), clk.Now(), ch), ErrInvalid)
		wantErr(t, s.FinishInvoice(ctx, a.ID, "1", make([]byte, MaxInvoicePDFBytes+1), clk.Now(), ch), ErrInvalid)
		must(t, s.FinishInvoice(ctx, a.ID, "26306000000012345678", []byte("%PDF-1.4 invoice"), clk.Now(), ch))
		wantErr(t, s.FinishInvoice(ctx, a.ID, "26306000000012345679", []byte("%PDF"), clk.Now(), ch), ErrConflict)
		got, err = s.Invoice(ctx, sc, a.ID)
		must(t, err)
		if got.State != renewal.InvoiceIssued || got.Number != "26306000000012345678" || got.IssuedAt == nil || got.Details.Email != "new@example.cn" || got.Reason != "" {
			t.Fatalf("issued: %+v", got)
		}
		if st := state(); st != renewal.InvoiceIssued {
			t.Errorf("state: %q", st)
		}
		n, pdf, err := s.InvoicePDF(ctx, a.ID)
		must(t, err)
		if n != got.Number || string(pdf) != "%PDF-1.4 invoice" {
			t.Errorf("pdf: %s %q", n, pdf)
		}
		// Issued: one invoice an application.
		_, err = request(sc, clk.Now().Add(time.Hour))
		wantErr(t, err, ErrConflict)
		verifyOK(t, s)
	})
}

func TestInvoiceAttemptsAreBounded(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		ch := Change{Actor: f.clerkA.ID, Action: "invoice.request"}
		for i := 1; i <= renewal.MaxInvoiceAttempts+1; i++ {
			inv := &Invoice{ApplicationID: a.ID, Details: renewal.InvoiceRequest{Title: "t", TaxID: "x", Email: "e@x.cn", Phone: "13800138000"}, AmountFen: 1}
			err := s.Write(ctx, func(tx *Tx) error { return tx.RequestInvoice(ctx, AllScope(), inv, clk.Now(), ch) })
			if i > renewal.MaxInvoiceAttempts {
				wantErr(t, err, ErrLimit)
				break
			}
			must(t, err)
			must(t, s.FailInvoice(ctx, a.ID, "down", ch))
		}
	})
}

func TestKeyReceipt(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		sc := OrgScope(f.orgA.ID)
		got, err := s.KeyReceipt(ctx, sc, a.ID)
		must(t, err)
		if got != nil {
			t.Fatalf("confirmed before anyone did: %v", got)
		}
		first := clk.Now()
		ch := Change{Actor: f.clerkA.ID, Action: "application.key_receipt"}
		var at time.Time
		must(t, s.Write(ctx, func(tx *Tx) error { at, err = tx.ConfirmKeyReceipt(ctx, a.ID, "invoice_request", ch); return err }))
		clk.Advance(time.Hour)
		var again time.Time
		must(t, s.Write(ctx, func(tx *Tx) error { again, err = tx.ConfirmKeyReceipt(ctx, a.ID, "invoice_request", ch); return err }))
		if !at.Equal(first) || !again.Equal(first) {
			t.Errorf("confirmed at %v then %v, want %v both", at, again, first)
		}
		got, err = s.KeyReceipt(ctx, sc, a.ID)
		must(t, err)
		if got == nil || !got.Equal(first) {
			t.Errorf("receipt: %v", got)
		}
		_, err = s.KeyReceipt(ctx, OrgScope(f.orgB.ID), a.ID)
		wantErr(t, err, ErrNotFound)
	})
}
