package client_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// wantCode checks that err is the service's (or the contract's) error with
// code, reachable both as *client.APIError (when status > 0) and through
// errors.Is against the contract's error.
func wantCode(t *testing.T, err error, status int, code renewal.Code) *client.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d %s", status, code)
	}
	if !errors.Is(err, renewal.NewError(code, "")) || renewal.CodeOf(err) != code {
		t.Fatalf("error %v: want code %s", err, code)
	}
	var ae *client.APIError
	if status == 0 {
		if errors.As(err, &ae) {
			t.Fatalf("error %v came from the service, want a local refusal", err)
		}
		return nil
	}
	if !errors.As(err, &ae) || ae.Status != status {
		t.Fatalf("error %v: want an APIError with status %d", err, status)
	}
	return ae
}

func tokenSign(t *testing.T, key crypto.Signer, msg []byte) []byte {
	t.Helper()
	d := sha256.Sum256(msg)
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, k, d[:])
	default:
		t.Fatalf("key %T", key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestEndToEnd runs the real client against the real service over HTTP
// through every /v1 route: a renewal from sign-in to installation, with
// the service's refusals along the way.
func TestEndToEnd(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	var mu sync.Mutex
	var saved []renewal.Tokens
	clerk, _ := e.client(client.WithTokenCallback(func(_ context.Context, tk renewal.Tokens) {
		mu.Lock()
		saved = append(saved, tk)
		mu.Unlock()
	}))

	// Operational routes, policy, the document.
	if err := clerk.Healthy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clerk.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	doc, err := clerk.OpenAPI(ctx)
	if err != nil || !bytes.Equal(doc, e.srvOpenAPI()) {
		t.Fatalf("openapi: %v (%d bytes)", err, len(doc))
	}
	pol, err := clerk.Policy(ctx)
	if err != nil || *pol != renewal.DefaultPolicy() {
		t.Fatalf("policy %+v, %v", pol, err)
	}

	// Not signed in: refused locally, nothing sent.
	_, err = clerk.Me(ctx)
	if !errors.Is(err, client.ErrNotSignedIn) {
		t.Fatalf("me before sign-in: %v", err)
	}

	// Sign in by SMS; a wrong code first.
	sent, err := clerk.SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: clerkMobile})
	if err != nil || sent.ExpiresIn != 300 || sent.ResendAfter != 60 {
		t.Fatalf("sms code: %+v, %v", sent, err)
	}
	_, err = clerk.SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: clerkMobile})
	if ae := wantCode(t, err, http.StatusTooManyRequests, renewal.CodeSMSTooSoon); ae.RetryAfter <= 0 {
		t.Fatalf("sms_too_soon without Retry-After: %+v", ae)
	}
	m, _ := e.SMS.Last(clerkMobile)
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	_, err = clerk.LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: wrong})
	if ae := wantCode(t, err, http.StatusUnauthorized, renewal.CodeSMSCodeWrong); ae.Field != "code" {
		t.Fatalf("field %q", ae.Field)
	}
	if clerk.SignedIn() {
		t.Fatal("signed in after a wrong code")
	}
	tok, err := clerk.LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: m.Code})
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(61e9)
	if len(saved) != 1 || saved[0].RefreshToken != tok.RefreshToken {
		t.Fatalf("token callback got %d pairs", len(saved))
	}
	me, err := clerk.Me(ctx)
	if err != nil || me.OrganisationID != e.Org.ID || me.Role != renewal.RoleClerk {
		t.Fatalf("me %+v, %v", me, err)
	}
	reviewer, _ := e.client()
	_, err = reviewer.Login(ctx, renewal.PasswordLoginRequest{Account: "reviewer", Password: "wrong password"})
	wantCode(t, err, http.StatusUnauthorized, renewal.CodeBadCredentials)
	if _, err := reviewer.Login(ctx, renewal.PasswordLoginRequest{Account: "reviewer", Password: reviewerPassword}); err != nil {
		t.Fatal(err)
	}
	admin, _ := e.client()
	if _, err := admin.Login(ctx, renewal.PasswordLoginRequest{Account: "admin", Password: adminPassword}); err != nil {
		t.Fatal(err)
	}

	// Eligibility; a certificate too far from expiry cannot start.
	h := e.holders["rsa"]
	el, err := clerk.Eligibility(ctx, renewal.EligibilityRequest{Serial: strings.ToUpper(h.Serial)})
	if err != nil || !el.Eligible || el.Certificate.Serial != h.Serial {
		t.Fatalf("eligibility %+v, %v", el, err)
	}
	far, err := clerk.Eligibility(ctx, renewal.EligibilityRequest{Serial: e.holders["far"].Serial})
	if err != nil || far.Eligible || far.Reason == nil || far.Reason.Code != renewal.CodeWindowNotOpen {
		t.Fatalf("far eligibility %+v, %v", far, err)
	}
	_, err = clerk.Eligibility(ctx, renewal.EligibilityRequest{Serial: "abcdef"})
	wantCode(t, err, http.StatusUnprocessableEntity, renewal.CodeNotEligible)
	_, err = clerk.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.holders["far"].Serial})
	wantCode(t, err, http.StatusUnprocessableEntity, renewal.CodeWindowNotOpen)

	// Create; a second one for the same certificate is a conflict.
	a, err := clerk.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: h.Serial})
	if err != nil || a.Status != renewal.StatusEditing || a.Version != 1 || !slices.Contains(a.Actions, renewal.ActionEdit) {
		t.Fatalf("create %+v, %v", a, err)
	}
	_, err = clerk.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: h.Serial})
	wantCode(t, err, http.StatusConflict, renewal.CodeConflict)
	_, err = reviewer.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: h.Serial})
	wantCode(t, err, http.StatusForbidden, renewal.CodeForbidden)

	var tries *atomic.Int64
	// Edit, then a stale edit: refused once, never retried.
	// The first PUT's answer is lost and the service does not replay PUTs:
	// the retry is stale, and the client recognises its own edit.
	tries = e.loseFirst(http.MethodPut, "/v1/applications/"+a.ID, false)
	a, err = clerk.UpdateApplication(ctx, a.ID, renewal.UpdateApplicationRequest{Version: 1, Form: validForm(e.Org, 2)})
	e.setGate(nil)
	if err != nil || a.Version != 2 || a.Form.Years != 2 || tries.Load() != 2 {
		t.Fatalf("update %+v, %v, %d tries", a, err, tries.Load())
	}
	before := e.requests.Load()
	_, err = clerk.UpdateApplication(ctx, a.ID, renewal.UpdateApplicationRequest{Version: 1, Form: validForm(e.Org, 3)})
	if ae := wantCode(t, err, http.StatusConflict, renewal.CodeStaleVersion); ae.Field != "version" {
		t.Fatalf("stale field %q", ae.Field)
	}
	if n := e.requests.Load() - before; n != 1 {
		t.Fatalf("a stale edit was sent %d times", n)
	}
	if _, err := clerk.GetApplicationIfChanged(ctx, a.ID, 2); !errors.Is(err, client.ErrNotModified) {
		t.Fatalf("unchanged application: %v", err)
	}
	if got, err := clerk.GetApplicationIfChanged(ctx, a.ID, 1); err != nil || got.Version != 2 {
		t.Fatalf("changed application: %+v, %v", got, err)
	}
	_, err = clerk.GetApplication(ctx, "no-such-application")
	wantCode(t, err, http.StatusNotFound, renewal.CodeNotFound)

	// The form to print, and documents.
	form, err := clerk.FormPDF(ctx, a.ID)
	if err != nil || !bytes.HasPrefix(form, []byte("%PDF-")) {
		t.Fatalf("form.pdf: %v %.20q", err, form)
	}
	_, err = clerk.FormPDF(ctx, "no-such-application")
	wantCode(t, err, http.StatusNotFound, renewal.CodeNotFound)
	pdf := []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")
	d, err := clerk.UploadDocument(ctx, a.ID, renewal.UploadDocumentRequest{Kind: renewal.DocApplicationForm, Name: "申请表.pdf"}, pdf)
	if err != nil || d.ContentType != renewal.ContentPDF || d.Size != int64(len(pdf)) {
		t.Fatalf("upload %+v, %v", d, err)
	}
	docs, err := clerk.ListDocuments(ctx, a.ID)
	if err != nil || len(docs.Items) != 1 || docs.Items[0].Name != "申请表.pdf" {
		t.Fatalf("documents %+v, %v", docs, err)
	}
	data, ct, err := clerk.GetDocument(ctx, a.ID, d.ID)
	if err != nil || !bytes.Equal(data, pdf) || ct != renewal.ContentPDF {
		t.Fatalf("download: %q %v", ct, err)
	}
	if err := clerk.DeleteDocument(ctx, a.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = clerk.GetDocument(ctx, a.ID, d.ID)
	wantCode(t, err, http.StatusNotFound, renewal.CodeNotFound)

	// Submit; the reviewer rejects, the clerk edits and resubmits; hold,
	// release, approve.
	// The answer is lost; the service remembers the key and answers the retry.
	tries = e.loseFirstAnswer("/v1/applications/"+a.ID+"/submit", false)
	a, err = clerk.Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version, Comment: "请审核"})
	e.setGate(nil)
	if err != nil || a.Status != renewal.StatusPendingReview || tries.Load() != 2 {
		t.Fatalf("submit %+v, %v, %d tries", a, err, tries.Load())
	}
	_, err = clerk.Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version})
	wantCode(t, err, http.StatusConflict, renewal.CodeActionNotAllowed)
	q, err := reviewer.ReviewQueue(ctx, client.ReviewQueueRequest{})
	if err != nil || len(q.Items) != 1 || q.Items[0].ID != a.ID {
		t.Fatalf("queue %+v, %v", q, err)
	}
	_, err = clerk.ReviewQueue(ctx, client.ReviewQueueRequest{})
	wantCode(t, err, http.StatusForbidden, renewal.CodeForbidden)
	_, err = clerk.Approve(ctx, a.ID, renewal.ReviewRequest{Version: a.Version})
	wantCode(t, err, http.StatusForbidden, renewal.CodeForbidden)
	a, err = reviewer.Reject(ctx, a.ID, renewal.ReviewRequest{Version: a.Version, Reason: "营业执照扫描件不清晰"})
	if err != nil || a.Status != renewal.StatusRejected || a.ReviewReason != "营业执照扫描件不清晰" {
		t.Fatalf("reject %+v, %v", a, err)
	}
	a, err = clerk.UpdateApplication(ctx, a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Form: validForm(e.Org, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a, err = clerk.Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version, Comment: "已重新上传"})
	if err != nil {
		t.Fatal(err)
	}
	a, err = reviewer.Hold(ctx, a.ID, renewal.ReviewRequest{Version: a.Version, Reason: "核实法人身份"})
	if err != nil || a.Status != renewal.StatusOnHold {
		t.Fatalf("hold %+v, %v", a, err)
	}
	a, err = reviewer.Release(ctx, a.ID, renewal.ReviewRequest{Version: a.Version})
	if err != nil || a.Status != renewal.StatusPendingReview {
		t.Fatalf("release %+v, %v", a, err)
	}
	a, err = reviewer.Approve(ctx, a.ID, renewal.ReviewRequest{Version: a.Version})
	if err != nil || a.Status != renewal.StatusApproved {
		t.Fatalf("approve %+v, %v", a, err)
	}
	e.MarkPaid(a.ID)
	if a, err = clerk.GetApplication(ctx, a.ID); err != nil || a.Payment != renewal.PaymentPaid {
		t.Fatalf("paid: %+v, %v", a, err)
	}

	// Financial verification: a wrong code spends a try; the right one verifies.
	fv, err := clerk.StartFinVerify(ctx, a.ID, renewal.VersionRequest{Version: a.Version})
	if err != nil || fv.State != renewal.FinVerifyPending || fv.Version != a.Version+1 {
		t.Fatalf("start finverify %+v, %v", fv, err)
	}
	code := e.TransferCode("755912345610801")
	other := "000000"
	if code == other {
		other = "111111"
	}
	_, err = clerk.SubmitFinVerifyCode(ctx, a.ID, renewal.FinVerifyCodeRequest{Version: fv.Version, Code: other})
	wantCode(t, err, http.StatusUnprocessableEntity, renewal.CodeFinVerifyCodeWrong)
	st, err := clerk.FinVerifyStatus(ctx, a.ID)
	if err != nil || st.TriesLeft != pol.FinVerifyMaxTries-1 || st.Account != "****0801" {
		t.Fatalf("finverify status %+v, %v", st, err)
	}
	if a, err = clerk.GetApplication(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	a, err = clerk.SubmitFinVerifyCode(ctx, a.ID, renewal.FinVerifyCodeRequest{Version: a.Version, Code: code})
	if err != nil || a.Status != renewal.StatusReadyToDownload {
		t.Fatalf("finverify code %+v, %v", a, err)
	}
	_, err = clerk.CorrectBank(ctx, a.ID, renewal.CorrectBankRequest{Version: a.Version, Bank: validForm(e.Org, 1).Bank})
	wantCode(t, err, http.StatusConflict, renewal.CodeActionNotAllowed)

	// Issue with the same key; a stale version and another key's proof are refused.
	_, err = clerk.Certificate(ctx, a.ID)
	wantCode(t, err, http.StatusConflict, renewal.CodeNotIssued)
	ch, err := clerk.Challenge(ctx, a.ID)
	if err != nil || len(ch.Nonce) != renewal.NonceBytes {
		t.Fatalf("challenge %+v, %v", ch, err)
	}
	stale := renewal.IssueRequest{Version: a.Version - 1, Mode: renewal.IssueSameKey, Nonce: ch.Nonce,
		Signature: tokenSign(t, h.Key, renewal.SameKeyMessage(a.ID, h.Serial, ch.Nonce))}
	_, err = clerk.Issue(ctx, a.ID, stale)
	wantCode(t, err, http.StatusConflict, renewal.CodeStaleVersion)
	good := stale
	good.Version = a.Version
	// The answer is lost and the service has forgotten the key: the retry
	// is refused (the nonce is spent) and the client fetches what was issued.
	tries = e.loseFirstAnswer("/v1/applications/"+a.ID+"/issue", true)
	is, err := clerk.Issue(ctx, a.ID, good)
	e.setGate(nil)
	if err != nil || tries.Load() != 2 {
		t.Fatalf("issue after a lost answer: %v, %d tries", err, tries.Load())
	}
	nc, err := smx509.ParseCertificate(is.Certificate)
	if err != nil || renewal.NormalizeSerial(nc.SerialNumber.Text(16)) != is.Serial {
		t.Fatalf("issued certificate: %v", err)
	}
	again, err := clerk.Certificate(ctx, a.ID)
	if err != nil || !bytes.Equal(again.Certificate, is.Certificate) {
		t.Fatalf("certificate again: %v", err)
	}
	chain, err := clerk.ChainPEM(ctx, a.ID)
	if err != nil || bytes.Count(chain, []byte("BEGIN CERTIFICATE")) != 3 {
		t.Fatalf("chain.pem: %v\n%s", err, chain)
	}
	_, err = clerk.ConfirmInstalled(ctx, a.ID, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: h.Serial})
	wantCode(t, err, http.StatusBadRequest, renewal.CodeInvalidField)
	tries = e.loseFirstAnswer("/v1/applications/"+a.ID+"/installed", true)
	a, err = clerk.ConfirmInstalled(ctx, a.ID, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: is.Serial})
	e.setGate(nil)
	if err != nil || a.Status != renewal.StatusInstalled || tries.Load() != 2 {
		t.Fatalf("installed after a lost answer %+v, %v, %d tries", a, err, tries.Load())
	}

	// Delete a draft (stale first) and cancel another.
	b, err := clerk.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.holders["ecdsa"].Serial})
	if err != nil {
		t.Fatal(err)
	}
	b, err = clerk.UpdateApplication(ctx, b.ID, renewal.UpdateApplicationRequest{Version: b.Version, Form: validForm(e.Org, 1)})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, clerk.DeleteApplication(ctx, b.ID, 1), http.StatusConflict, renewal.CodeStaleVersion)
	if err := clerk.DeleteApplication(ctx, b.ID, b.Version); err != nil {
		t.Fatal(err)
	}
	_, err = clerk.GetApplication(ctx, b.ID)
	wantCode(t, err, http.StatusNotFound, renewal.CodeNotFound)
	b, err = clerk.CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.holders["ecdsa"].Serial})
	if err != nil {
		t.Fatal(err)
	}
	if b, err = clerk.Cancel(ctx, b.ID, renewal.VersionRequest{Version: b.Version}); err != nil || b.Status != renewal.StatusCancelled {
		t.Fatalf("cancel %+v, %v", b, err)
	}

	// Lists, with filters and pages.
	page, err := clerk.ListApplications(ctx, renewal.ListApplicationsRequest{Status: []renewal.Status{renewal.StatusInstalled}})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != a.ID {
		t.Fatalf("installed list %+v, %v", page, err)
	}
	page, err = clerk.ListApplications(ctx, renewal.ListApplicationsRequest{PageSize: 1})
	if err != nil || len(page.Items) != 1 || page.NextPageToken == "" {
		t.Fatalf("page 1 %+v, %v", page, err)
	}
	page2, err := clerk.ListApplications(ctx, renewal.ListApplicationsRequest{PageSize: 1, PageToken: page.NextPageToken})
	if err != nil || len(page2.Items) != 1 || page2.Items[0].ID == page.Items[0].ID {
		t.Fatalf("page 2 %+v, %v", page2, err)
	}
	_, err = clerk.ListApplications(ctx, renewal.ListApplicationsRequest{PageToken: "not-a-token"})
	wantCode(t, err, http.StatusBadRequest, renewal.CodePageToken)

	// Audit: admins only.
	_, err = clerk.AuditVerify(ctx)
	wantCode(t, err, http.StatusForbidden, renewal.CodeForbidden)
	v, err := admin.AuditVerify(ctx)
	if err != nil || !v.OK || v.Entries < 20 {
		t.Fatalf("audit verify %+v, %v", v, err)
	}
	entries, err := admin.AuditExport(ctx)
	if err != nil || int64(len(entries)) < v.Entries {
		t.Fatalf("audit export: %d entries, %v", len(entries), err)
	}
	csv, err := admin.AuditExportCSV(ctx)
	if err != nil || !bytes.Contains(csv, []byte("application.confirm_installed")) {
		t.Fatalf("audit csv: %v %.200s", err, csv)
	}

	// Sign-out ends the session at the service too.
	access := saved[len(saved)-1].AccessToken
	if err := clerk.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := clerk.Me(ctx); !errors.Is(err, client.ErrNotSignedIn) {
		t.Fatalf("me after logout: %v", err)
	}
	req, _ := http.NewRequest("GET", e.URL+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old access token after logout: %d", res.StatusCode)
	}
}

func (e *env) srvOpenAPI() []byte { return serverOpenAPI() }
