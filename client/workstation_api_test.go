//go:build linux

package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/workstation"
	"github.com/ukeyrenew/ukeyrenew/internal/swtpmtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/renewal/counter"
)

func apiCode(t *testing.T, err error) (int, renewal.Code) {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ae.Status, ae.Code
}

// otherOrigin signs over a different origin than the service gave.
type otherOrigin struct{ k *workstation.Key }

func (o otherOrigin) SignChallenge(ctx context.Context, c counter.Challenge) ([]byte, error) {
	c.Origin = "https://evil.example"
	return o.k.SignChallenge(ctx, c)
}

// TestCounterSessionWithTPM enrols a real TPM key (swtpm) and gets a
// counter session from the real service over HTTP.
func TestCounterSessionWithTPM(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	tpm := swtpmtest.Start(t)
	key, err := workstation.Create(ctx, workstation.Options{OpenTPM: tpm.Open})
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := key.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	fp, err := counter.Fingerprint(key.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := e.client()
	if _, err := admin.Login(ctx, renewal.PasswordLoginRequest{Account: "admin", Password: adminPassword}); err != nil {
		t.Fatal(err)
	}

	// Wrong keys are refused before they are sent.
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if _, err := admin.EnrolWorkstation(ctx, "x", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); !errors.Is(err, counter.ErrBadPublicKey) {
		t.Fatalf("RSA key: %v", err)
	}
	if _, err := admin.EnrolWorkstation(ctx, "x", []byte("not a key")); !errors.Is(err, counter.ErrBadPublicKey) {
		t.Fatalf("bad PEM: %v", err)
	}
	if _, err := admin.EnrolWorkstation(ctx, " ", pemKey); err == nil {
		t.Fatal("empty name accepted")
	}

	ws, err := admin.EnrolWorkstation(ctx, "一号柜台", pemKey)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Fingerprint != fp {
		t.Fatalf("fingerprint %s, want %s", ws.Fingerprint, fp)
	}
	if _, err := admin.EnrolWorkstation(ctx, "again", pemKey); err == nil {
		t.Fatal("a key enrolled twice")
	} else if st, code := apiCode(t, err); st != http.StatusConflict || code != renewal.CodeConflict {
		t.Fatalf("enrolled twice: %d %v", st, code)
	}

	desk, _ := e.client()
	tok, err := desk.CounterSession(ctx, fp, key)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Role != "counter" || tok.WorkstationID != ws.ID || tok.AccessToken == "" {
		t.Fatalf("session %+v", tok)
	}

	// The counter session refreshes once per refresh token.
	tok2, err := desk.RefreshCounter(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if tok2.WorkstationID != ws.ID || tok2.AccessToken == tok.AccessToken {
		t.Fatalf("refreshed %+v", tok2)
	}
	_, err = desk.RefreshCounter(ctx, tok)
	if st, code := apiCode(t, err); st != http.StatusUnauthorized || code != renewal.CodeTokenRevoked {
		t.Fatalf("spent refresh token: %d %v", st, code)
	}
	// A spent token presented again was copied: the whole counter session
	// ended, the pair that replaced it too. The workstation signs in again.
	_, err = desk.RefreshCounter(ctx, tok2)
	if st, code := apiCode(t, err); st != http.StatusUnauthorized || code != renewal.CodeTokenRevoked {
		t.Fatalf("refresh after a reuse: %d %v", st, code)
	}
	if tok, err = desk.CounterSession(ctx, fp, key); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(5 * time.Second) // the per-address challenge limit refills

	// The counter signs a clerk in with the code sent to the clerk.
	clerk, _ := e.client()
	if _, err := clerk.SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: clerkMobile}); err != nil {
		t.Fatal(err)
	}
	m, ok := e.SMS.Last(clerkMobile)
	if !ok {
		t.Fatal("no SMS")
	}
	if _, err := clerk.LoginSMSAtCounter(ctx, nil, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: m.Code}); err == nil {
		t.Fatal("signed in without a counter session")
	}
	_, err = clerk.LoginSMSAtCounter(ctx, &renewal.CounterTokens{AccessToken: "x"}, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: m.Code})
	if st, code := apiCode(t, err); st != http.StatusUnauthorized || code != renewal.CodeUnauthenticated {
		t.Fatalf("bad counter token: %d %v", st, code)
	}
	ct, err := clerk.LoginSMSAtCounter(ctx, tok, renewal.SMSLoginRequest{Mobile: clerkMobile, Code: m.Code})
	if err != nil {
		t.Fatal(err)
	}
	if me, err := clerk.Me(ctx); err != nil || me.ID != ct.User.ID || me.Role != renewal.RoleClerk {
		t.Fatalf("me %+v, %v", me, err)
	}

	// Reused nonce.
	ch, err := desk.CounterChallenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.SignChallenge(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := desk.SubmitCounterSignature(ctx, fp, ch, sig); err != nil {
		t.Fatal(err)
	}
	_, err = desk.SubmitCounterSignature(ctx, fp, ch, sig)
	if st, code := apiCode(t, err); st != http.StatusUnprocessableEntity || code != renewal.CodeProofInvalid {
		t.Fatalf("reused nonce: %d %v", st, code)
	}
	// Signature over another origin.
	_, err = desk.CounterSession(ctx, fp, otherOrigin{key})
	if st, code := apiCode(t, err); st != http.StatusUnprocessableEntity || code != renewal.CodeProofInvalid {
		t.Fatalf("other origin: %d %v", st, code)
	}
	// Unknown fingerprint.
	soft, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	softFP, _ := counter.Fingerprint(&soft.PublicKey)
	_, err = desk.CounterSession(ctx, softFP, key)
	if st, code := apiCode(t, err); st != http.StatusForbidden || code != renewal.CodeForbidden {
		t.Fatalf("unknown fingerprint: %d %v", st, code)
	}
	// Expired nonce (the service's clock is injected).
	ch, err = desk.CounterChallenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sig, err = key.SignChallenge(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(2*time.Minute + time.Second)
	_, err = desk.SubmitCounterSignature(ctx, fp, ch, sig)
	if st, code := apiCode(t, err); st != http.StatusUnprocessableEntity || code != renewal.CodeChallengeExpired {
		t.Fatalf("expired nonce: %d %v", st, code)
	}

	// Revoked.
	if err := admin.RevokeWorkstation(ctx, ws.ID); err != nil {
		t.Fatal(err)
	}
	_, err = desk.CounterSession(ctx, fp, key)
	if st, code := apiCode(t, err); st != http.StatusForbidden || code != renewal.CodeForbidden {
		t.Fatalf("revoked: %d %v", st, code)
	}
	// The clerk session the counter opened ended with it.
	if _, err := clerk.Me(ctx); err == nil {
		t.Fatal("the clerk session outlived its workstation")
	}
	err = admin.RevokeWorkstation(ctx, "no-such-id")
	if st, code := apiCode(t, err); st != http.StatusNotFound || code != renewal.CodeNotFound {
		t.Fatalf("unknown id: %d %v", st, code)
	}
	list, err := admin.Workstations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].RevokedAt == nil {
		t.Fatalf("list %+v", list)
	}
	// Only administrators enrol.
	_, err = desk.Workstations(ctx)
	if !errors.Is(err, client.ErrNotSignedIn) {
		if st, _ := apiCode(t, err); st != http.StatusUnauthorized {
			t.Fatalf("not signed in: %v", err)
		}
	}
}
