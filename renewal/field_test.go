package renewal

import (
	"testing"
)

// The per-field validator and the whole-form validator agree on every field.
func TestValidateFormFieldAgreesWithForm(t *testing.T) {
	f := goodForm()
	values := map[string]string{
		FieldYears: "2", FieldOrgName: f.Organisation.Name, FieldCreditCode: f.Organisation.CreditCode,
		FieldRepName: f.LegalRepresentative.Name, FieldRepIDNumber: f.LegalRepresentative.IDNumber, FieldRepMobile: f.LegalRepresentative.Mobile,
		FieldBankAccountName: f.Bank.AccountName, FieldBankName: f.Bank.BankName, FieldBankNumber: f.Bank.AccountNumber,
		FieldInvoiceTitle: f.Invoice.Title, FieldInvoiceTaxID: f.Invoice.TaxID, FieldInvoiceEmail: f.Invoice.Email, FieldInvoicePhone: f.Invoice.Phone,
		FieldPickupRecipient: f.Pickup.Recipient, FieldPickupMobile: f.Pickup.Mobile, FieldPickupAddress: f.Pickup.Address,
	}
	for _, field := range FormFields() {
		v, ok := values[field]
		if !ok {
			t.Fatalf("no test value for %s", field)
		}
		if err := ValidateFormField(field, v); err != nil {
			t.Errorf("%s=%q: %v", field, v, err)
		}
		if err := CheckTyping(field, v); err != nil {
			t.Errorf("typing %s=%q: %v", field, v, err)
		}
	}
	// Emptied, every field is required, and the error names it the way the form does.
	var empty ApplicationForm
	all := AsError(empty.Validate())
	for _, field := range FormFields() {
		if field == FieldYears || field[:len("invoice")] == "invoice" || field[:len("pickup")] == "pickup" {
			continue // empty years is out of range; invoice/pickup depend on kind
		}
		e := AsError(ValidateFormField(field, ""))
		fe := all.FieldError(field)
		if e == nil || fe == nil || e.Code != fe.Code || e.Field != field {
			t.Errorf("%s: field validator %v, form validator %v", field, e, fe)
		}
	}
	if ValidateFormField("nonsense", "x") == nil {
		t.Error("unknown field accepted")
	}
	if CodeOf(ValidateFormField(FieldYears, "two")) != CodeYears {
		t.Error("years as words accepted")
	}
}

func TestCheckTyping(t *testing.T) {
	fine := []struct{ field, v string }{
		{FieldCreditCode, "9135"}, {FieldCreditCode, "91350100m0"}, {FieldCreditCode, "91350100M000100Y43"},
		{FieldRepIDNumber, "1101"}, {FieldRepIDNumber, "11010519491231"}, {FieldRepIDNumber, "11010519491231002x"},
		{FieldRepMobile, "1"}, {FieldRepMobile, "138 0013"}, {FieldRepMobile, "+86 138"},
		{FieldBankNumber, "6222 0202"}, {FieldInvoiceTaxID, "9135"}, {FieldInvoiceEmail, "fin"}, {FieldInvoiceEmail, "a@"},
		{FieldOrgName, ""}, {FieldOrgName, "深圳"}, {FieldPickupAddress, "深"}, {FieldYears, "3"},
	}
	for _, c := range fine {
		if err := CheckTyping(c.field, c.v); err != nil {
			t.Errorf("typing %s=%q: %v", c.field, c.v, err)
		}
	}
	bad := []struct {
		field, v string
		code     Code
	}{
		{FieldCreditCode, "91I", CodeCreditCode},
		{FieldCreditCode, "91A", CodeCreditCode},
		{FieldCreditCode, "91350100M000100Y44", CodeCreditCode},
		{FieldCreditCode, "91350100M000100Y431", CodeCreditCode},
		{FieldRepIDNumber, "0", CodeIDNumber},
		{FieldRepIDNumber, "1101a", CodeIDNumber},
		{FieldRepIDNumber, "11010519491331", CodeIDBirthDate},
		{FieldRepIDNumber, "110105194912310021", CodeIDNumber},
		{FieldRepIDNumber, "1101051949123100X", CodeIDNumber},
		{FieldRepMobile, "2", CodeMobile},
		{FieldRepMobile, "12", CodeMobile},
		{FieldRepMobile, "138001380001", CodeMobile},
		{FieldRepMobile, "138a", CodeMobile},
		{FieldBankNumber, "6222x", CodeBankAccount},
		{FieldBankNumber, "1234567890123456789012345678901", CodeBankAccount},
		{FieldInvoiceTaxID, "91-", CodeTaxID},
		{FieldInvoiceEmail, "a b", CodeEmail},
		{FieldInvoiceEmail, "a@b@c", CodeEmail},
		{FieldYears, "4", CodeYears},
		{FieldOrgName, "a\x00", CodeTextCharacter},
	}
	for _, c := range bad {
		err := CheckTyping(c.field, c.v)
		if CodeOf(err) != c.code || AsError(err).Field != c.field {
			t.Errorf("typing %s=%q: %v, want %s on the field", c.field, c.v, err, c.code)
		}
	}
}

// A prefix of a valid value is never refused while typing.
func TestCheckTypingAcceptsEveryPrefix(t *testing.T) {
	for field, v := range map[string]string{
		FieldCreditCode: "91350100M000100Y43", FieldRepIDNumber: "11010519491231002X", FieldRepMobile: "+86 138-0013-8000",
		FieldBankNumber: "6222 0202 0001 2345 678", FieldInvoiceTaxID: "91350100M000100Y43", FieldInvoiceEmail: "finance@example.com",
		FieldPickupAddress: "广东省深圳市南山区科技园",
	} {
		r := []rune(v)
		for i := 1; i <= len(r); i++ {
			if err := CheckTyping(field, string(r[:i])); err != nil {
				t.Errorf("typing %s=%q: %v", field, string(r[:i]), err)
			}
		}
	}
}

func FuzzCheckTyping(f *testing.F) {
	f.Add(FieldRepIDNumber, "1101051949")
	f.Add(FieldCreditCode, "9135")
	f.Add(FieldRepMobile, "+86")
	f.Fuzz(func(t *testing.T, field, v string) {
		_ = CheckTyping(field, v)
		_ = ValidateFormField(field, v)
		for _, fl := range FormFields() {
			_ = CheckTyping(fl, v)
			_ = ValidateFormField(fl, v)
		}
	})
}
