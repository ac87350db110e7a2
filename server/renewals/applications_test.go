package renewals_test

import (
	"slices"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

// An application goes from draft to approved through the service alone;
// each step is one version and one audit entry, and the answer carries the
// caller's next actions.
func TestApplicationLifecycle(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.draft()
		if a.Version != 1 || a.Status != renewal.StatusEditing || !slices.Contains(a.Actions, renewal.ActionSubmit) {
			t.Fatalf("created %+v", a)
		}
		f := a.Form
		f.Years = 2
		a, err := e.svc.Update(ctx, e.clerk, a.ID, renewal.UpdateApplicationRequest{Version: 1, Form: f})
		if err != nil {
			t.Fatal(err)
		}
		price, _ := renewal.DefaultPolicy().PriceFen(2)
		if a.Version != 2 || a.PriceFen != price {
			t.Fatalf("updated: version %d price %d, want 2 and %d", a.Version, a.PriceFen, price)
		}
		a, err = e.svc.Submit(ctx, e.clerk, a.ID, renewal.SubmitRequest{Version: 2, Comment: "  请审核  "})
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != renewal.StatusPendingReview || a.Comment != "请审核" || a.SubmittedAt == nil {
			t.Fatalf("submitted %+v", a)
		}
		// The states table refuses the clerk's approve; the reviewer may, and sees approve no more.
		_, err = e.svc.Review(ctx, e.clerk, a.ID, renewal.ActionApprove, renewal.ReviewRequest{Version: 3})
		wantCode(t, err, renewal.CodeActionNotAllowed)
		a, err = e.svc.Review(ctx, e.reviewer, a.ID, renewal.ActionApprove, renewal.ReviewRequest{Version: 3})
		if err != nil {
			t.Fatal(err)
		}
		if a.Version != 4 || a.ReviewedAt == nil || slices.Contains(a.Actions, renewal.ActionApprove) {
			t.Fatalf("approved %+v", a)
		}
		want := []string{"application.create", "application.edit", "application.submit", "application.approve"}
		if got := e.actions("application/" + a.ID); !slices.Equal(got, want) {
			t.Fatalf("audit %v, want %v", got, want)
		}
	})
}

// A change at a version that moved on, or that the states table refuses,
// changes nothing and writes no audit entry.
func TestRefusedChangesKeepNothing(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.draft()
		f := a.Form
		f.Years = 3
		if _, err := e.svc.Update(ctx, e.clerk, a.ID, renewal.UpdateApplicationRequest{Version: 1, Form: f}); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Update(ctx, e.clerk, a.ID, renewal.UpdateApplicationRequest{Version: 1, Form: a.Form})
		wantCode(t, err, renewal.CodeStaleVersion)
		_, err = e.svc.Review(ctx, e.reviewer, a.ID, renewal.ActionApprove, renewal.ReviewRequest{Version: 2})
		wantCode(t, err, renewal.CodeActionNotAllowed)
		got, err := e.svc.Get(ctx, e.clerk, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || got.Form.Years != 3 || got.Status != renewal.StatusEditing {
			t.Fatalf("after refusals %+v", got)
		}
		if n := len(e.actions("application/" + a.ID)); n != 2 {
			t.Fatalf("%d audit entries, want 2 (create, edit)", n)
		}
	})
}

// Another organisation's application does not exist for a clerk; its
// certificate is not eligible; staff see everything.
func TestScope(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.draft()
		_, err := e.svc.Get(ctx, e.otherClerk, a.ID)
		wantCode(t, err, renewal.CodeNotFound)
		err = e.svc.Delete(ctx, e.otherClerk, a.ID, 1)
		wantCode(t, err, renewal.CodeNotFound)
		_, err = e.svc.Eligibility(ctx, e.otherClerk, renewal.EligibilityRequest{Serial: a.CertSerial})
		wantCode(t, err, renewal.CodeNotEligible)
		el, err := e.svc.Eligibility(ctx, e.clerk, renewal.EligibilityRequest{Serial: a.CertSerial})
		if err != nil || el.OpenApplicationID != a.ID {
			t.Fatalf("eligibility %+v, %v; want the open application %s", el, err, a.ID)
		}
		if _, err := e.svc.Get(ctx, e.reviewer, a.ID); err != nil {
			t.Fatal(err)
		}
		page, err := e.svc.List(ctx, e.otherClerk, renewal.ListApplicationsRequest{PageSize: 10})
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("other clerk lists %+v, %v", page, err)
		}
		_, err = e.svc.Get(ctx, e.clerk, "")
		wantCode(t, err, renewal.CodeNotFound)
	})
}

// Only a clerk of an organisation starts a renewal, once per certificate;
// without a form it is pre-filled from the certificate's organisation.
func TestCreate(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		h := e.AddHolder(issuer.SM2, e.Org, start.AddDate(0, 0, 40))
		req := renewal.CreateApplicationRequest{CertSerial: h.Serial}
		_, err := e.svc.Create(ctx, e.reviewer, req)
		wantCode(t, err, renewal.CodeForbidden)
		a, err := e.svc.Create(ctx, e.clerk, req)
		if err != nil {
			t.Fatal(err)
		}
		if a.Form.Organisation.CreditCode != e.Org.CreditCode || a.Form.Years != 1 || a.CreatedBy != e.clerk.User.ID {
			t.Fatalf("pre-filled %+v", a)
		}
		_, err = e.svc.Create(ctx, e.clerk, req)
		wantCode(t, err, renewal.CodeConflict)
		far := e.AddHolder(issuer.ECDSA, e.Org, start.AddDate(0, 0, 200))
		_, err = e.svc.Create(ctx, e.clerk, renewal.CreateApplicationRequest{CertSerial: far.Serial})
		wantCode(t, err, renewal.CodeWindowNotOpen)
	})
}

// Documents are added and removed while the application is a draft, and
// not once it is submitted.
func TestDocuments(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.draft()
		pdf := []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")
		req := renewal.UploadDocumentRequest{Kind: renewal.DocApplicationForm, Name: "form.pdf"}
		_, err := e.svc.UploadDocument(ctx, e.clerk, a.ID, req, nil)
		wantCode(t, err, renewal.CodeRequired)
		_, err = e.svc.UploadDocument(ctx, e.otherClerk, a.ID, req, pdf)
		wantCode(t, err, renewal.CodeNotFound)
		d, err := e.svc.UploadDocument(ctx, e.clerk, a.ID, req, pdf)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := e.svc.UploadDocument(ctx, e.clerk, a.ID, req, pdf)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteDocument(ctx, e.clerk, a.ID, d2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Submit(ctx, e.clerk, a.ID, renewal.SubmitRequest{Version: 1}); err != nil {
			t.Fatal(err)
		}
		err = e.svc.DeleteDocument(ctx, e.clerk, a.ID, d.ID)
		wantCode(t, err, renewal.CodeActionNotAllowed)
		docs, err := e.svc.Documents(ctx, e.clerk, a.ID)
		if err != nil || len(docs) != 1 || docs[0].ID != d.ID {
			t.Fatalf("documents %v, %v; want only %s", docs, err, d.ID)
		}
		_, data, err := e.svc.Document(ctx, e.reviewer, a.ID, d.ID)
		if err != nil || string(data) != string(pdf) {
			t.Fatalf("document read back: %v", err)
		}
	})
}
