package renewal

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
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

func TestRequestsValidate(t *testing.T) {
	nonce := bytes.Repeat([]byte{1}, NonceBytes)
	good := []interface{ Validate() error }{
		&SMSCodeRequest{Mobile: "13800138000"},
		&SMSLoginRequest{Mobile: "13800138000", Code: "123456"},
		&PasswordLoginRequest{Account: "clerk01", Password: "correct horse"},
		&RefreshRequest{RefreshToken: "rt_abcdef"},
		&EligibilityRequest{Serial: "0A:1B:2C"},
		&CreateApplicationRequest{CertSerial: "0a1b2c"},
		&CreateApplicationRequest{CertSerial: "0a1b2c", Form: ptr(goodForm())},
		&UpdateApplicationRequest{Version: 3, Form: goodForm()},
		&VersionRequest{Version: 1},
		&SubmitRequest{Version: 1, Comment: "请审核"},
		&ListApplicationsRequest{Status: []Status{StatusPendingReview}, Query: "测试"},
		&UploadDocumentRequest{Kind: DocApplicationForm, Name: "申请表.pdf"},
		&ReviewRequest{Version: 2},
		&FinVerifyCodeRequest{Version: 2, Code: "012345"},
		&CorrectBankRequest{Version: 2, Bank: BankAccount{AccountName: "某公司", BankName: "某银行", AccountNumber: "6222 0202 0001"}},
		&IssueRequest{Version: 4, Mode: IssueSameKey, Nonce: nonce, Signature: []byte{1, 2}},
		&IssueRequest{Version: 4, Mode: IssueRekey, Nonce: nonce, CSR: []byte{0x30}, BindingSignature: []byte{1}},
		&IssueRequest{Version: 4, Mode: IssueRekey, Nonce: nonce, CSR: []byte{0x30}}, // old cert expired: no binding
		&ConfirmInstalledRequest{Version: 5, Serial: "ABCDEF"},
		&AuditQuery{Target: "application/1"},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("%T%+v: %v", r, r, err)
		}
	}
	bad := []struct {
		r     interface{ Validate() error }
		field string
	}{
		{&SMSCodeRequest{Mobile: "1380013800"}, "mobile"},
		{&SMSLoginRequest{Mobile: "13800138000", Code: "12345"}, "code"},
		{&SMSLoginRequest{Mobile: "13800138000", Code: "12345a"}, "code"},
		{&PasswordLoginRequest{Account: "clerk01"}, "password"},
		{&PasswordLoginRequest{Account: "clerk01", Password: strings.Repeat("x", MaxPasswordBytes+1)}, "password"},
		{&PasswordLoginRequest{Password: "x"}, "account"},
		{&RefreshRequest{}, "refresh_token"},
		{&RefreshRequest{RefreshToken: "a b"}, "refresh_token"},
		{&RefreshRequest{RefreshToken: strings.Repeat("a", MaxTokenBytes+1)}, "refresh_token"},
		{&EligibilityRequest{Serial: "xyz"}, "serial"},
		{&EligibilityRequest{Serial: ""}, "serial"},
		{&EligibilityRequest{Serial: strings.Repeat("a", 41)}, "serial"},
		{&CreateApplicationRequest{CertSerial: "0a1b2c", Form: &ApplicationForm{}}, "form.years"},
		{&UpdateApplicationRequest{Version: 0, Form: goodForm()}, "version"},
		{&VersionRequest{Version: -1}, "version"},
		{&SubmitRequest{Version: 1, Comment: strings.Repeat("好", MaxCommentRunes+1)}, "comment"},
		{&SubmitRequest{Version: 1, Comment: "bell\a"}, "comment"},
		{&ListApplicationsRequest{Status: []Status{"lost"}}, "status"},
		{&ListApplicationsRequest{Payment: []Payment{"maybe"}}, "payment"},
		{&ListApplicationsRequest{FinVerify: []FinVerify{"x"}}, "finverify"},
		{&ListApplicationsRequest{PageSize: MaxPageSize + 1}, "page_size"},
		{&ListApplicationsRequest{PageSize: -1}, "page_size"},
		{&ListApplicationsRequest{CertSerial: "zz"}, "cert_serial"},
		{&ListApplicationsRequest{PageToken: strings.Repeat("a", MaxPageTokenBytes+1)}, "page_token"},
		{&UploadDocumentRequest{Kind: "selfie", Name: "a.png"}, "kind"},
		{&UploadDocumentRequest{Kind: DocIDFront}, "name"},
		{&ReviewRequest{Version: 1, Reason: strings.Repeat("因", MaxReasonRunes+1)}, "reason"},
		{&FinVerifyCodeRequest{Version: 1, Code: "1234567"}, "code"},
		{&CorrectBankRequest{Version: 1, Bank: BankAccount{AccountName: "a", BankName: "b", AccountNumber: "1"}}, "bank.account_number"},
		{&IssueRequest{Version: 1, Mode: "magic", Nonce: nonce}, "mode"},
		{&IssueRequest{Version: 1, Mode: IssueSameKey, Nonce: nonce[:5], Signature: []byte{1}}, "nonce"},
		{&IssueRequest{Version: 1, Mode: IssueSameKey, Nonce: nonce}, "signature"},
		{&IssueRequest{Version: 1, Mode: IssueSameKey, Nonce: nonce, Signature: make([]byte, MaxSignatureBytes+1)}, "signature"},
		{&IssueRequest{Version: 1, Mode: IssueSameKey, Nonce: nonce, Signature: []byte{1}, CSR: []byte{1}}, "csr"},
		{&IssueRequest{Version: 1, Mode: IssueRekey, Nonce: nonce}, "csr"},
		{&IssueRequest{Version: 1, Mode: IssueRekey, Nonce: nonce, CSR: []byte{1}, Signature: []byte{1}}, "signature"},
		{&ConfirmInstalledRequest{Version: 1, Serial: "g"}, "serial"},
		{&AuditQuery{Since: time.Unix(100, 0), Until: time.Unix(50, 0)}, "until"},
		{&AuditQuery{PageSize: MaxAuditPageSize + 1}, "page_size"},
		{&AuditQuery{AfterSeq: -1}, "after_seq"},
	}
	for _, c := range bad {
		e := AsError(c.r.Validate())
		if e == nil || e.FieldError(c.field) == nil {
			t.Errorf("%T%+v: %v, want an error on %q", c.r, c.r, e, c.field)
		}
	}
}

func TestReviewRequestReason(t *testing.T) {
	for _, a := range []Action{ActionReject, ActionHold} {
		r := ReviewRequest{Version: 1, Reason: "  "}
		if e := AsError(r.ValidateFor(a)); e.FieldError("reason") == nil || e.FieldError("reason").Code != CodeReasonRequired {
			t.Errorf("%s without reason: %v", a, e)
		}
		r.Reason = "盖章不清晰"
		if err := r.ValidateFor(a); err != nil {
			t.Errorf("%s with reason: %v", a, err)
		}
	}
	if (&ReviewRequest{Version: 1}).ValidateFor(ActionSubmit) == nil {
		t.Error("submit accepted as a review action")
	}
}

func TestListDefaults(t *testing.T) {
	r := ListApplicationsRequest{CertSerial: "0A:BC"}
	if err := r.Validate(); err != nil || r.PageSize != DefaultPageSize || r.CertSerial != "abc" {
		t.Errorf("defaults: %+v %v", r, err)
	}
}

func TestNormalizeSerial(t *testing.T) {
	for in, want := range map[string]string{"0A:1B": "a1b", "00": "0", "": "", "DEAD beef": "deadbeef"} {
		if got := NormalizeSerial(in); got != want {
			t.Errorf("NormalizeSerial(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSniffDocument(t *testing.T) {
	for head, want := range map[string]string{"%PDF-1.7\n": ContentPDF, "\xff\xd8\xff\xe0": ContentJPEG, "\x89PNG\r\n\x1a\n": ContentPNG} {
		if got, err := SniffDocument([]byte(head)); err != nil || got != want {
			t.Errorf("SniffDocument(%q) = %q, %v", head, got, err)
		}
	}
	for _, head := range []string{"", "GIF89a", "<html>", "PK\x03\x04"} {
		if _, err := SniffDocument([]byte(head)); CodeOf(err) != CodeDocumentType {
			t.Errorf("SniffDocument(%q) = %v", head, err)
		}
	}
}

func TestProofMessagesBindEverything(t *testing.T) {
	n := bytes.Repeat([]byte{7}, NonceBytes)
	base := SameKeyMessage("app1", "abc", n)
	for _, other := range [][]byte{SameKeyMessage("app2", "abc", n), SameKeyMessage("app1", "abd", n),
		SameKeyMessage("app1", "abc", bytes.Repeat([]byte{8}, NonceBytes)), RekeyBindingMessage("app1", "abc", n, nil)} {
		if bytes.Equal(base, other) {
			t.Errorf("messages collide: %q", other)
		}
	}
	if bytes.Equal(RekeyBindingMessage("a", "b", n, []byte{1}), RekeyBindingMessage("a", "b", n, []byte{2})) {
		t.Error("binding message ignores the CSR")
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

func TestMasks(t *testing.T) {
	if MaskMobile("13800138000") != "138****8000" || MaskMobile("1") != "***" {
		t.Error("MaskMobile")
	}
	if (BankAccount{AccountNumber: "6222020200012345678"}).Masked() != "****5678" {
		t.Error("Masked")
	}
}

func ptr[T any](v T) *T { return &v }
