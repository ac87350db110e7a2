package renewal

import (
	"strconv"
	"strings"
	"time"
)

// Field paths of the application form, as they appear in field errors.
const (
	FieldYears           = "years"
	FieldOrgName         = "organisation.name"
	FieldCreditCode      = "organisation.credit_code"
	FieldRepName         = "legal_representative.name"
	FieldRepIDNumber     = "legal_representative.id_number"
	FieldRepMobile       = "legal_representative.mobile"
	FieldBankAccountName = "bank.account_name"
	FieldBankName        = "bank.bank_name"
	FieldBankNumber      = "bank.account_number"
	FieldInvoiceTitle    = "invoice.title"
	FieldInvoiceTaxID    = "invoice.tax_id"
	FieldInvoiceEmail    = "invoice.email"
	FieldInvoicePhone    = "invoice.phone"
	FieldPickupRecipient = "pickup.recipient"
	FieldPickupMobile    = "pickup.mobile"
	FieldPickupAddress   = "pickup.address"
)

// FormFields lists the text fields ValidateFormField and CheckTyping know.
func FormFields() []string {
	return []string{FieldYears, FieldOrgName, FieldCreditCode, FieldRepName, FieldRepIDNumber, FieldRepMobile,
		FieldBankAccountName, FieldBankName, FieldBankNumber, FieldInvoiceTitle, FieldInvoiceTaxID, FieldInvoiceEmail,
		FieldInvoicePhone, FieldPickupRecipient, FieldPickupMobile, FieldPickupAddress}
}

// NormalizeFormField applies to one field's text what ApplicationForm.Normalize does.
func NormalizeFormField(field, value string) string {
	switch field {
	case FieldCreditCode, FieldInvoiceTaxID:
		return NormalizeCreditCode(value)
	case FieldRepIDNumber:
		return NormalizeIDNumber(value)
	case FieldRepMobile, FieldInvoicePhone, FieldPickupMobile:
		return NormalizeMobile(value)
	case FieldBankNumber:
		return NormalizeBankAccount(value)
	}
	return NormalizeLine(value)
}

// ValidateFormField validates one finished field of the form (the GUI calls
// it when the user leaves the field; the server validates the whole form with
// ApplicationForm.ValidateAt and gets the same answers). The value is
// normalised first. The error's Field is set to field. Today is the date of
// this computer's clock: see ValidateFormFieldAt.
func ValidateFormField(field, value string) error {
	return ValidateFormFieldAt(field, value, time.Now())
}

// ValidateFormFieldAt is ValidateFormField on the date of now (a birth date
// after it is refused).
func ValidateFormFieldAt(field, value string, now time.Time) error {
	v := NormalizeFormField(field, value)
	var err error
	switch field {
	case FieldYears:
		n, perr := strconv.Atoi(v)
		if perr != nil {
			err = invalid(CodeYears, "")
		} else {
			err = ValidateYears(n)
		}
	case FieldOrgName, FieldBankAccountName:
		err = ValidateName(v, MaxOrgNameRunes)
	case FieldBankName:
		err = ValidateName(v, MaxBankNameRunes)
	case FieldRepName, FieldPickupRecipient:
		err = ValidateName(v, MaxNameRunes)
	case FieldInvoiceTitle:
		err = ValidateName(v, MaxInvoiceTitleRunes)
	case FieldCreditCode:
		err = ValidateCreditCode(v)
	case FieldRepIDNumber:
		err = ValidateIDNumberAt(v, now)
	case FieldRepMobile, FieldInvoicePhone, FieldPickupMobile:
		err = ValidateMobile(v)
	case FieldBankNumber:
		err = ValidateBankAccount(v)
	case FieldInvoiceTaxID:
		err = ValidateTaxID(v)
	case FieldInvoiceEmail:
		err = ValidateEmail(v)
	case FieldPickupAddress:
		err = ValidateAddress(v)
	default:
		err = invalid(CodeInvalidField, "unknown field %q", field)
	}
	return withField(err, field)
}

func withField(err error, field string) error {
	if err == nil {
		return nil
	}
	e := *AsError(err)
	e.Field = field
	return &e
}

// CheckTyping reports a problem with a field that is still being typed only
// when no further typing can fix it: a character that cannot appear, too
// many characters, an impossible birth date or region. nil means "fine so
// far"; a complete value is checked in full. Today is the date of this
// computer's clock: see CheckTypingAt.
func CheckTyping(field, value string) error { return CheckTypingAt(field, value, time.Now()) }

// CheckTypingAt is CheckTyping on the date of now.
func CheckTypingAt(field, value string, now time.Time) error {
	v := NormalizeFormField(field, value)
	if v == "" {
		return nil
	}
	var err error
	switch field {
	case FieldCreditCode:
		err = typingCreditCode(v)
	case FieldRepIDNumber:
		err = typingIDNumber(v, now)
	case FieldRepMobile, FieldInvoicePhone, FieldPickupMobile:
		err = typingMobile(v)
	case FieldBankNumber:
		switch {
		case !allDigits(v):
			err = invalid(CodeBankAccount, "a bank account number has digits only")
		case len(v) > MaxBankAccountDigits:
			err = ValidateBankAccount(v)
		}
	case FieldInvoiceTaxID:
		switch {
		case len(v) > 20:
			err = invalid(CodeTaxID, "a taxpayer ID has at most 20 characters")
		case strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && (r < 'A' || r > 'Z') }) >= 0:
			err = invalid(CodeTaxID, "a taxpayer ID has digits and capital letters only")
		}
	case FieldInvoiceEmail:
		user, _, _ := strings.Cut(v, "@")
		if len(v) > MaxEmailBytes || strings.ContainsAny(v, " <>,;\"") || strings.Count(v, "@") > 1 {
			err = invalid(CodeEmail, "")
		} else if e := checkChars(v); e != nil {
			err = e
		} else if !isASCII(user) {
			err = errEmailUserName()
		}
	case FieldYears:
		err = ValidateFormFieldAt(field, v, now)
	case FieldPickupAddress:
		err = ValidateText(v, MaxAddressRunes)
	default:
		// Names and titles: complete as typed.
		if err = ValidateFormFieldAt(field, v, now); err != nil && CodeOf(err) == CodeRequired {
			err = nil
		}
	}
	return withField(err, field)
}

func typingCreditCode(v string) error {
	if len(v) > 18 {
		return invalid(CodeCreditCode, "a credit code has 18 characters")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if strings.IndexByte(creditCodeAlphabet, c) < 0 {
			return invalid(CodeCreditCode, "character %d (%q) is not allowed in a credit code", i+1, c)
		}
		if i >= 2 && i < 8 && (c < '0' || c > '9') {
			return invalid(CodeCreditCode, "characters 3 to 8 are the region code and must be digits")
		}
	}
	if err := creditCodeHead(v); err != nil {
		return err
	}
	if len(v) == 18 {
		return ValidateCreditCode(v)
	}
	return nil
}

func typingIDNumber(v string, now time.Time) error {
	if len(v) > 18 {
		return invalid(CodeIDNumber, "a resident ID number has 18 characters")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < '0' || c > '9') && !(i == 17 && c == 'X') {
			return invalid(CodeIDNumber, "the first 17 characters are digits, the last a digit or X")
		}
	}
	if !idRegionPossible(v) {
		return errIDRegion()
	}
	if len(v) >= 14 {
		d, err := idBirthDate(v[6:14])
		if err != nil {
			return err
		}
		if err := checkBornBy(d, now); err != nil {
			return err
		}
	}
	if len(v) == 18 {
		return ValidateIDNumberAt(v, now)
	}
	return nil
}

func typingMobile(v string) error {
	if strings.HasPrefix("+86", v) || strings.HasPrefix("0086", v) {
		return nil // the country prefix, still being typed
	}
	if !allDigits(v) {
		return invalid(CodeMobile, "a mainland mobile number has digits only")
	}
	if v[0] != '1' || (len(v) > 1 && v[1] < '3') {
		return invalid(CodeMobile, "a mainland mobile number starts with 13 to 19")
	}
	if len(v) > 11 {
		return invalid(CodeMobile, "a mainland mobile number has 11 digits")
	}
	return nil
}
