package renewal

import (
	"strings"
	"time"
)

// Application wire types: the form the clerk fills in, the application as
// the service shows it, and the requests that create, change and list them.

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

// MatchRegistered refuses an organisation other than the registered one
// (the organisation the certificate is registered to): each of the name
// and the credit code that is filled in must be the registered one, after
// Normalize. prefix is put before the field names ("form." in a request
// that carries the form). A renamed organisation is renamed at the CA first.
func (o Organisation) MatchRegistered(registered Organisation, prefix string) error {
	var bad []*Error
	mismatch := func(field, what, got, want, zh string) {
		e := Errorf(CodeOrgMismatch, prefix+field, "the %s %q differs from the %s the certificate is registered to, %q; if the organisation was renamed, ask the CA to update the registration first", what, got, what, want)
		e.MessageZH = zh
		bad = append(bad, e)
	}
	if name := trim(o.Name); name != "" && !sameOrgName(name, registered.Name) {
		mismatch("organisation.name", "name", name, trim(registered.Name),
			"与证书登记的单位不一致：证书登记的单位名称是“"+trim(registered.Name)+"”。请改回登记的名称；单位已更名的，请先联系发证机构变更登记")
	}
	if cc := NormalizeCreditCode(o.CreditCode); cc != "" && cc != NormalizeCreditCode(registered.CreditCode) {
		mismatch("organisation.credit_code", "credit code", cc, NormalizeCreditCode(registered.CreditCode),
			"与证书登记的单位不一致：证书登记的统一社会信用代码是 "+NormalizeCreditCode(registered.CreditCode)+"。请改回登记的代码；单位信息有变更的，请先联系发证机构变更登记")
	}
	switch len(bad) {
	case 0:
		return nil
	case 1:
		return bad[0]
	}
	e := *bad[0]
	e.Field, e.Fields = "", bad
	return &e
}

// sameOrgName reports whether two spellings name the same organisation:
// equal once normalised as requests are (NormalizeLine).
func sameOrgName(a, b string) bool { return NormalizeLine(a) == NormalizeLine(b) }

// Person is the legal representative (法定代表人).
type Person struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Mobile   string `json:"mobile"`
}

// Validate checks the person on this computer's date: see ValidateAt.
func (p *Person) Validate() error { return p.ValidateAt(time.Now()) }

// ValidateAt checks the person; a birth date after the date of now is refused.
func (p *Person) ValidateAt(now time.Time) error {
	var fe fieldErrors
	fe.add("name", ValidateName(p.Name, MaxNameRunes))
	fe.add("id_number", ValidateIDNumberAt(p.IDNumber, now))
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

// MatchHolder refuses a bank account that is not the registered
// organisation's own: the corporate account (对公账户) that the financial
// verification's transfer goes to bears the organisation's registered name,
// compared as MatchRegistered compares names. An empty name is left to
// Validate. prefix is put before the field name ("form." in a request that
// carries the form).
func (b BankAccount) MatchHolder(registered Organisation, prefix string) error {
	name := trim(b.AccountName)
	if name == "" || sameOrgName(name, registered.Name) {
		return nil
	}
	e := Errorf(CodeOrgMismatch, prefix+"bank.account_name", "the account name %q is not the registered name of the organisation, %q: the verification transfer goes only to the organisation's own corporate account", name, trim(registered.Name))
	e.MessageZH = "对公账户户名须为证书登记的单位名称“" + trim(registered.Name) + "”；金融认证只向本单位对公账户打款"
	return e
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

// ApplicationForm is everything the clerk fills in on the renewal form.
type ApplicationForm struct {
	Years               int          `json:"years"`
	Organisation        Organisation `json:"organisation"`
	LegalRepresentative Person       `json:"legal_representative"`
	Bank                BankAccount  `json:"bank"`
	Invoice             Invoice      `json:"invoice"`
	Pickup              Pickup       `json:"pickup"`
}

// Normalize trims and canonicalises what people type in several ways
// (credit code case, ID number x, mobile prefixes, account number spaces,
// text in Unicode NFC: NormalizeLine).
func (f *ApplicationForm) Normalize() {
	f.Organisation.Name = NormalizeLine(f.Organisation.Name)
	f.Organisation.CreditCode = NormalizeCreditCode(f.Organisation.CreditCode)
	f.LegalRepresentative.Name = NormalizeLine(f.LegalRepresentative.Name)
	f.LegalRepresentative.IDNumber = NormalizeIDNumber(f.LegalRepresentative.IDNumber)
	f.LegalRepresentative.Mobile = NormalizeMobile(f.LegalRepresentative.Mobile)
	f.Bank.AccountName = NormalizeLine(f.Bank.AccountName)
	f.Bank.BankName = NormalizeLine(f.Bank.BankName)
	f.Bank.AccountNumber = NormalizeBankAccount(f.Bank.AccountNumber)
	f.Invoice.Title = NormalizeLine(f.Invoice.Title)
	f.Invoice.TaxID = NormalizeCreditCode(f.Invoice.TaxID)
	f.Invoice.Email = NormalizeLine(f.Invoice.Email)
	f.Invoice.Phone = NormalizeMobile(f.Invoice.Phone)
	f.Pickup.Recipient = NormalizeLine(f.Pickup.Recipient)
	f.Pickup.Mobile = NormalizeMobile(f.Pickup.Mobile)
	f.Pickup.Address = NormalizeLine(f.Pickup.Address)
}

// Validate checks every field of a normalised form on this computer's
// date: see ValidateAt.
func (f *ApplicationForm) Validate() error { return f.ValidateAt(time.Now()) }

// ValidateAt checks every field of a normalised form and reports all
// problems; a birth date after the date of now is refused. The service
// passes its clock.
func (f *ApplicationForm) ValidateAt(now time.Time) error {
	var fe fieldErrors
	fe.add("years", ValidateYears(f.Years))
	fe.add("organisation", f.Organisation.Validate())
	fe.add("legal_representative", f.LegalRepresentative.ValidateAt(now))
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

// Validate checks the request on this computer's date: see ValidateAt.
func (r *CreateApplicationRequest) Validate() error { return r.ValidateAt(time.Now()) }

// ValidateAt checks the request (normalising the serial and form in place)
// on the date of now.
func (r *CreateApplicationRequest) ValidateAt(now time.Time) error {
	var fe fieldErrors
	if len(r.CertSerial) > MaxSerialBytes {
		fe.add("cert_serial", invalid(CodeTooLong, ""))
	} else {
		r.CertSerial = NormalizeSerial(r.CertSerial)
		fe.add("cert_serial", ValidateSerial(r.CertSerial))
	}
	if r.Form != nil {
		r.Form.Normalize()
		fe.add("form", r.Form.ValidateAt(now))
	}
	return fe.err()
}

// UpdateApplicationRequest replaces the form. PUT /v1/applications/{id}
type UpdateApplicationRequest struct {
	Version int64           `json:"version"`
	Rekey   bool            `json:"rekey"`
	Form    ApplicationForm `json:"form"`
}

// Validate checks the request on this computer's date: see ValidateAt.
func (r *UpdateApplicationRequest) Validate() error { return r.ValidateAt(time.Now()) }

// ValidateAt checks the request (normalising the form in place) on the
// date of now.
func (r *UpdateApplicationRequest) ValidateAt(now time.Time) error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	r.Form.Normalize()
	fe.add("form", r.Form.ValidateAt(now))
	return fe.err()
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

// Validate checks the request (normalising the comment in place).
func (r *SubmitRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	r.Comment = strings.TrimSpace(NormalizeText(r.Comment))
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
	r.Query = NormalizeLine(r.Query)
	if err := ValidateText(r.Query, MaxSearchRunes); err != nil {
		fe.add("q", err)
	}
	fe.add("page_size", validatePageSize(&r.PageSize, MaxPageSize))
	if len(r.PageToken) > MaxPageTokenBytes {
		fe.add("page_token", invalid(CodePageToken, ""))
	}
	return fe.err()
}

// ApplicationPage is one page of a list.
type ApplicationPage struct {
	Items         []Application `json:"items"`
	NextPageToken string        `json:"next_page_token,omitempty"`
}
