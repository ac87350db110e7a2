package renewal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// wireNames is the code list as released. Codes travel by name and are
// numbered by position: this test fails if the list is reordered or a code
// removed. Append new codes at the end of both lists.
var wireNames = []string{
	"unknown", "internal", "invalid_request", "invalid_field", "required", "too_long",
	"credit_code", "id_number", "mobile", "email", "bank_account", "tax_id", "years", "address",
	"unauthenticated", "forbidden", "not_found", "stale_version", "action_not_allowed",
	"sms_code_wrong", "sms_code_expired", "sms_too_soon", "sms_daily_limit", "sms_too_many_tries",
	"bad_credentials", "token_expired", "token_revoked", "rate_limited", "not_eligible",
	"window_not_open", "window_closed", "document_too_large", "document_type",
	"finverify_code_wrong", "finverify_too_many_tries", "challenge_expired", "proof_invalid",
	"csr_invalid", "rekey_required", "not_issued", "conflict", "body_too_large", "reason_required",
	"payment_required", "finverify_code", "id_birth_date", "page_token", "link_expired",
	"text_character",
	"superseded", "organisation_mismatch",
	"busy",
	"price_locked", "payment_short", "not_yet_valid",
}

func TestCodesAppendOnly(t *testing.T) {
	all := Codes()
	if len(all) < len(wireNames) {
		t.Fatalf("%d codes, %d released: a code was removed", len(all), len(wireNames))
	}
	seen := map[string]bool{}
	for i, c := range all {
		ci := c.Info()
		if i < len(wireNames) && ci.Name != wireNames[i] {
			t.Errorf("code %d is %q, released as %q: do not reorder", i, ci.Name, wireNames[i])
		}
		if ci.Name == "" || ci.EN == "" || ci.ZH == "" || http.StatusText(ci.Status) == "" {
			t.Errorf("code %d incomplete: %+v", i, ci)
		}
		if seen[ci.Name] {
			t.Errorf("duplicate name %q", ci.Name)
		}
		seen[ci.Name] = true
		if CodeByName(ci.Name) != c {
			t.Errorf("CodeByName(%q) = %v", ci.Name, CodeByName(ci.Name))
		}
	}
	if len(all) > len(wireNames) {
		t.Errorf("new codes %v: add them to wireNames", all[len(wireNames):])
	}
}

func TestErrorJSONRoundTrip(t *testing.T) {
	e := NewError(CodeStaleVersion, "")
	e.Err = errors.New("secret cause")
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"code":"stale_version","field":"version","message":"changed by someone else meanwhile; reload and try again","message_zh":"内容已被他人修改，请刷新后重试"}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back Error
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Code != CodeStaleVersion || back.Field != "version" || back.Err != nil {
		t.Errorf("round trip: %+v", back)
	}
	if !errors.Is(&back, NewError(CodeStaleVersion, "")) || errors.Is(&back, NewError(CodeNotFound, "")) ||
		!errors.Is(Errorf(CodeMobile, "pickup.mobile", "x"), NewError(CodeMobile, "")) {
		t.Error("errors.Is does not compare codes")
	}
	// A code a newer server added reads as unknown, not as a decoding failure.
	if err := json.Unmarshal([]byte(`{"code":"from_the_future","message":"x"}`), &back); err != nil || back.Code != CodeUnknown {
		t.Errorf("unknown code: %v %v", back.Code, err)
	}
}

func TestErrorHelpers(t *testing.T) {
	wrapped := fmt.Errorf("saving: %w", NewError(CodeNotFound, "id"))
	if CodeOf(wrapped) != CodeNotFound || AsError(wrapped).HTTPStatus() != 404 {
		t.Errorf("CodeOf/AsError through wrapping: %v", wrapped)
	}
	plain := errors.New("disk full")
	if e := AsError(plain); e.Code != CodeInternal || !errors.Is(e, plain) || e.Message == plain.Error() {
		t.Errorf("AsError(plain) = %+v", e)
	}
	if CodeOf(nil) != CodeUnknown || AsError(nil) != nil {
		t.Error("nil handling")
	}
	e := NewError(CodeMobile, "")
	if e.Localized("zh-CN") != "手机号码无效，请输入 11 位手机号码" || e.Localized("en") != "not a valid mainland mobile number" {
		t.Errorf("Localized: %q %q", e.Localized("zh-CN"), e.Localized("en"))
	}
	if Code(9999).String() != "unknown" || Code(-1).HTTPStatus() != 500 {
		t.Error("out-of-range codes")
	}
}
