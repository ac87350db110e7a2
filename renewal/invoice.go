package renewal

import (
	"time"
)

// E-invoice (电子发票, the journey's last step): a VAT ordinary invoice
// (增值税普通发票) only, one per paid application, requested by the clerk
// after payment. The details default to the application's invoice fields
// and may be corrected at request time. Issuing goes requested → issued
// (with a link to the PDF) or failed (with the reason; the clerk may ask
// again). A refunded application gets no invoice: none may be requested once
// a refund has started, and the service refuses to refund a payment that was
// invoiced (the CA first reverses the invoice with a red-letter invoice,
// 红字发票, on its e-invoice platform; this service does not issue those).

// InvoiceState is where an invoice request stands.
type InvoiceState string

// Invoice states.
const (
	InvoiceRequested InvoiceState = "requested" // 开具中
	InvoiceIssued    InvoiceState = "issued"    // 已开具
	InvoiceFailed    InvoiceState = "failed"    // 开具失败 (may be asked again)
)

// InvoiceStates lists every invoice state.
func InvoiceStates() []InvoiceState {
	return []InvoiceState{InvoiceRequested, InvoiceIssued, InvoiceFailed}
}

// Valid reports whether s is a known invoice state.
func (s InvoiceState) Valid() bool {
	for _, x := range InvoiceStates() {
		if s == x {
			return true
		}
	}
	return false
}

// MaxInvoiceAttempts bounds how often an application's invoice is asked
// for (the first request and the retries after failures).
const MaxInvoiceAttempts = 5

// InvoiceKindVATOrdinary is the only kind issued: 增值税普通发票 (电子).
const InvoiceKindVATOrdinary = "vat_ordinary"

// InvoiceRequest asks for the e-invoice of a paid application.
// POST /v1/applications/{id}/invoice. An empty field takes the value of the
// application's invoice fields; the result must be a complete, valid set.
type InvoiceRequest struct {
	Title string `json:"title,omitempty"`  // 发票抬头: the buyer's name
	TaxID string `json:"tax_id,omitempty"` // 纳税人识别号
	Email string `json:"email,omitempty"`  // the link is e-mailed here
	Phone string `json:"phone,omitempty"`  // and sent by SMS here
}

// Normalize trims and canonicalises the fields as the form does.
func (r *InvoiceRequest) Normalize() {
	r.Title = NormalizeLine(r.Title)
	r.TaxID = NormalizeCreditCode(r.TaxID)
	r.Email = NormalizeLine(r.Email)
	r.Phone = NormalizeMobile(r.Phone)
}

// Validate normalises the fields in place and checks them as given: a wrong
// value is refused even when the application's own value would have been
// fine. Use Merge then ValidateComplete for the final set.
func (r *InvoiceRequest) Validate() error {
	r.Normalize()
	var fe fieldErrors
	if r.Title != "" {
		fe.add("title", ValidateName(r.Title, MaxInvoiceTitleRunes))
	}
	if r.TaxID != "" {
		fe.add("tax_id", ValidateTaxID(r.TaxID))
	}
	if r.Email != "" {
		fe.add("email", ValidateEmail(r.Email))
	}
	if r.Phone != "" {
		fe.add("phone", ValidateMobile(r.Phone))
	}
	return fe.err()
}

// Merge fills the empty fields of r from the application's invoice fields.
func (r InvoiceRequest) Merge(form Invoice) InvoiceRequest {
	if r.Title == "" {
		r.Title = form.Title
	}
	if r.TaxID == "" {
		r.TaxID = form.TaxID
	}
	if r.Email == "" {
		r.Email = form.Email
	}
	if r.Phone == "" {
		r.Phone = form.Phone
	}
	r.Normalize()
	return r
}

// ValidateComplete checks that every field is present and valid.
func (r *InvoiceRequest) ValidateComplete() error {
	var fe fieldErrors
	fe.add("title", ValidateName(r.Title, MaxInvoiceTitleRunes))
	fe.add("tax_id", ValidateTaxID(r.TaxID))
	fe.add("email", ValidateEmail(r.Email))
	fe.add("phone", ValidateMobile(r.Phone))
	return fe.err()
}

// InvoiceAllowed says whether an invoice may be requested for an
// application in state s: paid, and not cancelled (a cancelled
// application's money goes back).
func InvoiceAllowed(s State) error {
	switch {
	case s.Status == StatusCancelled:
		return Errorf(CodeActionNotAllowed, "", "a cancelled application gets no invoice")
	case s.Payment == PaymentUnpaid:
		return NewError(CodePaymentRequired, "")
	case s.Payment != PaymentPaid:
		return Errorf(CodeActionNotAllowed, "", "a refunded application gets no invoice")
	}
	return nil
}

// InvoiceStatus answers GET /v1/applications/{id}/invoice (and the request).
type InvoiceStatus struct {
	State     InvoiceState   `json:"state"`
	Kind      string         `json:"kind"` // InvoiceKindVATOrdinary
	Details   InvoiceRequest `json:"details"`
	AmountFen int64          `json:"amount_fen"` // 价税合计
	Attempts  int            `json:"attempts"`
	// Number is the invoice number (发票号码), once issued.
	Number string `json:"number,omitempty"`
	// URL opens the PDF without an account until URLExpiresAt; each read
	// of the status gives a fresh one.
	URL          string     `json:"url,omitempty"`
	URLExpiresAt *time.Time `json:"url_expires_at,omitempty"`
	// Reason says why issuing failed; the clerk may request again.
	Reason      string     `json:"reason,omitempty"`
	RequestedAt time.Time  `json:"requested_at"`
	IssuedAt    *time.Time `json:"issued_at,omitempty"`
	// ReceiptConfirmedAt is set when the key was posted: asking for the
	// invoice confirms it arrived (Tiangu's rule).
	ReceiptConfirmedAt *time.Time `json:"receipt_confirmed_at,omitempty"`
}
