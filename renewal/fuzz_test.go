package renewal

import (
	"encoding/json"
	"testing"
)

// FuzzRequests decodes arbitrary JSON into every request type and validates
// it: nothing panics, and a request that validates once validates again
// (normalising is idempotent).
func FuzzRequests(f *testing.F) {
	f.Add(`{"mobile":"+86 138 0013 8000","code":"123456"}`)
	f.Add(`{"cert_serial":"0A:1B","form":{"years":2,"organisation":{"name":"测试","credit_code":"91350100m000100y43"}}}`)
	f.Add(`{"version":1,"mode":"rekey","nonce":"AAAA","csr":"MA==","binding_signature":"AQ=="}`)
	f.Add(`{"status":["editing","lost"],"page_size":1000,"q":"\u0000"}`)
	f.Add(`{"version":3,"bank":{"account_name":"a","bank_name":"b","account_number":"6222 0202 0001"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		reqs := []interface{ Validate() error }{
			&SMSCodeRequest{}, &SMSLoginRequest{}, &PasswordLoginRequest{}, &RefreshRequest{}, &EligibilityRequest{},
			&CreateApplicationRequest{}, &UpdateApplicationRequest{}, &VersionRequest{}, &SubmitRequest{},
			&ListApplicationsRequest{}, &UploadDocumentRequest{}, &ReviewRequest{}, &FinVerifyCodeRequest{},
			&CorrectBankRequest{}, &IssueRequest{}, &ConfirmInstalledRequest{}, &AuditQuery{}, &ApplicationForm{},
		}
		for _, r := range reqs {
			if json.Unmarshal([]byte(body), r) != nil {
				continue
			}
			if f, ok := r.(*ApplicationForm); ok {
				f.Normalize()
			}
			if r.Validate() == nil {
				if err := r.Validate(); err != nil {
					t.Fatalf("%T validated once, then not: %v", r, err)
				}
			}
		}
		var p Policy
		if json.Unmarshal([]byte(body), &p) == nil {
			_ = p.Validate()
		}
		var e Error
		_ = json.Unmarshal([]byte(body), &e)
		_ = e.Error()
	})
}
