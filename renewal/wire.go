package renewal

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Limits on wire values.
const (
	MaxPageSize        = 100
	DefaultPageSize    = 20
	MaxPageTokenBytes  = 256
	MaxDocumentBytes   = 10 << 20 // 10 MiB a document
	MaxTokenBytes      = 256      // an access or refresh token
	MaxSerialBytes     = 64       // hex serial of up to 20 octets is 40; leave room for separators
	NonceBytes         = 32
	MaxSignatureBytes  = 1024 // RSA-4096 signatures are 512 bytes
	MaxCSRBytes        = 16 << 10
	MaxFilterValues    = 8
	MaxSearchRunes     = 100
	MaxAuditPageSize   = 1000
	MaxDocumentsPerApp = 20
)

// ---- sign-in ----

// SMSCodeRequest asks for a sign-in code by SMS. POST /v1/auth/sms-code
type SMSCodeRequest struct {
	Mobile string `json:"mobile"`
}

// Validate checks the request.
func (r *SMSCodeRequest) Validate() error {
	var fe fieldErrors
	fe.add("mobile", ValidateMobile(NormalizeMobile(r.Mobile)))
	return fe.err()
}

// SMSCodeSent answers an SMSCodeRequest (the same whether or not the number
// has an account, so numbers cannot be probed).
type SMSCodeSent struct {
	ExpiresIn   int `json:"expires_in"`   // seconds the code is valid
	ResendAfter int `json:"resend_after"` // seconds before another code may be asked for
}

// SMSLoginRequest signs in with a mobile and SMS code. POST /v1/auth/sms-login
type SMSLoginRequest struct {
	Mobile string `json:"mobile"`
	Code   string `json:"code"`
}

// Validate checks the request.
func (r *SMSLoginRequest) Validate() error {
	var fe fieldErrors
	fe.add("mobile", ValidateMobile(NormalizeMobile(r.Mobile)))
	fe.add("code", ValidateDigits(r.Code, SMSCodeDigits, CodeSMSCodeWrong))
	return fe.err()
}

// PasswordLoginRequest signs in with an account and password. POST /v1/auth/login
type PasswordLoginRequest struct {
	Account  string `json:"account"`
	Password string `json:"password"`
}

// Validate checks the request. The password is only checked for presence
// and length: its value is never echoed in an error.
func (r *PasswordLoginRequest) Validate() error {
	var fe fieldErrors
	fe.add("account", ValidateName(r.Account, MaxAccountRunes))
	switch {
	case r.Password == "":
		fe.add("password", invalid(CodeRequired, ""))
	case len(r.Password) > MaxPasswordBytes:
		fe.add("password", invalid(CodeTooLong, "at most %d bytes", MaxPasswordBytes))
	}
	return fe.err()
}

// RefreshRequest trades a refresh token for new tokens (the old refresh
// token is then spent). POST /v1/auth/refresh; also the body of /v1/auth/logout.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// Validate checks the request.
func (r *RefreshRequest) Validate() error {
	var fe fieldErrors
	fe.add("refresh_token", validateToken(r.RefreshToken))
	return fe.err()
}

func validateToken(t string) error {
	if t == "" {
		return invalid(CodeRequired, "")
	}
	if len(t) > MaxTokenBytes {
		return invalid(CodeTooLong, "at most %d bytes", MaxTokenBytes)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return invalid(CodeInvalidField, "a token is printable ASCII")
		}
	}
	return nil
}

// User is who is signed in.
type User struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Role             Role   `json:"role"`
	Mobile           string `json:"mobile,omitempty"` // masked: 138****5678
	Account          string `json:"account,omitempty"`
	OrganisationID   string `json:"organisation_id,omitempty"`
	OrganisationName string `json:"organisation_name,omitempty"`
}

// Tokens answers a successful sign-in or refresh.
type Tokens struct {
	AccessToken      string    `json:"access_token"`
	RefreshToken     string    `json:"refresh_token"`
	TokenType        string    `json:"token_type"` // "Bearer"
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	User             User      `json:"user"`
}

// MaskMobile shows the first 3 and last 4 digits of a mobile number.
func MaskMobile(m string) string {
	if len(m) != 11 {
		return "***"
	}
	return m[:3] + "****" + m[7:]
}

// ---- certificates and eligibility ----

// KeyType names a certificate's key algorithm.
type KeyType string

// Key types.
const (
	KeyRSA   KeyType = "rsa"
	KeyECDSA KeyType = "ecdsa"
	KeySM2   KeyType = "sm2"
)

// Valid reports whether k is a known key type.
func (k KeyType) Valid() bool { return k == KeyRSA || k == KeyECDSA || k == KeySM2 }

// Certificate is what the service knows of a certificate it issued.
type Certificate struct {
	Serial         string    `json:"serial"` // lower-case hex, no separators
	Holder         string    `json:"holder"` // subject CN or O
	Issuer         string    `json:"issuer"`
	OrganisationID string    `json:"organisation_id"`
	NotBefore      time.Time `json:"not_before"`
	NotAfter       time.Time `json:"not_after"`
	KeyType        KeyType   `json:"key_type"`
}

// NormalizeSerial lower-cases a hex serial and strips ':' and spaces and
// leading zeros, so "0A:1B" and "a1b" name the same certificate.
func NormalizeSerial(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':' || c == ' ' || c == '-':
			continue
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = bytes.TrimLeft(b, "0")
	if len(b) == 0 && len(s) > 0 {
		return "0"
	}
	return string(b)
}

// ValidateSerial checks a normalised serial: 1 to 40 hex digits.
func ValidateSerial(s string) error {
	if s == "" {
		return invalid(CodeRequired, "")
	}
	if len(s) > 40 {
		return invalid(CodeInvalidField, "a serial has at most 40 hex digits")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return invalid(CodeInvalidField, "a serial is written in hex")
		}
	}
	return nil
}

// EligibilityRequest asks whether a certificate may be renewed.
// GET /v1/certificates/{serial}/eligibility
type EligibilityRequest struct {
	Serial string `json:"serial"`
}

// Validate checks the request.
func (r *EligibilityRequest) Validate() error {
	var fe fieldErrors
	if len(r.Serial) > MaxSerialBytes {
		fe.add("serial", invalid(CodeTooLong, ""))
	} else {
		fe.add("serial", ValidateSerial(NormalizeSerial(r.Serial)))
	}
	return fe.err()
}

// Price is the price of a renewal period.
type Price struct {
	Years     int   `json:"years"`
	AmountFen int64 `json:"amount_fen"`
}

// Eligibility answers an EligibilityRequest.
type Eligibility struct {
	Certificate       Certificate   `json:"certificate"`
	Eligible          bool          `json:"eligible"`
	Reason            *Error        `json:"reason,omitempty"` // why not
	WindowOpens       time.Time     `json:"window_opens"`
	WindowCloses      time.Time     `json:"window_closes"`
	DaysLeft          int           `json:"days_left"` // negative: expired N days ago
	Prices            []Price       `json:"prices"`
	RekeyRequired     bool          `json:"rekey_required"`
	FinVerifyRequired bool          `json:"finverify_required"`
	PaymentTiming     PaymentTiming `json:"payment_timing"`
	OpenApplicationID string        `json:"open_application_id,omitempty"` // an application already in progress
}

// Eligibility computes the eligibility of c under p at now.
func (p Policy) Eligibility(c Certificate, now time.Time) Eligibility {
	opens, closes := p.Window(c.NotAfter)
	e := Eligibility{
		Certificate: c, WindowOpens: opens, WindowCloses: closes,
		DaysLeft: DaysLeft(c.NotAfter, now), RekeyRequired: p.RekeyRequired,
		FinVerifyRequired: p.FinVerifyRequired, PaymentTiming: p.PaymentTiming,
	}
	for i, f := range p.PricesFen {
		e.Prices = append(e.Prices, Price{Years: i + 1, AmountFen: f})
	}
	if err := p.CheckWindow(c.NotAfter, now); err != nil {
		e.Reason = AsError(err)
		return e
	}
	e.Eligible = true
	return e
}

// ---- applications ----

// Organisation is the organisation on an application.
type Organisation struct {
	Name       string `json:"name"`
	CreditCode string `json:"credit_code"` // 统一社会信用代码
}

// Validate checks the organisation.
func (o *Organisation) Validate() error {
	var fe fieldErrors
	fe.add("name", ValidateName(o.Name, MaxOrgNameRunes))
	fe.add("credit_code", ValidateCreditCode(o.CreditCode))
	return fe.err()
}

// Person is the legal representative (法定代表人).
type Person struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Mobile   string `json:"mobile"`
}

// Validate checks the person.
func (p *Person) Validate() error {
	var fe fieldErrors
	fe.add("name", ValidateName(p.Name, MaxNameRunes))
	fe.add("id_number", ValidateIDNumber(p.IDNumber))
	fe.add("mobile", ValidateMobile(p.Mobile))
	return fe.err()
}

// BankAccount is the account the 0.01 CNY transfer goes to.
type BankAccount struct {
	AccountName   string `json:"account_name"`
	BankName      string `json:"bank_name"`
	AccountNumber string `json:"account_number"`
}

// Validate checks the account.
func (b *BankAccount) Validate() error {
	var fe fieldErrors
	fe.add("account_name", ValidateName(b.AccountName, MaxOrgNameRunes))
	fe.add("bank_name", ValidateName(b.BankName, MaxBankNameRunes))
	fe.add("account_number", ValidateBankAccount(b.AccountNumber))
	return fe.err()
}

// Masked shows only the last 4 digits of the account number.
func (b BankAccount) Masked() string {
	n := b.AccountNumber
	if len(n) <= 4 {
		return "****"
	}
	return "****" + n[len(n)-4:]
}

// InvoiceKind is whether and how an invoice is wanted.
type InvoiceKind string

// Invoice kinds (VAT ordinary invoice only).
const (
	InvoiceNone       InvoiceKind = "none"
	InvoiceElectronic InvoiceKind = "e_invoice"
)

// Invoice is the e-invoice request.
type Invoice struct {
	Kind  InvoiceKind `json:"kind"`
	Title string      `json:"title,omitempty"`
	TaxID string      `json:"tax_id,omitempty"`
	Email string      `json:"email,omitempty"`
	Phone string      `json:"phone,omitempty"` // mobile the link goes to
}

// Validate checks the invoice.
func (v *Invoice) Validate() error {
	var fe fieldErrors
	switch v.Kind {
	case InvoiceNone:
		if v.Title != "" || v.TaxID != "" || v.Email != "" || v.Phone != "" {
			fe.add("kind", invalid(CodeInvalidField, "no invoice wanted, but invoice details given"))
		}
	case InvoiceElectronic:
		fe.add("title", ValidateName(v.Title, MaxInvoiceTitleRunes))
		fe.add("tax_id", ValidateTaxID(v.TaxID))
		fe.add("email", ValidateEmail(v.Email))
		fe.add("phone", ValidateMobile(v.Phone))
	default:
		fe.add("kind", invalid(CodeInvalidField, "kind is %q or %q", InvoiceNone, InvoiceElectronic))
	}
	return fe.err()
}

// PickupMethod is how the clerk gets a new key when one is needed.
type PickupMethod string

// Pickup methods (取锁方式).
const (
	PickupOnSite PickupMethod = "on_site"
	PickupPost   PickupMethod = "post"
)

// Pickup says how the key is picked up.
type Pickup struct {
	Method    PickupMethod `json:"method"`
	Recipient string       `json:"recipient,omitempty"`
	Mobile    string       `json:"mobile,omitempty"`
	Address   string       `json:"address,omitempty"`
}

// Validate checks the pickup.
func (p *Pickup) Validate() error {
	var fe fieldErrors
	switch p.Method {
	case PickupOnSite:
		if p.Recipient != "" || p.Mobile != "" || p.Address != "" {
			fe.add("method", invalid(CodeInvalidField, "pickup on site needs no postal details"))
		}
	case PickupPost:
		fe.add("recipient", ValidateName(p.Recipient, MaxNameRunes))
		fe.add("mobile", ValidateMobile(p.Mobile))
		fe.add("address", ValidateAddress(p.Address))
	default:
		fe.add("method", invalid(CodeInvalidField, "method is %q or %q", PickupOnSite, PickupPost))
	}
	return fe.err()
}

// ApplicationForm is everything the clerk fills in (WORKFLOW step 3).
type ApplicationForm struct {
	Years               int          `json:"years"`
	Organisation        Organisation `json:"organisation"`
	LegalRepresentative Person       `json:"legal_representative"`
	Bank                BankAccount  `json:"bank"`
	Invoice             Invoice      `json:"invoice"`
	Pickup              Pickup       `json:"pickup"`
}

// Normalize trims and canonicalises what people type in several ways
// (credit code case, ID number x, mobile prefixes, account number spaces).
func (f *ApplicationForm) Normalize() {
	f.Organisation.Name = trim(f.Organisation.Name)
	f.Organisation.CreditCode = NormalizeCreditCode(f.Organisation.CreditCode)
	f.LegalRepresentative.Name = trim(f.LegalRepresentative.Name)
	f.LegalRepresentative.IDNumber = NormalizeIDNumber(f.LegalRepresentative.IDNumber)
	f.LegalRepresentative.Mobile = NormalizeMobile(f.LegalRepresentative.Mobile)
	f.Bank.AccountName = trim(f.Bank.AccountName)
	f.Bank.BankName = trim(f.Bank.BankName)
	f.Bank.AccountNumber = NormalizeBankAccount(f.Bank.AccountNumber)
	f.Invoice.Title = trim(f.Invoice.Title)
	f.Invoice.TaxID = NormalizeCreditCode(f.Invoice.TaxID)
	f.Invoice.Email = trim(f.Invoice.Email)
	f.Invoice.Phone = NormalizeMobile(f.Invoice.Phone)
	f.Pickup.Recipient = trim(f.Pickup.Recipient)
	f.Pickup.Mobile = NormalizeMobile(f.Pickup.Mobile)
	f.Pickup.Address = trim(f.Pickup.Address)
}

// Validate checks every field of a normalised form and reports all problems.
func (f *ApplicationForm) Validate() error {
	var fe fieldErrors
	fe.add("years", ValidateYears(f.Years))
	fe.add("organisation", f.Organisation.Validate())
	fe.add("legal_representative", f.LegalRepresentative.Validate())
	fe.add("bank", f.Bank.Validate())
	fe.add("invoice", f.Invoice.Validate())
	fe.add("pickup", f.Pickup.Validate())
	return fe.err()
}

// Application is an application as the service shows it.
type Application struct {
	ID             string          `json:"id"`
	OrganisationID string          `json:"organisation_id"`
	CreatedBy      string          `json:"created_by"` // user id
	CertSerial     string          `json:"cert_serial"`
	Form           ApplicationForm `json:"form"`
	Comment        string          `json:"comment,omitempty"`       // the clerk's, on submit
	ReviewReason   string          `json:"review_reason,omitempty"` // the reviewer's, on reject or hold
	State
	Rekey       bool       `json:"rekey"`
	PriceFen    int64      `json:"price_fen"`
	Version     int64      `json:"version"` // optimistic concurrency: send it back with every change
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	SubmittedAt *time.Time `json:"submitted_at,omitempty"`
	ReviewedAt  *time.Time `json:"reviewed_at,omitempty"`
	// Actions the caller may take now (AllowedActions for their role).
	Actions []Action `json:"actions,omitempty"`
}

// CreateApplicationRequest starts a renewal for a certificate; without a Form
// the service pre-fills one from the certificate and the organisation's last
// application. POST /v1/applications
type CreateApplicationRequest struct {
	CertSerial string           `json:"cert_serial"`
	Rekey      bool             `json:"rekey"`
	Form       *ApplicationForm `json:"form,omitempty"`
}

// Validate checks the request (normalising the serial and form in place).
func (r *CreateApplicationRequest) Validate() error {
	var fe fieldErrors
	if len(r.CertSerial) > MaxSerialBytes {
		fe.add("cert_serial", invalid(CodeTooLong, ""))
	} else {
		r.CertSerial = NormalizeSerial(r.CertSerial)
		fe.add("cert_serial", ValidateSerial(r.CertSerial))
	}
	if r.Form != nil {
		r.Form.Normalize()
		fe.add("form", r.Form.Validate())
	}
	return fe.err()
}

// UpdateApplicationRequest replaces the form. PUT /v1/applications/{id}
type UpdateApplicationRequest struct {
	Version int64           `json:"version"`
	Rekey   bool            `json:"rekey"`
	Form    ApplicationForm `json:"form"`
}

// Validate checks the request (normalising the form in place).
func (r *UpdateApplicationRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	r.Form.Normalize()
	fe.add("form", r.Form.Validate())
	return fe.err()
}

func validateVersion(v int64) error {
	if v < 1 {
		return invalid(CodeRequired, "send the version you last read")
	}
	return nil
}

// VersionRequest carries only the version: delete, cancel, approve, release,
// download confirmations that need no other data.
type VersionRequest struct {
	Version int64 `json:"version"`
}

// Validate checks the request.
func (r *VersionRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	return fe.err()
}

// SubmitRequest sends an application for review. POST /v1/applications/{id}/submit
type SubmitRequest struct {
	Version int64  `json:"version"`
	Comment string `json:"comment"`
}

// Validate checks the request.
func (r *SubmitRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	fe.add("comment", ValidateText(r.Comment, MaxCommentRunes))
	return fe.err()
}

// ListApplicationsRequest filters and pages applications. Clerks always see
// only their organisation's; OrganisationID is for staff.
// GET /v1/applications?status=..&payment=..&serial=..&q=..&page_size=..&page_token=..
type ListApplicationsRequest struct {
	Status         []Status    `json:"status,omitempty"`
	Payment        []Payment   `json:"payment,omitempty"`
	FinVerify      []FinVerify `json:"finverify,omitempty"`
	CertSerial     string      `json:"cert_serial,omitempty"`
	OrganisationID string      `json:"organisation_id,omitempty"`
	Query          string      `json:"q,omitempty"` // organisation name or credit code contains
	PageSize       int         `json:"page_size,omitempty"`
	PageToken      string      `json:"page_token,omitempty"`
}

// Validate checks the request and fills in the default page size.
func (r *ListApplicationsRequest) Validate() error {
	var fe fieldErrors
	if len(r.Status) > MaxFilterValues {
		fe.add("status", invalid(CodeTooLong, "at most %d values", MaxFilterValues))
	}
	for _, s := range r.Status {
		if !s.Valid() {
			fe.add("status", invalid(CodeInvalidField, "unknown status %q", s))
		}
	}
	if len(r.Payment) > MaxFilterValues {
		fe.add("payment", invalid(CodeTooLong, "at most %d values", MaxFilterValues))
	}
	for _, p := range r.Payment {
		if !p.Valid() {
			fe.add("payment", invalid(CodeInvalidField, "unknown payment state %q", p))
		}
	}
	if len(r.FinVerify) > MaxFilterValues {
		fe.add("finverify", invalid(CodeTooLong, "at most %d values", MaxFilterValues))
	}
	for _, f := range r.FinVerify {
		if !f.Valid() {
			fe.add("finverify", invalid(CodeInvalidField, "unknown financial verification state %q", f))
		}
	}
	if r.CertSerial != "" {
		if len(r.CertSerial) > MaxSerialBytes {
			fe.add("cert_serial", invalid(CodeTooLong, ""))
		} else {
			r.CertSerial = NormalizeSerial(r.CertSerial)
			fe.add("cert_serial", ValidateSerial(r.CertSerial))
		}
	}
	if len(r.OrganisationID) > 64 {
		fe.add("organisation_id", invalid(CodeTooLong, ""))
	}
	if err := ValidateText(r.Query, MaxSearchRunes); err != nil {
		fe.add("q", err)
	}
	fe.add("page_size", validatePageSize(&r.PageSize, MaxPageSize))
	if len(r.PageToken) > MaxPageTokenBytes {
		fe.add("page_token", invalid(CodePageToken, ""))
	}
	return fe.err()
}

func validatePageSize(n *int, max int) error {
	if *n == 0 {
		*n = DefaultPageSize
	}
	if *n < 1 || *n > max {
		return invalid(CodeInvalidField, "page_size is 1 to %d", max)
	}
	return nil
}

// ApplicationPage is one page of a list.
type ApplicationPage struct {
	Items         []Application `json:"items"`
	NextPageToken string        `json:"next_page_token,omitempty"`
}

// ---- documents ----

// DocumentKind is what a document is.
type DocumentKind string

// Document kinds.
const (
	DocApplicationForm DocumentKind = "application_form" // the signed and stamped form scan
	DocIDFront         DocumentKind = "id_front"
	DocIDBack          DocumentKind = "id_back"
	DocOther           DocumentKind = "other"
)

// Valid reports whether k is a known document kind.
func (k DocumentKind) Valid() bool {
	return k == DocApplicationForm || k == DocIDFront || k == DocIDBack || k == DocOther
}

// Content types accepted for documents (sniffed from the bytes, not the name).
const (
	ContentPDF  = "application/pdf"
	ContentJPEG = "image/jpeg"
	ContentPNG  = "image/png"
)

// SniffDocument returns the content type of a document from its first bytes,
// or an *Error with CodeDocumentType.
func SniffDocument(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return ContentPDF, nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return ContentJPEG, nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return ContentPNG, nil
	}
	return "", NewError(CodeDocumentType, "")
}

// UploadDocumentRequest is the metadata of an upload; the bytes are the body.
// POST /v1/applications/{id}/documents?kind=..&name=..
type UploadDocumentRequest struct {
	Kind DocumentKind `json:"kind"`
	Name string       `json:"name"`
}

// Validate checks the request.
func (r *UploadDocumentRequest) Validate() error {
	var fe fieldErrors
	if !r.Kind.Valid() {
		fe.add("kind", invalid(CodeInvalidField, "unknown document kind %q", r.Kind))
	}
	fe.add("name", ValidateName(r.Name, 200))
	return fe.err()
}

// Document is a stored document's metadata.
type Document struct {
	ID            string       `json:"id"`
	ApplicationID string       `json:"application_id"`
	Kind          DocumentKind `json:"kind"`
	Name          string       `json:"name"`
	ContentType   string       `json:"content_type"`
	Size          int64        `json:"size"`
	SHA256        string       `json:"sha256"` // hex
	CreatedAt     time.Time    `json:"created_at"`
}

// ---- review ----

// ReviewRequest is the body of approve, reject, hold and release.
// POST /v1/applications/{id}/{approve|reject|hold|release}
type ReviewRequest struct {
	Version int64  `json:"version"`
	Reason  string `json:"reason"`
}

// ValidateFor checks the request for a review action: reject and hold need a reason.
func (r *ReviewRequest) ValidateFor(a Action) error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	switch a {
	case ActionApprove, ActionRelease:
	case ActionReject, ActionHold:
		if trim(r.Reason) == "" {
			fe.add("reason", invalid(CodeReasonRequired, ""))
		}
	default:
		fe.add("action", invalid(CodeInvalidField, "%q is not a review action", a))
	}
	fe.add("reason", ValidateText(r.Reason, MaxReasonRunes))
	return fe.err()
}

// Validate checks the fields common to every review action (a reason, when
// given, is text of bounded length).
func (r *ReviewRequest) Validate() error { return r.ValidateFor(ActionApprove) }

// ---- financial verification ----

// FinVerifyStatus shows the bank transfer check.
type FinVerifyStatus struct {
	State     FinVerify  `json:"state"`
	Account   string     `json:"account"` // masked
	BankName  string     `json:"bank_name"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	TriesLeft int        `json:"tries_left"`
}

// FinVerifyCodeRequest submits the code from the transfer's remark.
// POST /v1/applications/{id}/finverify/code
type FinVerifyCodeRequest struct {
	Version int64  `json:"version"`
	Code    string `json:"code"`
}

// Validate checks the request.
func (r *FinVerifyCodeRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	fe.add("code", ValidateDigits(trim(r.Code), FinVerifyCodeDigits, CodeFinVerifyCode))
	return fe.err()
}

// CorrectBankRequest replaces the bank account after a failed check and
// starts a new transfer. POST /v1/applications/{id}/finverify/bank
type CorrectBankRequest struct {
	Version int64       `json:"version"`
	Bank    BankAccount `json:"bank"`
}

// Validate checks the request (normalising the account number in place).
func (r *CorrectBankRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	r.Bank.AccountName = trim(r.Bank.AccountName)
	r.Bank.BankName = trim(r.Bank.BankName)
	r.Bank.AccountNumber = NormalizeBankAccount(r.Bank.AccountNumber)
	fe.add("bank", r.Bank.Validate())
	return fe.err()
}

// ---- issuance ----

// IssueMode is same-key renewal or re-key.
type IssueMode string

// Issue modes.
const (
	IssueSameKey IssueMode = "same_key"
	IssueRekey   IssueMode = "rekey"
)

// Challenge is a server nonce for proof of possession.
// POST /v1/applications/{id}/challenge
type Challenge struct {
	Nonce     []byte    `json:"nonce"` // base64 in JSON
	ExpiresAt time.Time `json:"expires_at"`
}

// IssueRequest asks for the renewed certificate. POST /v1/applications/{id}/issue
//
// Same key: Signature is the old key's signature over SameKeyMessage.
// Re-key: CSR is signed by the new key; while the old certificate is still
// valid, BindingSignature is the old key's signature over RekeyBindingMessage.
// Signatures: RSA PKCS#1 v1.5 with SHA-256, ECDSA with SHA-256 (ASN.1),
// SM2 with SM3 and the default user ID.
type IssueRequest struct {
	Version          int64     `json:"version"`
	Mode             IssueMode `json:"mode"`
	Nonce            []byte    `json:"nonce"`
	Signature        []byte    `json:"signature,omitempty"`
	CSR              []byte    `json:"csr,omitempty"` // DER
	BindingSignature []byte    `json:"binding_signature,omitempty"`
}

// Validate checks the request's shape (the signatures are checked by the server).
func (r *IssueRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	if len(r.Nonce) != NonceBytes {
		fe.add("nonce", invalid(CodeInvalidField, "the nonce has %d bytes", NonceBytes))
	}
	switch r.Mode {
	case IssueSameKey:
		fe.add("signature", validateBlob(r.Signature, MaxSignatureBytes, true))
		if len(r.CSR) > 0 || len(r.BindingSignature) > 0 {
			fe.add("csr", invalid(CodeInvalidField, "same-key renewal takes no CSR"))
		}
	case IssueRekey:
		fe.add("csr", validateBlob(r.CSR, MaxCSRBytes, true))
		fe.add("binding_signature", validateBlob(r.BindingSignature, MaxSignatureBytes, false))
		if len(r.Signature) > 0 {
			fe.add("signature", invalid(CodeInvalidField, "re-key sends binding_signature, not signature"))
		}
	default:
		fe.add("mode", invalid(CodeInvalidField, "mode is %q or %q", IssueSameKey, IssueRekey))
	}
	return fe.err()
}

func validateBlob(b []byte, max int, required bool) error {
	if len(b) == 0 {
		if required {
			return invalid(CodeRequired, "")
		}
		return nil
	}
	if len(b) > max {
		return invalid(CodeTooLong, "at most %d bytes", max)
	}
	return nil
}

// SameKeyMessage is what the old key signs for same-key renewal: it binds
// the nonce to this application and certificate, so a signature cannot be
// replayed for another.
func SameKeyMessage(applicationID, serial string, nonce []byte) []byte {
	return []byte("ukeyrenew same-key v1\n" + applicationID + "\n" + serial + "\n" +
		base64.StdEncoding.EncodeToString(nonce) + "\n")
}

// RekeyBindingMessage is what the old key signs to bind a re-key CSR to the
// old certificate.
func RekeyBindingMessage(applicationID, serial string, nonce, csrDER []byte) []byte {
	h := sha256.Sum256(csrDER)
	return []byte("ukeyrenew rekey v1\n" + applicationID + "\n" + serial + "\n" +
		base64.StdEncoding.EncodeToString(nonce) + "\n" + base64.StdEncoding.EncodeToString(h[:]) + "\n")
}

// Issuance is the renewed certificate. GET /v1/applications/{id}/certificate
type Issuance struct {
	ApplicationID string    `json:"application_id"`
	Mode          IssueMode `json:"mode"`
	Serial        string    `json:"serial"`
	Certificate   []byte    `json:"certificate"` // DER
	Chain         [][]byte  `json:"chain"`       // DER, issuer first
	NotBefore     time.Time `json:"not_before"`
	NotAfter      time.Time `json:"not_after"`
	IssuedAt      time.Time `json:"issued_at"`
}

// ConfirmInstalledRequest tells the service the certificate is on the token
// and was read back. POST /v1/applications/{id}/installed
type ConfirmInstalledRequest struct {
	Version int64  `json:"version"`
	Serial  string `json:"serial"` // of the new certificate
}

// Validate checks the request.
func (r *ConfirmInstalledRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	if len(r.Serial) > MaxSerialBytes {
		fe.add("serial", invalid(CodeTooLong, ""))
	} else {
		r.Serial = NormalizeSerial(r.Serial)
		fe.add("serial", ValidateSerial(r.Serial))
	}
	return fe.err()
}

// ---- audit ----

// AuditEntry is one row of the hash-chained audit log.
type AuditEntry struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor"`  // user id, or "system"
	Action   string          `json:"action"` // e.g. "application.submit"
	Target   string          `json:"target"` // e.g. "application/ID"
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
	IP       string          `json:"ip,omitempty"`
	PrevHash string          `json:"prev_hash"` // hex
	Hash     string          `json:"hash"`      // hex SHA-256
}

// AuditQuery filters the audit log. GET /v1/audit
type AuditQuery struct {
	Target   string    `json:"target,omitempty"`
	Actor    string    `json:"actor,omitempty"`
	Since    time.Time `json:"since,omitempty"`
	Until    time.Time `json:"until,omitempty"`
	AfterSeq int64     `json:"after_seq,omitempty"`
	PageSize int       `json:"page_size,omitempty"`
}

// Validate checks the query and fills in the default page size.
func (q *AuditQuery) Validate() error {
	var fe fieldErrors
	fe.add("target", ValidateText(q.Target, 200))
	fe.add("actor", ValidateText(q.Actor, 200))
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		fe.add("until", invalid(CodeInvalidField, "until is before since"))
	}
	if q.AfterSeq < 0 {
		fe.add("after_seq", invalid(CodeInvalidField, "after_seq is not negative"))
	}
	fe.add("page_size", validatePageSize(&q.PageSize, MaxAuditPageSize))
	return fe.err()
}

// AuditVerification is the result of checking the chain.
type AuditVerification struct {
	OK      bool   `json:"ok"`
	Entries int64  `json:"entries"`
	BadSeq  int64  `json:"bad_seq,omitempty"` // first row that does not verify
	Problem string `json:"problem,omitempty"`
}

func trim(s string) string { return strings.TrimSpace(s) }
