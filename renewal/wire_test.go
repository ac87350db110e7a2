package renewal

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

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

func TestMasks(t *testing.T) {
	if MaskMobile("13800138000") != "138****8000" || MaskMobile("1") != "***" {
		t.Error("MaskMobile")
	}
	if (BankAccount{AccountNumber: "6222020200012345678"}).Masked() != "****5678" {
		t.Error("Masked")
	}
}

func ptr[T any](v T) *T { return &v }
