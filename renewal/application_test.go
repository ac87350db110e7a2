package renewal

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func goodForm() ApplicationForm {
	return ApplicationForm{
		Years:               2,
		Organisation:        Organisation{Name: "深圳市测试科技有限公司", CreditCode: "91350100M000100Y43"},
		LegalRepresentative: Person{Name: "张三", IDNumber: "11010519491231002X", Mobile: "13800138000"},
		Bank:                BankAccount{AccountName: "深圳市测试科技有限公司", BankName: "招商银行深圳分行", AccountNumber: "755912345610001"},
		Invoice:             Invoice{Kind: InvoiceElectronic, Title: "深圳市测试科技有限公司", TaxID: "91350100M000100Y43", Email: "finance@example.com", Phone: "13800138000"},
		Pickup:              Pickup{Method: PickupPost, Recipient: "李四", Mobile: "13900139000", Address: "广东省深圳市南山区科技园南区 1 号"},
	}
}

func TestFormValid(t *testing.T) {
	f := goodForm()
	f.Normalize()
	if err := f.Validate(); err != nil {
		t.Fatalf("good form: %v", err)
	}
	f.Invoice = Invoice{Kind: InvoiceNone}
	f.Pickup = Pickup{Method: PickupOnSite}
	if err := f.Validate(); err != nil {
		t.Fatalf("minimal form: %v", err)
	}
}

func TestFormNormalize(t *testing.T) {
	f := goodForm()
	f.Organisation.CreditCode = " 91350100m000100y43 "
	f.LegalRepresentative.IDNumber = "11010519491231002x"
	f.LegalRepresentative.Mobile = "+86 138-0013-8000"
	f.Bank.AccountNumber = "7559 1234 5610 001"
	f.Normalize()
	if err := f.Validate(); err != nil {
		t.Fatalf("normalised form: %v", err)
	}
	if f.LegalRepresentative.Mobile != "13800138000" || f.Bank.AccountNumber != "755912345610001" {
		t.Errorf("normalised: %+v", f)
	}
}

// Every field wrong in turn: the error names exactly that field.
func TestFormEachFieldWrong(t *testing.T) {
	cases := []struct {
		field string
		code  Code
		spoil func(*ApplicationForm)
	}{
		{"years", CodeYears, func(f *ApplicationForm) { f.Years = 4 }},
		{"years", CodeYears, func(f *ApplicationForm) { f.Years = 0 }},
		{"organisation.name", CodeRequired, func(f *ApplicationForm) { f.Organisation.Name = " " }},
		{"organisation.name", CodeTooLong, func(f *ApplicationForm) { f.Organisation.Name = strings.Repeat("公", 101) }},
		{"organisation.credit_code", CodeCreditCode, func(f *ApplicationForm) { f.Organisation.CreditCode = "91350100M000100Y44" }},
		{"legal_representative.name", CodeRequired, func(f *ApplicationForm) { f.LegalRepresentative.Name = "" }},
		{"legal_representative.name", CodeInvalidField, func(f *ApplicationForm) { f.LegalRepresentative.Name = "张\n三" }},
		{"legal_representative.id_number", CodeIDNumber, func(f *ApplicationForm) { f.LegalRepresentative.IDNumber = "110105194912310021" }},
		{"legal_representative.mobile", CodeMobile, func(f *ApplicationForm) { f.LegalRepresentative.Mobile = "12345" }},
		{"bank.account_name", CodeRequired, func(f *ApplicationForm) { f.Bank.AccountName = "" }},
		{"bank.bank_name", CodeRequired, func(f *ApplicationForm) { f.Bank.BankName = "" }},
		{"bank.account_number", CodeBankAccount, func(f *ApplicationForm) { f.Bank.AccountNumber = "12ab" }},
		{"invoice.kind", CodeInvalidField, func(f *ApplicationForm) { f.Invoice.Kind = "paper" }},
		{"invoice.kind", CodeInvalidField, func(f *ApplicationForm) { f.Invoice = Invoice{Kind: InvoiceNone, Email: "a@b.cn"} }},
		{"invoice.title", CodeRequired, func(f *ApplicationForm) { f.Invoice.Title = "" }},
		{"invoice.tax_id", CodeTaxID, func(f *ApplicationForm) { f.Invoice.TaxID = "123" }},
		{"invoice.email", CodeEmail, func(f *ApplicationForm) { f.Invoice.Email = "finance" }},
		{"invoice.phone", CodeMobile, func(f *ApplicationForm) { f.Invoice.Phone = "010-12345678" }},
		{"pickup.method", CodeInvalidField, func(f *ApplicationForm) { f.Pickup.Method = "drone" }},
		{"pickup.method", CodeInvalidField, func(f *ApplicationForm) { f.Pickup = Pickup{Method: PickupOnSite, Address: "x"} }},
		{"pickup.recipient", CodeRequired, func(f *ApplicationForm) { f.Pickup.Recipient = "" }},
		{"pickup.mobile", CodeMobile, func(f *ApplicationForm) { f.Pickup.Mobile = "139" }},
		{"pickup.address", CodeAddress, func(f *ApplicationForm) { f.Pickup.Address = "深圳" }},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			f := goodForm()
			c.spoil(&f)
			f.Normalize()
			err := f.Validate()
			e := AsError(err)
			if e == nil || e.Code != CodeInvalidField || len(e.Fields) != 1 {
				t.Fatalf("got %v, want exactly one field error", err)
			}
			if fe := e.Fields[0]; fe.Field != c.field || fe.Code != c.code {
				t.Errorf("got %s/%s, want %s/%s", fe.Field, fe.Code, c.field, c.code)
			}
			if e.Field != c.field {
				t.Errorf("top-level field %q, want %q", e.Field, c.field)
			}
		})
	}
}

func TestFormAllWrongReportsAll(t *testing.T) {
	var f ApplicationForm
	e := AsError(f.Validate())
	if e == nil || len(e.Fields) < 8 {
		t.Fatalf("empty form: %v", e)
	}
	if e.FieldError("organisation.credit_code") == nil || e.FieldError("years") == nil {
		t.Errorf("missing fields in %v", e)
	}
}

func TestListDefaults(t *testing.T) {
	r := ListApplicationsRequest{CertSerial: "0A:BC"}
	if err := r.Validate(); err != nil || r.PageSize != DefaultPageSize || r.CertSerial != "abc" {
		t.Errorf("defaults: %+v %v", r, err)
	}
}

func TestApplicationJSON(t *testing.T) {
	a := Application{ID: "x", State: State{Status: StatusEditing, Payment: PaymentUnpaid, FinVerify: FinVerifyPending}, Version: 1}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"status":"editing"`, `"payment":"unpaid"`, `"finverify":"pending"`, `"version":1`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
}

// The verification's bank account bears the organisation's registered
// name, compared as the organisation's own name is (normalised).
func TestBankMatchHolder(t *testing.T) {
	reg := Organisation{Name: "深圳市测试科技有限公司", CreditCode: "91440300MA5FXXXX0X"}
	ok := BankAccount{AccountName: " 深圳市测试科技有限公司 ", BankName: "招商银行", AccountNumber: "755912345610801"}
	if err := ok.MatchHolder(reg, "form."); err != nil {
		t.Fatalf("the registered name: %v", err)
	}
	if err := (BankAccount{}).MatchHolder(reg, ""); err != nil {
		t.Fatalf("no name yet: %v", err)
	}
	other := ok
	other.AccountName = "李四"
	e := AsError(other.MatchHolder(reg, "form."))
	if e == nil || e.Code != CodeOrgMismatch || e.Field != "form.bank.account_name" || !strings.Contains(e.MessageZH, reg.Name) {
		t.Fatalf("another holder: %#v", e)
	}
}
