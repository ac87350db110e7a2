package server_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// tokenSign signs msg as a token would for the contract's algorithms.
func tokenSign(t *testing.T, key crypto.Signer, msg []byte) []byte {
	t.Helper()
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		d := sha256.Sum256(msg)
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	case *sm2.PrivateKey:
		sig, err = k.SignWithSM2(rand.Reader, nil, msg)
	case *ecdsa.PrivateKey:
		d := sha256.Sum256(msg)
		sig, err = ecdsa.SignASN1(rand.Reader, k, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// transitions are the state-changing endpoints of an application, with a
// body that is valid apart from the state, to try forbidden moves.
func transitions(e *env, a renewal.Application) map[renewal.Action][2]any {
	v := a.Version
	return map[renewal.Action][2]any{
		renewal.ActionEdit:             {"PUT", renewal.UpdateApplicationRequest{Version: v, Form: validForm(e.Org, 1)}},
		renewal.ActionSubmit:           {"POST /submit", renewal.SubmitRequest{Version: v}},
		renewal.ActionCancel:           {"POST /cancel", renewal.VersionRequest{Version: v}},
		renewal.ActionApprove:          {"POST /approve", renewal.ReviewRequest{Version: v}},
		renewal.ActionReject:           {"POST /reject", renewal.ReviewRequest{Version: v, Reason: "x"}},
		renewal.ActionHold:             {"POST /hold", renewal.ReviewRequest{Version: v, Reason: "x"}},
		renewal.ActionRelease:          {"POST /release", renewal.ReviewRequest{Version: v}},
		renewal.ActionStartFinVerify:   {"POST /finverify/start", renewal.VersionRequest{Version: v}},
		renewal.ActionSubmitFinVerify:  {"POST /finverify/code", renewal.FinVerifyCodeRequest{Version: v, Code: "000000"}},
		renewal.ActionCorrectBank:      {"POST /finverify/bank", renewal.CorrectBankRequest{Version: v, Bank: validForm(e.Org, 1).Bank}},
		renewal.ActionIssue:            {"POST /challenge", nil},
		renewal.ActionConfirmInstalled: {"POST /installed", renewal.ConfirmInstalledRequest{Version: v, Serial: "1"}},
		renewal.ActionDelete:           {"DELETE", nil},
	}
}

// refuseForbidden tries, as role with token, every transition the states
// table does not allow in a's state, and checks each is refused with its
// code and changes nothing.
func refuseForbidden(e *env, a renewal.Application, role renewal.Role, token string, policy renewal.Policy) {
	e.t.Helper()
	allowed := renewal.AllowedActions(a.State, policy, role)
	staffOnly := map[renewal.Action]bool{renewal.ActionApprove: true, renewal.ActionReject: true, renewal.ActionHold: true, renewal.ActionRelease: true}
	for action, req := range transitions(e, a) {
		if slices.Contains(allowed, action) {
			continue
		}
		method, suffix, _ := strings.Cut(req[0].(string), " ")
		p := "/v1/applications/" + a.ID + suffix
		if method == "DELETE" {
			p += path("?version=%d", a.Version)
		}
		r := e.do(method, p, token, req[1])
		want := "action_not_allowed"
		if staffOnly[action] && !role.IsStaff() {
			want = "forbidden"
		}
		if r.errCode() != want {
			e.t.Errorf("%s on %s as %s: got %d %s, want %s: %s", action, a.State, role, r.status, r.errCode(), want, r.body)
		}
	}
	var now renewal.Application
	e.ok(http.StatusOK, &now, "GET", "/v1/applications/"+a.ID, token, nil)
	if now.Version != a.Version || now.State != a.State {
		e.t.Fatalf("a refused action changed the application: %v v%d -> %v v%d", a.State, a.Version, now.State, now.Version)
	}
}

func TestEndToEndSQLite(t *testing.T) {
	e := newEnv(t, envOptions{})
	runEndToEnd(t, e)
}

func TestEndToEndPostgres(t *testing.T) {
	e := newEnv(t, envOptions{postgres: true})
	runEndToEnd(t, e)
}

func runEndToEnd(t *testing.T, e *env) {
	policy := renewal.DefaultPolicy()
	var pol renewal.Policy
	e.ok(http.StatusOK, &pol, "GET", "/v1/policy", "", nil)
	if pol != policy {
		t.Fatalf("policy %+v", pol)
	}

	// Sign in by SMS; a wrong code first.
	e.ok(http.StatusAccepted, nil, "POST", "/v1/auth/sms-code", "", renewal.SMSCodeRequest{Mobile: clerkMobile})
	m, _ := e.SMS.Last(clerkMobile)
	wrong := "000000"
	if m.Code == wrong {
		wrong = "111111"
	}
	e.fails(http.StatusUnauthorized, "sms_code_wrong", "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: wrong})
	var clerk renewal.Tokens
	e.ok(http.StatusOK, &clerk, "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: m.Code})
	if clerk.User.Role != renewal.RoleClerk || clerk.User.OrganisationID != e.Org.ID || clerk.User.Mobile != "138****8000" {
		t.Fatalf("signed in as %+v", clerk.User)
	}
	// The code is spent.
	e.fails(http.StatusUnauthorized, "sms_code_wrong", "POST", "/v1/auth/sms-login", "", renewal.SMSLoginRequest{Mobile: clerkMobile, Code: m.Code})
	ct := clerk.AccessToken
	var me renewal.User
	e.ok(http.StatusOK, &me, "GET", "/v1/me", ct, nil)
	if me.OrganisationName != e.Org.Name {
		t.Fatalf("me = %+v", me)
	}
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	admin := e.passwordSignIn("admin", adminPassword).AccessToken

	// Eligibility of the RSA token's certificate (30 days left at the start, now a little less: 29 or 30
	// calendar days in China, by the time of day).
	h := e.holders["rsa"]
	var el renewal.Eligibility
	e.ok(http.StatusOK, &el, "GET", "/v1/certificates/"+strings.ToUpper(h.Serial)+"/eligibility", ct, nil)
	if want := renewal.DaysLeft(h.Cert.NotAfter, e.Clock.Now()); !el.Eligible || el.DaysLeft != want || want < 29 || want > 30 ||
		len(el.Prices) != 3 || el.OpenApplicationID != "" {
		t.Fatalf("eligibility %+v", el)
	}
	var far renewal.Eligibility
	e.ok(http.StatusOK, &far, "GET", "/v1/certificates/"+e.holders["far"].Serial+"/eligibility", ct, nil)
	if far.Eligible || far.Reason == nil || far.Reason.Code != renewal.CodeWindowNotOpen {
		t.Fatalf("certificate 200 days from expiry: %+v", far)
	}
	e.fails(http.StatusUnprocessableEntity, "window_not_open", "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: e.holders["far"].Serial})

	// Create: pre-filled from the certificate and the organisation.
	var a renewal.Application
	e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: h.Serial})
	if a.Status != renewal.StatusEditing || a.Version != 1 || a.Form.Organisation.Name != e.Org.Name || a.Form.Organisation.CreditCode != e.Org.CreditCode {
		t.Fatalf("created %+v", a)
	}
	e.fails(http.StatusConflict, "conflict", "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: h.Serial})
	e.ok(http.StatusOK, &el, "GET", "/v1/certificates/"+h.Serial+"/eligibility", ct, nil)
	if el.OpenApplicationID != a.ID {
		t.Fatalf("open application %q, want %q", el.OpenApplicationID, a.ID)
	}
	refuseForbidden(e, a, renewal.RoleClerk, ct, policy)
	app := "/v1/applications/" + a.ID

	// The pre-filled draft lacks the legal representative: submit names the fields.
	r := e.fails(http.StatusBadRequest, "invalid_field", "POST", app+"/submit", ct, renewal.SubmitRequest{Version: 1, Comment: "请审核"})
	if !bytes.Contains(r.body, []byte("legal_representative.id_number")) {
		t.Fatalf("submit of an incomplete form: %s", r.body)
	}
	// Edit, then a stale edit.
	e.ok(http.StatusOK, &a, "PUT", app, ct, renewal.UpdateApplicationRequest{Version: 1, Form: validForm(e.Org, 2)})
	if a.Version != 2 || a.PriceFen != policy.PricesFen[1] {
		t.Fatalf("after edit: v%d price %d", a.Version, a.PriceFen)
	}
	e.fails(http.StatusConflict, "stale_version", "PUT", app, ct, renewal.UpdateApplicationRequest{Version: 1, Form: validForm(e.Org, 3)})

	// The form to print, then the signed scan.
	form := e.ok(http.StatusOK, nil, "GET", app+"/form.pdf", ct, nil)
	if form.header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(form.body, []byte("%PDF-1.4")) {
		t.Fatalf("form.pdf: %s %.20q", form.header.Get("Content-Type"), form.body)
	}
	pdf := []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")
	var doc renewal.Document
	e.ok(http.StatusCreated, &doc, "POST", app+"/documents?kind=application_form&name="+"申请表.pdf", ct, pdf)
	if doc.ContentType != renewal.ContentPDF || doc.Size != int64(len(pdf)) {
		t.Fatalf("document %+v", doc)
	}
	e.fails(http.StatusUnsupportedMediaType, "document_type", "POST", app+"/documents?kind=other&name=x.pdf", ct, []byte("MZ\x90\x00 not a pdf"))
	got := e.ok(http.StatusOK, nil, "GET", app+"/documents/"+doc.ID, ct, nil)
	if !bytes.Equal(got.body, pdf) || got.header.Get("Content-Type") != renewal.ContentPDF {
		t.Fatal("downloaded document differs")
	}
	var docs struct{ Items []renewal.Document }
	e.ok(http.StatusOK, &docs, "GET", app+"/documents", ct, nil)
	if len(docs.Items) != 1 {
		t.Fatalf("%d documents", len(docs.Items))
	}

	// Submit → reviewer rejects (a reason is required) → edit → resubmit.
	e.ok(http.StatusOK, &a, "POST", app+"/submit", ct, renewal.SubmitRequest{Version: 2, Comment: "请审核"})
	if a.Status != renewal.StatusPendingReview || a.SubmittedAt == nil {
		t.Fatalf("submitted: %+v", a.State)
	}
	refuseForbidden(e, a, renewal.RoleClerk, ct, policy)
	refuseForbidden(e, a, renewal.RoleReviewer, reviewer, policy)
	var queue renewal.ApplicationPage
	e.ok(http.StatusOK, &queue, "GET", "/v1/review/queue", reviewer, nil)
	if len(queue.Items) != 1 || queue.Items[0].ID != a.ID || !slices.Contains(queue.Items[0].Actions, renewal.ActionApprove) {
		t.Fatalf("queue %+v", queue)
	}
	e.fails(http.StatusForbidden, "forbidden", "GET", "/v1/review/queue", ct, nil)
	e.fails(http.StatusBadRequest, "invalid_field", "POST", app+"/reject", reviewer, renewal.ReviewRequest{Version: a.Version})
	e.ok(http.StatusOK, &a, "POST", app+"/reject", reviewer, renewal.ReviewRequest{Version: a.Version, Reason: "营业执照扫描件不清晰"})
	if a.Status != renewal.StatusRejected || a.ReviewReason != "营业执照扫描件不清晰" {
		t.Fatalf("rejected: %+v", a)
	}
	refuseForbidden(e, a, renewal.RoleClerk, ct, policy)
	e.ok(http.StatusOK, &a, "PUT", app, ct, renewal.UpdateApplicationRequest{Version: a.Version, Form: validForm(e.Org, 1)})
	e.ok(http.StatusOK, &a, "POST", app+"/submit", ct, renewal.SubmitRequest{Version: a.Version, Comment: "已重新上传"})
	// Hold for a fraud check, release, approve.
	e.ok(http.StatusOK, &a, "POST", app+"/hold", reviewer, renewal.ReviewRequest{Version: a.Version, Reason: "核实法人身份"})
	refuseForbidden(e, a, renewal.RoleClerk, ct, policy)
	e.ok(http.StatusOK, &a, "POST", app+"/release", reviewer, renewal.ReviewRequest{Version: a.Version})
	e.ok(http.StatusOK, &a, "POST", app+"/approve", reviewer, renewal.ReviewRequest{Version: a.Version})
	if a.Status != renewal.StatusApproved || a.FinVerify != renewal.FinVerifyPending {
		t.Fatalf("approved: %+v", a.State)
	}
	refuseForbidden(e, a, renewal.RoleClerk, ct, policy)

	// The clerk pays by WeChat Pay QR; the notification marks it paid.
	a = e.payQR(ct, a.ID)
	if a.Payment != renewal.PaymentPaid || a.Status != renewal.StatusApproved {
		t.Fatalf("paid: %+v", a.State)
	}

	// Financial verification: three wrong codes fail it; correct the bank
	// account; the right code of the new transfer verifies it.
	var fv renewal.FinVerifyStatus
	e.ok(http.StatusOK, &fv, "POST", app+"/finverify/start", ct, renewal.VersionRequest{Version: a.Version})
	e.ok(http.StatusOK, &a, "GET", app, ct, nil)
	first := e.transferCode(t, "755912345610801")
	for i := 0; i < policy.FinVerifyMaxTries-1; i++ {
		e.fails(http.StatusUnprocessableEntity, "finverify_code_wrong", "POST", app+"/finverify/code", ct,
			renewal.FinVerifyCodeRequest{Version: a.Version, Code: otherCode(first)})
	}
	e.fails(http.StatusUnprocessableEntity, "finverify_too_many_tries", "POST", app+"/finverify/code", ct,
		renewal.FinVerifyCodeRequest{Version: a.Version, Code: otherCode(first)})
	e.ok(http.StatusOK, &a, "GET", app, ct, nil)
	if a.FinVerify != renewal.FinVerifyFailed {
		t.Fatalf("after too many wrong codes: %+v", a.State)
	}
	// Even the right code no longer works: the transfer is dead.
	e.fails(http.StatusConflict, "action_not_allowed", "POST", app+"/finverify/code", ct, renewal.FinVerifyCodeRequest{Version: a.Version, Code: first})
	refuseForbidden(e, a, renewal.RoleClerk, ct, policy)
	newBank := renewal.BankAccount{AccountName: e.Org.Name, BankName: "中国工商银行深圳分行", AccountNumber: "4000023009200123456"}
	e.ok(http.StatusOK, &fv, "POST", app+"/finverify/bank", ct, renewal.CorrectBankRequest{Version: a.Version, Bank: newBank})
	if fv.State != renewal.FinVerifyPending || fv.Account != "****3456" || fv.TriesLeft != policy.FinVerifyMaxTries {
		t.Fatalf("after correcting the bank: %+v", fv)
	}
	e.ok(http.StatusOK, &a, "GET", app, ct, nil)
	code := e.transferCode(t, newBank.AccountNumber)
	e.ok(http.StatusOK, &a, "POST", app+"/finverify/code", ct, renewal.FinVerifyCodeRequest{Version: a.Version, Code: code})
	if a.FinVerify != renewal.FinVerifyVerified || a.Status != renewal.StatusReadyToDownload {
		t.Fatalf("verified: %+v", a.State)
	}
	refuseForbidden(e, a, renewal.RoleClerk, ct, policy)

	// Issue with the same key: a signature by another key, a replayed
	// challenge and a stale version are refused.
	e.fails(http.StatusConflict, "not_issued", "GET", app+"/certificate", ct, nil)
	nonce := e.challenge(ct, a.ID)
	stranger, _ := issuer.GenerateKey(issuer.RSA)
	e.fails(http.StatusUnprocessableEntity, "proof_invalid", "POST", app+"/issue", ct, renewal.IssueRequest{Version: a.Version,
		Mode: renewal.IssueSameKey, Nonce: nonce, Signature: tokenSign(t, stranger, renewal.SameKeyMessage(a.ID, h.Serial, nonce))})
	good := renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: nonce, Signature: tokenSign(t, h.Key, renewal.SameKeyMessage(a.ID, h.Serial, nonce))}
	e.fails(http.StatusUnprocessableEntity, "challenge_expired", "POST", app+"/issue", ct, good) // spent by the failed try
	nonce = e.challenge(ct, a.ID)
	good = renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: nonce, Signature: tokenSign(t, h.Key, renewal.SameKeyMessage(a.ID, h.Serial, nonce))}
	stale := good
	stale.Version--
	e.fails(http.StatusConflict, "stale_version", "POST", app+"/issue", ct, stale)
	var is renewal.Issuance
	e.ok(http.StatusOK, &is, "POST", app+"/issue", ct, good)
	nc := e.checkIssued(t, is, h, 1)
	if !publicKeyEqual(nc.PublicKey, h.Cert.PublicKey) {
		t.Fatal("same-key renewal changed the key")
	}
	e.fails(http.StatusConflict, "conflict", "POST", app+"/issue", ct, good) // issued once only
	// Issued: the admin may still cancel a ready_to_download application,
	// but not a paid and issued one: no refund after issuance.
	e.ok(http.StatusOK, &a, "GET", app, ct, nil)
	e.fails(http.StatusConflict, "action_not_allowed", "POST", app+"/cancel", admin, renewal.VersionRequest{Version: a.Version})
	var again renewal.Issuance
	e.ok(http.StatusOK, &again, "GET", app+"/certificate", ct, nil)
	if !bytes.Equal(again.Certificate, is.Certificate) {
		t.Fatal("download differs from issuance")
	}
	chainPEM := e.ok(http.StatusOK, nil, "GET", app+"/certificate/chain.pem", ct, nil)
	if n := bytes.Count(chainPEM.body, []byte("BEGIN CERTIFICATE")); n != 3 {
		t.Fatalf("chain.pem has %d certificates, want leaf + issuing CA + root", n)
	}
	// The renewed certificate is now known to the CA, for the next renewal.
	var nel renewal.Eligibility
	e.ok(http.StatusOK, &nel, "GET", "/v1/certificates/"+is.Serial+"/eligibility", ct, nil)
	if nel.Certificate.OrganisationID != e.Org.ID || nel.Eligible {
		t.Fatalf("renewed certificate eligibility: %+v", nel)
	}
	e.fails(http.StatusBadRequest, "invalid_field", "POST", app+"/installed", ct, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: h.Serial})
	e.ok(http.StatusOK, &a, "POST", app+"/installed", ct, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: is.Serial})
	if a.Status != renewal.StatusInstalled {
		t.Fatalf("installed: %+v", a.State)
	}
	refuseForbidden(e, a, renewal.RoleClerk, ct, policy)
	e.ok(http.StatusOK, nil, "GET", app+"/certificate", ct, nil) // still downloadable after a crash

	// Re-key for the SM2 token: the organisation's last form pre-fills it.
	rekeyFlow(t, e, ct, reviewer, "sm2")
	rekeyFlow(t, e, ct, reviewer, "ecdsa") // expired 10 days ago: no binding needed

	// Another organisation's clerk sees none of it.
	other := e.smsSignIn(otherClerkMobile).AccessToken
	e.fails(http.StatusNotFound, "not_found", "GET", app, other, nil)
	e.fails(http.StatusNotFound, "not_found", "GET", app+"/documents", other, nil)
	e.fails(http.StatusNotFound, "not_found", "GET", app+"/form.pdf", other, nil)
	e.fails(http.StatusNotFound, "not_found", "GET", app+"/documents/"+doc.ID, other, nil)
	e.fails(http.StatusNotFound, "not_found", "GET", app+"/certificate", other, nil)
	e.fails(http.StatusNotFound, "not_found", "POST", app+"/cancel", other, renewal.VersionRequest{Version: a.Version})
	e.fails(http.StatusUnprocessableEntity, "not_eligible", "GET", "/v1/certificates/"+h.Serial+"/eligibility", other, nil)
	e.fails(http.StatusUnprocessableEntity, "not_eligible", "POST", "/v1/applications", other, renewal.CreateApplicationRequest{CertSerial: e.holders["sm2"].Serial})
	var page renewal.ApplicationPage
	e.ok(http.StatusOK, &page, "GET", "/v1/applications?organisation_id="+e.Org.ID, other, nil)
	if len(page.Items) != 0 {
		t.Fatalf("other organisation lists %d applications", len(page.Items))
	}
	e.ok(http.StatusOK, &page, "GET", "/v1/applications?page_size=2", ct, nil)
	if len(page.Items) != 2 || page.NextPageToken == "" {
		t.Fatalf("page 1: %d items, next %q", len(page.Items), page.NextPageToken)
	}
	var page2 renewal.ApplicationPage
	e.ok(http.StatusOK, &page2, "GET", "/v1/applications?page_size=2&page_token="+page.NextPageToken, ct, nil)
	if len(page2.Items) != 1 || page2.NextPageToken != "" {
		t.Fatalf("page 2: %d items, next %q", len(page2.Items), page2.NextPageToken)
	}
	e.ok(http.StatusOK, &page, "GET", "/v1/applications?status=installed", ct, nil)
	if len(page.Items) != 3 {
		t.Fatalf("%d installed applications, want 3", len(page.Items))
	}

	// Audit: admins only; the chain verifies; both exports carry every entry.
	e.fails(http.StatusForbidden, "forbidden", "GET", "/v1/audit/verify", reviewer, nil)
	e.fails(http.StatusForbidden, "forbidden", "GET", "/v1/audit/export?format=csv", ct, nil)
	var v renewal.AuditVerification
	e.ok(http.StatusOK, &v, "GET", "/v1/audit/verify", admin, nil)
	if !v.OK || v.Entries < 40 {
		t.Fatalf("audit verification %+v", v)
	}
	csv := e.ok(http.StatusOK, nil, "GET", "/v1/audit/export?format=csv", admin, nil)
	if !bytes.Contains(csv.body, []byte("application.approve")) || !bytes.Contains(csv.body, []byte("certificate.issue")) {
		t.Fatalf("csv export lacks entries: %.300s", csv.body)
	}
	var entries []renewal.AuditEntry
	e.ok(http.StatusOK, &entries, "GET", "/v1/audit/export?format=json", admin, nil)
	if int64(len(entries)) != v.Entries {
		t.Fatalf("json export has %d entries, verify counted %d", len(entries), v.Entries)
	}
	for _, en := range entries {
		if strings.Contains(string(en.After)+string(en.Before), first) || strings.Contains(string(en.After), clerk.AccessToken) {
			t.Fatal("a code or token is in the audit log")
		}
	}
	e.fails(http.StatusBadRequest, "invalid_field", "GET", "/v1/audit/export?format=xml", admin, nil)
	// The application's own history, page by page.
	var hist struct{ Items []renewal.AuditEntry }
	e.ok(http.StatusOK, &hist, "GET", "/v1/audit?target=application/"+a.ID+"&page_size=5", admin, nil)
	if len(hist.Items) != 5 || hist.Items[0].Action != "application.create" {
		t.Fatalf("audit page 1: %+v", hist.Items)
	}
	var rest struct{ Items []renewal.AuditEntry }
	e.ok(http.StatusOK, &rest, "GET", path("/v1/audit?target=application/%s&page_size=1000&after_seq=%d", a.ID, hist.Items[4].Seq), admin, nil)
	all := append(hist.Items, rest.Items...)
	if all[len(all)-1].Action != "application.confirm_installed" || len(all) < 20 {
		t.Fatalf("audit of the application ends with %q after %d entries", all[len(all)-1].Action, len(all))
	}
	e.fails(http.StatusForbidden, "forbidden", "GET", "/v1/audit", reviewer, nil)

	// Refresh rotates; reusing a spent refresh token ends the whole family.
	var rot renewal.Tokens
	e.ok(http.StatusOK, &rot, "POST", "/v1/auth/refresh", "", renewal.RefreshRequest{RefreshToken: clerk.RefreshToken})
	e.ok(http.StatusOK, nil, "GET", "/v1/me", rot.AccessToken, nil)
	e.fails(http.StatusUnauthorized, "token_revoked", "POST", "/v1/auth/refresh", "", renewal.RefreshRequest{RefreshToken: clerk.RefreshToken})
	e.fails(http.StatusUnauthorized, "token_revoked", "GET", "/v1/me", rot.AccessToken, nil)
	e.fails(http.StatusUnauthorized, "token_revoked", "POST", "/v1/auth/refresh", "", renewal.RefreshRequest{RefreshToken: rot.RefreshToken})
	// Sign-out revokes; an expired access token says so.
	e.ok(http.StatusNoContent, nil, "POST", "/v1/auth/logout", other, nil)
	e.fails(http.StatusUnauthorized, "token_revoked", "GET", "/v1/me", other, nil)
	e.Clock.Advance(16 * time.Minute)
	e.fails(http.StatusUnauthorized, "token_expired", "GET", "/v1/me", reviewer, nil)

	if e.validated < 100 {
		t.Fatalf("only %d responses validated against openapi.yaml", e.validated)
	}
}

func otherCode(c string) string {
	if c == "000000" {
		return "111111"
	}
	return "000000"
}

// payQR pays the application for real, as the clerk: a QR code from the
// service (300 s window, amount from the price list), the WeChat Pay
// simulator "scans and pays" it (POST /dev/applications/{id}/pay), its signed
// notification is applied, and the status then says paid.
func (e *env) payQR(token, id string) renewal.Application {
	e.t.Helper()
	var qr renewal.PaymentQR
	e.ok(http.StatusOK, &qr, "POST", "/v1/applications/"+id+"/payment/qr", token, renewal.PaymentQRRequest{})
	var a renewal.Application
	e.ok(http.StatusOK, &a, "GET", "/v1/applications/"+id, token, nil)
	var policy renewal.Policy
	e.ok(http.StatusOK, &policy, "GET", "/v1/policy", "", nil)
	want, _ := policy.PriceFen(a.Form.Years)
	if o := qr.Order; o.State != payment.OrderOpen || o.CodeURL == "" || o.AmountFen != want ||
		o.ExpiresAt.Sub(o.CreatedAt) != payment.QRWindow || qr.ServerTime.Before(o.CreatedAt) || !qr.ServerTime.Before(o.ExpiresAt) {
		e.t.Fatalf("QR: %+v at %s, want %d fen", qr, qr.ServerTime, want)
	}
	e.ok(http.StatusAccepted, nil, "POST", "/dev/applications/"+id+"/pay", "", nil)
	e.PaySim.Sim.Wait() // the notification was delivered and answered
	var st renewal.PaymentStatus
	e.ok(http.StatusOK, &st, "GET", "/v1/applications/"+id+"/payment", token, nil)
	if st.State != renewal.PaymentPaid || st.Order == nil || st.Order.State != payment.OrderPaid || st.Order.PaidAt == nil {
		e.t.Fatalf("after paying: %+v", st)
	}
	e.ok(http.StatusOK, &a, "GET", "/v1/applications/"+id, token, nil)
	if a.Payment != renewal.PaymentPaid {
		e.t.Fatalf("application after paying: %+v", a.State)
	}
	return a
}

func (e *env) transferCode(t *testing.T, account string) string {
	t.Helper()
	ts := e.Bank.Transfers(account)
	if len(ts) == 0 {
		t.Fatalf("no transfer to %s", account)
	}
	last := ts[len(ts)-1]
	if last.AmountFen != 1 {
		t.Fatalf("transfer of %d fen", last.AmountFen)
	}
	return last.Remark[len(last.Remark)-6:]
}

func (e *env) challenge(token, id string) []byte {
	e.t.Helper()
	var ch renewal.Challenge
	e.ok(http.StatusOK, &ch, "POST", "/v1/applications/"+id+"/challenge", token, nil)
	if len(ch.Nonce) != renewal.NonceBytes || !ch.ExpiresAt.After(e.Clock.Now()) {
		e.t.Fatalf("challenge %+v", ch)
	}
	return ch.Nonce
}

func publicKeyEqual(a, b any) bool {
	x, _ := smx509.MarshalPKIXPublicKey(a)
	y, _ := smx509.MarshalPKIXPublicKey(b)
	return bytes.Equal(x, y)
}

// checkIssued verifies an issuance: it chains to the dev CA, keeps the
// subject, and early renewals extend from the old not-after.
func (e *env) checkIssued(t *testing.T, is renewal.Issuance, h *holder, years int) *smx509.Certificate {
	t.Helper()
	c, err := smx509.ParseCertificate(is.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := smx509.NewCertPool(), smx509.NewCertPool()
	for i, der := range is.Chain {
		cc, err := smx509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if i == len(is.Chain)-1 {
			roots.AddCert(cc)
		} else {
			inter.AddCert(cc)
		}
	}
	if _, err := c.Verify(smx509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: e.Clock.Now(),
		KeyUsages: []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("issued certificate does not chain: %v", err)
	}
	if !bytes.Equal(c.RawSubject, h.Cert.RawSubject) {
		t.Fatal("subject changed")
	}
	from := h.Cert.NotAfter
	if from.Before(e.Clock.Now()) {
		from = e.Clock.Now()
	}
	if want := from.AddDate(years, 0, 0); c.NotAfter.Sub(want).Abs() > time.Second {
		t.Fatalf("not-after %v, want %v", c.NotAfter, want)
	}
	if renewal.NormalizeSerial(c.SerialNumber.Text(16)) != is.Serial {
		t.Fatal("serial mismatch")
	}
	return c
}

// rekeyFlow renews holder name with a new key pair, from creation to installation.
func rekeyFlow(t *testing.T, e *env, ct, reviewer, name string) {
	h := e.holders[name]
	var a renewal.Application
	e.ok(http.StatusCreated, &a, "POST", "/v1/applications", ct, renewal.CreateApplicationRequest{CertSerial: h.Serial, Rekey: true})
	if a.Form.LegalRepresentative.IDNumber == "" || a.Form.Bank.AccountNumber != "4000023009200123456" {
		t.Fatalf("not pre-filled from the last application: %+v", a.Form)
	}
	app := "/v1/applications/" + a.ID
	e.ok(http.StatusOK, &a, "POST", app+"/submit", ct, renewal.SubmitRequest{Version: a.Version})
	e.ok(http.StatusOK, &a, "POST", app+"/approve", reviewer, renewal.ReviewRequest{Version: a.Version})
	a = e.payQR(ct, a.ID)
	e.ok(http.StatusOK, nil, "POST", app+"/finverify/start", ct, renewal.VersionRequest{Version: a.Version})
	e.ok(http.StatusOK, &a, "GET", app, ct, nil)
	e.ok(http.StatusOK, &a, "POST", app+"/finverify/code", ct, renewal.FinVerifyCodeRequest{Version: a.Version, Code: e.transferCode(t, a.Form.Bank.AccountNumber)})
	if a.Status != renewal.StatusReadyToDownload {
		t.Fatalf("%s: %+v", name, a.State)
	}
	alg := map[string]issuer.KeyAlg{"sm2": issuer.SM2, "ecdsa": issuer.ECDSA}[name]
	newKey, _ := issuer.GenerateKey(alg)
	csr, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{Subject: pkix.Name{CommonName: "张三"}}, newKey)
	if err != nil {
		t.Fatal(err)
	}
	nonce := e.challenge(ct, a.ID)
	// The application asked for a re-key: same-key is refused.
	e.fails(http.StatusUnprocessableEntity, "rekey_required", "POST", app+"/issue", ct, renewal.IssueRequest{Version: a.Version,
		Mode: renewal.IssueSameKey, Nonce: nonce, Signature: tokenSign(t, h.Key, renewal.SameKeyMessage(a.ID, h.Serial, nonce))})
	req := renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueRekey, Nonce: nonce, CSR: csr}
	valid := h.Cert.NotAfter.After(e.Clock.Now())
	if valid {
		e.fails(http.StatusUnprocessableEntity, "proof_invalid", "POST", app+"/issue", ct, req) // binding missing
		nonce = e.challenge(ct, a.ID)
		req.Nonce = nonce
		req.BindingSignature = tokenSign(t, h.Key, renewal.RekeyBindingMessage(a.ID, h.Serial, nonce, csr))
	}
	var is renewal.Issuance
	e.ok(http.StatusOK, &is, "POST", app+"/issue", ct, req)
	c := e.checkIssued(t, is, h, a.Form.Years)
	if !publicKeyEqual(c.PublicKey, newKey.Public()) {
		t.Fatal("re-key did not certify the new key")
	}
	e.ok(http.StatusOK, &a, "POST", app+"/installed", ct, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: is.Serial})
	if a.Status != renewal.StatusInstalled {
		t.Fatalf("%s installed: %+v", name, a.State)
	}
	block, _ := pem.Decode(e.ok(http.StatusOK, nil, "GET", app+"/certificate/chain.pem", ct, nil).body)
	if block == nil || !bytes.Equal(block.Bytes, is.Certificate) {
		t.Fatal("chain.pem does not start with the issued certificate")
	}
}
