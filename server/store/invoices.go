package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Invoice is an application's e-invoice as the store keeps it (the PDF is
// read on its own with InvoicePDF). One row an application: a retry after a
// failure updates it in place.
type Invoice struct {
	ApplicationID string
	State         renewal.InvoiceState
	Details       renewal.InvoiceRequest
	AmountFen     int64
	Attempts      int
	Number        string
	Reason        string
	RequestedAt   time.Time
	IssuedAt      *time.Time
}

// MaxInvoicePDFBytes bounds a stored invoice PDF.
const MaxInvoicePDFBytes = 2 << 20

// RequestInvoice records a request for the invoice of application
// inv.ApplicationID (as sc sees it), in state requested. A second request
// is ErrConflict while one is issued or in progress; a request left in
// progress since before stuckBefore (the service died while issuing), or a
// failed one, may be asked again, up to renewal.MaxInvoiceAttempts
// (ErrLimit). inv's state, attempts and time are filled in.
func (tx *Tx) RequestInvoice(ctx context.Context, sc Scope, inv *Invoice, stuckBefore time.Time, ch Change) error {
	if err := tx.mustWrite(); err != nil {
		return err
	}
	if inv.AmountFen <= 0 {
		return fmt.Errorf("invoice amount %d: %w", inv.AmountFen, ErrInvalid)
	}
	if _, err := tx.Application(ctx, sc, inv.ApplicationID); err != nil {
		return err
	}
	prev, err := tx.invoice(ctx, inv.ApplicationID)
	d := inv.Details
	inv.State, inv.RequestedAt, inv.Reason, inv.Number, inv.IssuedAt = renewal.InvoiceRequested, tx.now, "", "", nil
	switch {
	case errors.Is(err, ErrNotFound):
		inv.Attempts = 1
		if _, err := tx.q.ExecContext(ctx, `INSERT INTO invoices (application_id, state, title, tax_id, email, phone, amount_fen, attempts, requested_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, inv.ApplicationID, string(inv.State), d.Title, d.TaxID, d.Email, d.Phone,
			inv.AmountFen, inv.Attempts, micros(tx.now)); err != nil {
			return fmt.Errorf("request invoice: %w", mapErr(err))
		}
	case err != nil:
		return err
	case prev.State == renewal.InvoiceIssued,
		prev.State == renewal.InvoiceRequested && !prev.RequestedAt.Before(stuckBefore):
		return fmt.Errorf("invoice of application %s is %s: %w", inv.ApplicationID, prev.State, ErrConflict)
	case prev.Attempts >= renewal.MaxInvoiceAttempts:
		return fmt.Errorf("invoice asked %d times: %w", prev.Attempts, ErrLimit)
	default:
		inv.Attempts = prev.Attempts + 1
		res, err := tx.q.ExecContext(ctx, `UPDATE invoices SET state = $1, title = $2, tax_id = $3, email = $4, phone = $5,
			amount_fen = $6, attempts = $7, reason = '', requested_at = $8
			WHERE application_id = $9 AND state = $10 AND attempts = $11`, string(inv.State), d.Title, d.TaxID, d.Email, d.Phone,
			inv.AmountFen, inv.Attempts, micros(tx.now), inv.ApplicationID, string(prev.State), prev.Attempts)
		if err != nil {
			return fmt.Errorf("request invoice: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("invoice changed meanwhile: %w", ErrConflict)
		}
	}
	return tx.Audit(ch, "application/"+inv.ApplicationID, nil, map[string]any{"invoice": "requested", "attempt": inv.Attempts,
		"title": d.Title, "tax_id": d.TaxID, "email": d.Email, "phone": d.Phone, "amount_fen": inv.AmountFen})
}

// FinishInvoice stores the issued invoice of a requested one.
func (s *Store) FinishInvoice(ctx context.Context, appID, number string, pdf []byte, issuedAt time.Time, ch Change) error {
	if number == "" || len(pdf) == 0 || len(pdf) > MaxInvoicePDFBytes {
		return fmt.Errorf("issued invoice needs a number and a PDF of 1..%d bytes: %w", MaxInvoicePDFBytes, ErrInvalid)
	}
	return s.Write(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE invoices SET state = $1, number = $2, pdf = $3, issued_at = $4
			WHERE application_id = $5 AND state = $6`, string(renewal.InvoiceIssued), number, pdf, micros(issuedAt.UTC()),
			appID, string(renewal.InvoiceRequested))
		if err != nil {
			return fmt.Errorf("finish invoice: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("invoice of %s is not being issued: %w", appID, ErrConflict)
		}
		return tx.Audit(ch, "application/"+appID, nil, map[string]any{"invoice": "issued", "number": number, "pdf_bytes": len(pdf)})
	})
}

// FailInvoice records why issuing a requested invoice failed.
func (s *Store) FailInvoice(ctx context.Context, appID, reason string, ch Change) error {
	return s.Write(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE invoices SET state = $1, reason = $2 WHERE application_id = $3 AND state = $4`,
			string(renewal.InvoiceFailed), reason, appID, string(renewal.InvoiceRequested))
		if err != nil {
			return fmt.Errorf("fail invoice: %w", mapErr(err))
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("invoice of %s is not being issued: %w", appID, ErrConflict)
		}
		return tx.Audit(ch, "application/"+appID, nil, map[string]any{"invoice": "failed", "reason": reason})
	})
}

func (tx *Tx) invoice(ctx context.Context, appID string) (*Invoice, error) {
	var inv Invoice
	var state string
	var number sql.NullString
	var req int64
	var issued sql.NullInt64
	d := &inv.Details
	err := tx.q.QueryRowContext(ctx, `SELECT application_id, state, title, tax_id, email, phone, amount_fen, attempts, number, reason,
		requested_at, issued_at FROM invoices WHERE application_id = $1`, appID).Scan(&inv.ApplicationID, &state, &d.Title, &d.TaxID,
		&d.Email, &d.Phone, &inv.AmountFen, &inv.Attempts, &number, &inv.Reason, &req, &issued)
	if err != nil {
		return nil, fmt.Errorf("invoice: %w", mapErr(err))
	}
	inv.State, inv.Number, inv.RequestedAt, inv.IssuedAt = renewal.InvoiceState(state), number.String, fromMicros(req), fromNullMicros(issued)
	return &inv, nil
}

// InvoiceState returns the state of an application's invoice ("" when none
// was requested). For a caller that holds the application's row in its
// transaction (UpdateApplication, RequestInvoice read it for update), so a
// refund and an invoice request of the same application are serialised.
func (tx *Tx) InvoiceState(ctx context.Context, appID string) (renewal.InvoiceState, error) {
	inv, err := tx.invoice(ctx, appID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return inv.State, nil
}

// Invoice returns the invoice of an application sc sees (ErrNotFound if
// none was requested).
func (s *Store) Invoice(ctx context.Context, sc Scope, appID string) (*Invoice, error) {
	var inv *Invoice
	err := s.Read(ctx, func(tx *Tx) error {
		if _, err := tx.Application(ctx, sc, appID); err != nil {
			return err
		}
		var err error
		inv, err = tx.invoice(ctx, appID)
		return err
	})
	return inv, err
}

// InvoiceNumber returns the number of an application's issued invoice
// (ErrNotFound if none), which an invoice link is signed over: a link is
// checked with it before the PDF is read. It takes no scope, as InvoicePDF.
func (s *Store) InvoiceNumber(ctx context.Context, appID string) (string, error) {
	var n sql.NullString
	err := s.read().q.QueryRowContext(ctx, `SELECT number FROM invoices WHERE application_id = $1 AND state = $2`,
		appID, string(renewal.InvoiceIssued)).Scan(&n)
	if err != nil {
		return "", fmt.Errorf("invoice number: %w", mapErr(err))
	}
	return n.String, nil
}

// InvoicePDF returns the number and PDF of an application's issued
// invoice. It takes no scope: the caller holds a signed link instead of a
// session, and must have checked it.
func (s *Store) InvoicePDF(ctx context.Context, appID string) (number string, pdf []byte, err error) {
	var n sql.NullString
	err = s.read().q.QueryRowContext(ctx, `SELECT number, pdf FROM invoices WHERE application_id = $1 AND state = $2`,
		appID, string(renewal.InvoiceIssued)).Scan(&n, &pdf)
	if err != nil {
		return "", nil, fmt.Errorf("invoice pdf: %w", mapErr(err))
	}
	return n.String, pdf, nil
}

// ConfirmKeyReceipt records that a posted key arrived (via says how the
// clerk confirmed it, e.g. "invoice_request"). It reports the time of the
// confirmation, the first one's if it was confirmed before.
func (tx *Tx) ConfirmKeyReceipt(ctx context.Context, appID, via string, ch Change) (time.Time, error) {
	if err := tx.mustWrite(); err != nil {
		return time.Time{}, err
	}
	res, err := tx.q.ExecContext(ctx, `INSERT INTO key_receipts (application_id, confirmed_at, via) VALUES ($1, $2, $3)
		ON CONFLICT (application_id) DO NOTHING`, appID, micros(tx.now), via)
	if err != nil {
		return time.Time{}, fmt.Errorf("key receipt: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return tx.now, tx.Audit(ch, "application/"+appID, nil, map[string]any{"key_receipt": "confirmed", "via": via})
	}
	t, err := tx.keyReceipt(ctx, appID)
	if err != nil {
		return time.Time{}, err
	}
	return *t, nil
}

func (tx *Tx) keyReceipt(ctx context.Context, appID string) (*time.Time, error) {
	var at int64
	err := tx.q.QueryRowContext(ctx, `SELECT confirmed_at FROM key_receipts WHERE application_id = $1`, appID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("key receipt: %w", mapErr(err))
	}
	t := fromMicros(at)
	return &t, nil
}

// KeyReceipt returns when receipt of a posted key was confirmed (nil: not
// confirmed) for an application sc sees.
func (s *Store) KeyReceipt(ctx context.Context, sc Scope, appID string) (*time.Time, error) {
	var t *time.Time
	err := s.Read(ctx, func(tx *Tx) error {
		if _, err := tx.Application(ctx, sc, appID); err != nil {
			return err
		}
		var err error
		t, err = tx.keyReceipt(ctx, appID)
		return err
	})
	return t, err
}
