package renewals

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Reasons the clerk sees when issuing fails (never the platform's raw error).
const (
	invoiceReasonRejected    = "开票平台拒绝了发票信息，请核对抬头和纳税人识别号后重新申请 (the e-invoice platform refused the details: check the title and taxpayer ID and request again)"
	invoiceReasonUnavailable = "开票平台暂时不可用，请稍后重新申请 (the e-invoice platform is unavailable: request again later)"
)

// CheckInvoices refuses, as not allowed, when invoices are not configured.
func (s *Service) CheckInvoices() error {
	if s.invoices == nil {
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "e-invoices are not configured on this service")
	}
	return nil
}

// RequestInvoice asks for the e-invoice of a paid application (the clerk
// of the application only; the details default to its invoice fields).
// The request is stored first, with the receipt of a key sent by post
// when the application's pickup is by post, so one application gets one
// invoice; then the issuer is called outside the transaction and its
// result stored, and send delivers the link of an issued invoice. Issuing
// and sending finish even if the caller goes away, within
// InvoiceIssueTimeout. It answers the invoice as it now is and the
// receipt's time (nil if none was confirmed).
func (s *Service) RequestInvoice(ctx context.Context, c Caller, id string, req renewal.InvoiceRequest,
	send func(ctx context.Context, inv *store.Invoice)) (*store.Invoice, *time.Time, error) {
	if err := s.CheckInvoices(); err != nil {
		return nil, nil, err
	}
	if err := CheckID(id); err != nil {
		return nil, nil, err
	}
	if c.User.Role != renewal.RoleClerk {
		return nil, nil, renewal.Errorf(renewal.CodeForbidden, "", "the clerk of the application requests its invoice")
	}
	a, err := s.load(ctx, c, id, "")
	if err != nil {
		return nil, nil, err
	}
	if err := renewal.InvoiceAllowed(a.State); err != nil {
		return nil, nil, err
	}
	details := req.Merge(a.Form.Invoice)
	if err := details.ValidateComplete(); err != nil {
		return nil, nil, err
	}
	inv := &store.Invoice{ApplicationID: id, Details: details, AmountFen: a.PriceFen}
	var receipt *time.Time
	err = s.store.Write(ctx, func(tx *store.Tx) error {
		// Again inside the transaction: a cancel may have come meanwhile.
		cur, err := tx.Application(ctx, c.Scope(), id)
		if err != nil {
			return err
		}
		if err := renewal.InvoiceAllowed(cur.State); err != nil {
			return err
		}
		if err := tx.RequestInvoice(ctx, c.Scope(), inv, s.now().Add(-s.invoiceStuckAfter), c.Change("invoice.request")); err != nil {
			return err
		}
		if cur.Form.Pickup.Method == renewal.PickupPost {
			// Tiangu's rule: asking for the invoice confirms the posted key arrived.
			t, err := tx.ConfirmKeyReceipt(ctx, id, "invoice_request", c.Change("application.key_receipt"))
			if err != nil {
				return err
			}
			receipt = &t
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, nil, renewal.Errorf(renewal.CodeConflict, "", "the invoice of this application was already requested")
	case errors.Is(err, store.ErrLimit):
		return nil, nil, renewal.Errorf(renewal.CodeRateLimited, "", "the invoice was asked for %d times: contact the CA", renewal.MaxInvoiceAttempts)
	case err != nil:
		return nil, nil, StoreError(err, "")
	}
	s.issueInvoice(ctx, c, a, inv, send)
	return inv, receipt, nil
}

// issueInvoice calls the Issuer for a requested invoice and stores the
// result in inv; then sends the link.
func (s *Service) issueInvoice(ctx context.Context, c Caller, a *renewal.Application, inv *store.Invoice,
	send func(ctx context.Context, inv *store.Invoice)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.invoiceIssueTimeout)
	defer cancel()
	d := inv.Details
	got, err := s.invoices.Issue(ctx, invoice.Request{ApplicationID: a.ID, Title: d.Title, TaxID: d.TaxID, Email: d.Email,
		Phone: d.Phone, AmountFen: inv.AmountFen, Years: a.Form.Years, CertSerial: a.CertSerial})
	if err == nil && (got.Number == "" || len(got.PDF) == 0 || len(got.PDF) > store.MaxInvoicePDFBytes) {
		err = fmt.Errorf("issuer returned number %q and a PDF of %d bytes", got.Number, len(got.PDF))
	}
	if err == nil {
		err = s.store.FinishInvoice(ctx, a.ID, got.Number, got.PDF, got.IssuedAt, c.Change("invoice.issued"))
	}
	if err != nil {
		s.log.WarnContext(ctx, "invoice not issued", "application", a.ID, "err", err.Error())
		reason := invoiceReasonUnavailable
		if errors.Is(err, invoice.ErrRejected) {
			reason = invoiceReasonRejected
		}
		if ferr := s.store.FailInvoice(ctx, a.ID, reason, c.Change("invoice.failed")); ferr != nil {
			s.log.ErrorContext(ctx, "invoice failure not stored", "application", a.ID, "err", ferr.Error())
			return // stays requested: may be asked again after InvoiceStuckAfter
		}
		inv.State, inv.Reason = renewal.InvoiceFailed, reason
		s.count("invoice_failed")
		return
	}
	at := got.IssuedAt.UTC()
	inv.State, inv.Number, inv.IssuedAt = renewal.InvoiceIssued, got.Number, &at
	s.count("invoice_issued")
	send(ctx, inv)
}

// Invoice returns the invoice of application id and the receipt's time of
// a key sent by post (nil if none was confirmed).
func (s *Service) Invoice(ctx context.Context, c Caller, id string) (*store.Invoice, *time.Time, error) {
	if err := s.CheckInvoices(); err != nil {
		return nil, nil, err
	}
	if err := CheckID(id); err != nil {
		return nil, nil, err
	}
	inv, err := s.store.Invoice(ctx, c.Scope(), id)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := s.load(ctx, c, id, ""); err != nil {
			return nil, nil, err
		}
		return nil, nil, renewal.Errorf(renewal.CodeNotFound, "", "no invoice was requested for this application")
	}
	if err != nil {
		return nil, nil, StoreError(err, "")
	}
	receipt, err := s.store.KeyReceipt(ctx, c.Scope(), id)
	if err != nil {
		return nil, nil, StoreError(err, "")
	}
	return inv, receipt, nil
}
