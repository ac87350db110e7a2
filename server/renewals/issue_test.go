package renewals_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// readyToDownload puts a fresh application straight into ready_to_download
// (paid, approved, verified), as the steps before issuance leave it.
func (e *env) readyToDownload() (*renewal.Application, *holder) {
	e.t.Helper()
	a, h := e.draftWithHolder()
	return e.arrange(a, renewal.State{Status: renewal.StatusReadyToDownload, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyVerified}), h
}

func sign(t *testing.T, h *holder, msg []byte) []byte {
	t.Helper()
	d := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, h.Key.(*ecdsa.PrivateKey), d[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// A refused proof is audited and spends its challenge; a good one issues
// the certificate once, registers it, and counts.
func TestIssue(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a, h := e.readyToDownload()
		_, err := e.svc.Challenge(ctx, e.otherClerk, a.ID)
		wantCode(t, err, renewal.CodeNotFound)
		ch, err := e.svc.Challenge(ctx, e.clerk, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		stranger := e.AddHolder(issuer.ECDSA, e.Org, start.AddDate(0, 0, 300))
		bad := renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: ch.Nonce,
			Signature: sign(t, stranger, renewal.SameKeyMessage(a.ID, h.Serial, ch.Nonce))}
		_, err = e.svc.Issue(ctx, e.clerk, a.ID, bad)
		wantCode(t, err, renewal.CodeProofInvalid)
		good := renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: ch.Nonce,
			Signature: sign(t, h, renewal.SameKeyMessage(a.ID, h.Serial, ch.Nonce))}
		_, err = e.svc.Issue(ctx, e.clerk, a.ID, good)
		wantCode(t, err, renewal.CodeChallengeExpired)
		_, err = e.svc.Issuance(ctx, e.clerk, a.ID)
		wantCode(t, err, renewal.CodeNotIssued)
		if e.counts["certificate_issued"] != 0 {
			t.Fatal("a refusal counted as an issue")
		}

		ch, err = e.svc.Challenge(ctx, e.clerk, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		good.Nonce, good.Signature = ch.Nonce, sign(t, h, renewal.SameKeyMessage(a.ID, h.Serial, ch.Nonce))
		stale := good
		stale.Version--
		_, err = e.svc.Issue(ctx, e.clerk, a.ID, stale)
		wantCode(t, err, renewal.CodeStaleVersion)
		is, err := e.svc.Issue(ctx, e.clerk, a.ID, good)
		if err != nil {
			t.Fatal(err)
		}
		if is.ApplicationID != a.ID || is.Serial == h.Serial || !is.NotAfter.After(h.Cert.NotAfter) {
			t.Fatalf("issued %+v", is)
		}
		if e.counts["certificate_issued"] != 1 {
			t.Fatalf("counted %d issues, want 1", e.counts["certificate_issued"])
		}
		if _, err := e.Store.Certificate(ctx, store.OrgScope(e.Org.ID), is.Serial); err != nil {
			t.Fatalf("the new certificate is not registered: %v", err)
		}
		ch, _ = e.svc.Challenge(ctx, e.clerk, a.ID)
		good.Nonce, good.Signature = ch.Nonce, sign(t, h, renewal.SameKeyMessage(a.ID, h.Serial, ch.Nonce))
		_, err = e.svc.Issue(ctx, e.clerk, a.ID, good)
		wantCode(t, err, renewal.CodeConflict)
		got, err := e.svc.Issuance(ctx, e.clerk, a.ID)
		if err != nil || got.Serial != is.Serial {
			t.Fatalf("download %+v, %v", got, err)
		}
		audit := e.actions("application/" + a.ID)
		if !slices.Contains(audit, "certificate.proof_refused") || !slices.Contains(audit, "certificate.issue") {
			t.Fatalf("audit %v lacks the refusal or the issue", audit)
		}

		_, err = e.svc.ConfirmInstalled(ctx, e.clerk, a.ID, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: h.Serial})
		wantCode(t, err, renewal.CodeInvalidField)
		done, err := e.svc.ConfirmInstalled(ctx, e.clerk, a.ID, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: is.Serial})
		if err != nil || done.Status != renewal.StatusInstalled {
			t.Fatalf("installed %+v, %v", done, err)
		}
	})
}
