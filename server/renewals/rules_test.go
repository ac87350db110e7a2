package renewals_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// renewed takes a fresh certificate through issuance (the renewed
// certificate issued, not yet installed): the application and the old
// certificate's holder, and the new certificate's serial.
func (e *env) renewed() (*renewal.Application, *holder, string) {
	e.t.Helper()
	ctx := e.t.Context()
	a, h := e.readyToDownload()
	ch, err := e.svc.Challenge(ctx, e.clerk, a.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	is, err := e.svc.Issue(ctx, e.clerk, a.ID, renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: ch.Nonce,
		Signature: sign(e.t, h, renewal.SameKeyMessage(a.ID, h.Serial, ch.Nonce))})
	if err != nil {
		e.t.Fatal(err)
	}
	return a, h, is.Serial
}

// wantError fails unless err is the contract's code about field.
func wantError(t *testing.T, err error, code renewal.Code, field string) *renewal.Error {
	t.Helper()
	var re *renewal.Error
	if !errors.As(err, &re) || re.Code != code || re.Field != field {
		t.Fatalf("error %v, want code %s on field %q", err, code, field)
	}
	return re
}

// A certificate renewed and installed cannot be renewed again: its
// successor is. Eligibility says so with the successor's serial, and a new
// application is refused, with or without a form. While the renewed
// certificate waits to be installed the application is still open, so a
// second one is refused already; eligibility names both.
func TestSupersededCertificateIsNotRenewedAgain(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a, h, next := e.renewed()
		f := validForm(e.Org)

		el, err := e.svc.Eligibility(ctx, e.clerk, renewal.EligibilityRequest{Serial: h.Serial})
		if err != nil {
			t.Fatal(err)
		}
		if el.Eligible || el.SupersededBy != next || el.OpenApplicationID != a.ID {
			t.Fatalf("issued, not installed: eligible %v, superseded by %q, open %q; want false, %s, %s", el.Eligible, el.SupersededBy, el.OpenApplicationID, next, a.ID)
		}
		_, err = e.svc.Create(ctx, e.clerk, renewal.CreateApplicationRequest{CertSerial: h.Serial, Form: &f})
		wantError(t, err, renewal.CodeConflict, "cert_serial")

		_, err = e.svc.ConfirmInstalled(ctx, e.clerk, a.ID, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: next})
		if err != nil {
			t.Fatal(err)
		}

		el, err = e.svc.Eligibility(ctx, e.clerk, renewal.EligibilityRequest{Serial: h.Serial})
		if err != nil {
			t.Fatal(err)
		}
		if el.Eligible || el.SupersededBy != next || el.OpenApplicationID != "" || el.Reason == nil || el.Reason.Code != renewal.CodeSuperseded {
			t.Fatalf("installed: %+v, want not eligible, superseded by %s", el, next)
		}
		if !strings.Contains(el.Reason.Localized("zh-CN"), "此证书已续期") || !strings.Contains(el.Reason.Localized("zh-CN"), next) {
			t.Fatalf("reason in Chinese %q does not name the new certificate %s", el.Reason.Localized("zh-CN"), next)
		}
		for _, req := range []renewal.CreateApplicationRequest{{CertSerial: h.Serial, Form: &f}, {CertSerial: h.Serial}} {
			_, err = e.svc.Create(ctx, e.clerk, req)
			re := wantError(t, err, renewal.CodeSuperseded, "cert_serial")
			if !strings.Contains(re.Message, next) {
				t.Fatalf("refusal %q does not name the new certificate %s", re.Message, next)
			}
		}
		page, err := e.svc.List(ctx, e.clerk, renewal.ListApplicationsRequest{CertSerial: h.Serial})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("applications for the old certificate: %d, %v; want only the installed one", len(page.Items), err)
		}

		// The successor itself is not superseded.
		el, err = e.svc.Eligibility(ctx, e.clerk, renewal.EligibilityRequest{Serial: next})
		if err != nil || el.SupersededBy != "" {
			t.Fatalf("successor: %+v, %v", el, err)
		}
	})
}

// The organisation on the form is the one the certificate is registered
// to: another one (by name or credit code) is refused on create, update and
// submit, field by field, and the message names the registered one. The
// registration is the authority: after the CA renames the organisation a
// pre-filled form carries the new name and the old one is refused.
func TestFormOrganisationIsTheRegisteredOne(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		h := e.AddHolder(issuer.ECDSA, e.Org, start.AddDate(0, 0, 30))
		other := validForm(e.Other)

		_, err := e.svc.Create(ctx, e.clerk, renewal.CreateApplicationRequest{CertSerial: h.Serial, Form: &other})
		re := wantError(t, err, renewal.CodeOrgMismatch, "")
		if re.FieldError("form.organisation.name") == nil || re.FieldError("form.organisation.credit_code") == nil {
			t.Fatalf("create naming another organisation: %v, want errors on its name and credit code", err)
		}
		if !strings.Contains(re.Localized("zh-CN"), "与证书登记的单位不一致") || !strings.Contains(re.Localized("zh-CN"), e.Org.Name) {
			t.Fatalf("message %q does not name the registered organisation", re.Localized("zh-CN"))
		}
		onlyCode := validForm(e.Org)
		onlyCode.Organisation.CreditCode = e.Other.CreditCode
		_, err = e.svc.Create(ctx, e.clerk, renewal.CreateApplicationRequest{CertSerial: h.Serial, Form: &onlyCode})
		wantError(t, err, renewal.CodeOrgMismatch, "form.organisation.credit_code")

		// Typed in lower case with spaces, the registered credit code is it.
		f := validForm(e.Org)
		f.Organisation.CreditCode = "  " + strings.ToLower(e.Org.CreditCode) + " "
		a, err := e.svc.Create(ctx, e.clerk, renewal.CreateApplicationRequest{CertSerial: h.Serial, Form: &f})
		if err != nil {
			t.Fatal(err)
		}
		renamed := validForm(e.Org)
		renamed.Organisation.Name = e.Other.Name
		_, err = e.svc.Update(ctx, e.clerk, a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Form: renamed})
		wantError(t, err, renewal.CodeOrgMismatch, "form.organisation.name")

		// A draft that names another organisation (written before the
		// rule) is not sent to review, and stays as it was.
		a, err = e.Store.UpdateApplication(ctx, store.AllScope(), a.ID, a.Version, store.Change{Actor: "system", Action: "test.arrange"},
			func(a *renewal.Application) error { a.Form.Organisation = other.Organisation; return nil })
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Submit(ctx, e.clerk, a.ID, renewal.SubmitRequest{Version: a.Version})
		re = wantError(t, err, renewal.CodeOrgMismatch, "")
		if re.FieldError("organisation.name") == nil || re.FieldError("organisation.credit_code") == nil {
			t.Fatalf("submit naming another organisation: %v", err)
		}
		if got, _ := e.svc.Get(ctx, e.clerk, a.ID); got.Status != renewal.StatusEditing || got.Version != a.Version {
			t.Fatalf("after the refused submit: %s at version %d, want editing at %d", got.Status, got.Version, a.Version)
		}
		a, err = e.svc.Update(ctx, e.clerk, a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Form: validForm(e.Org)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Submit(ctx, e.clerk, a.ID, renewal.SubmitRequest{Version: a.Version}); err != nil {
			t.Fatal(err)
		}

		// The CA renames the organisation: the next pre-filled form (from
		// the last application) carries the new name; the old is refused.
		const newName = "深圳市测试科技集团有限公司"
		if err := e.Store.RenameOrganisation(ctx, e.Org.ID, newName, store.Change{Actor: "cli", Action: "organisation.rename"}); err != nil {
			t.Fatal(err)
		}
		h2 := e.AddHolder(issuer.ECDSA, e.Org, start.AddDate(0, 0, 30))
		b, err := e.svc.Create(ctx, e.clerk, renewal.CreateApplicationRequest{CertSerial: h2.Serial})
		if err != nil {
			t.Fatal(err)
		}
		if b.Form.Organisation.Name != newName || b.Form.LegalRepresentative.Name != "张三" {
			t.Fatalf("pre-filled after the rename: %+v", b.Form)
		}
		_, err = e.svc.Update(ctx, e.clerk, b.ID, renewal.UpdateApplicationRequest{Version: b.Version, Form: validForm(e.Org)})
		wantError(t, err, renewal.CodeOrgMismatch, "form.organisation.name")
	})
}
