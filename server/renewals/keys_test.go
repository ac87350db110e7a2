package renewals_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// A key the issuer no longer renews as it is (RSA-1024, P-224) is
// eligible only with a new key pair: eligibility and the application say
// rekey_required, and a same-key issue asks for the re-key (field mode),
// even for an application that did not know it.
func TestWeakKeyNeedsRekey(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for _, pub := range []crypto.PublicKey{rsa1024.Public(), p224.Public()} {
			serial := renewdtest.SerialOf(e.PutOldCertificate(pub, e.Org, start.AddDate(0, 0, 30)))
			el, err := e.svc.Eligibility(ctx, e.clerk, renewal.EligibilityRequest{Serial: serial})
			if err != nil || !el.Eligible || !el.RekeyRequired {
				t.Fatalf("eligibility of a %T: %+v, %v", pub, el, err)
			}
			f := validForm(e.Org)
			a, err := e.svc.Create(ctx, e.clerk, renewal.CreateApplicationRequest{CertSerial: serial, Form: &f})
			if err != nil || !a.Rekey {
				t.Fatalf("created %+v, %v", a, err)
			}
			if a, err = e.svc.Update(ctx, e.clerk, a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Form: f, Rekey: false}); err != nil || !a.Rekey {
				t.Fatalf("updated without rekey: %+v, %v", a, err)
			}
			// An application from before: marked same-key.
			a, err = e.Store.UpdateApplication(ctx, store.AllScope(), a.ID, a.Version, store.Change{Actor: "system", Action: "test.legacy"},
				func(a *renewal.Application) error {
					a.Rekey = false
					a.State = renewal.State{Status: renewal.StatusReadyToDownload, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyVerified}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			ch, err := e.svc.Challenge(ctx, e.clerk, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.Issue(ctx, e.clerk, a.ID, renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: ch.Nonce, Signature: []byte{1}})
			wantField(t, err, renewal.CodeRekeyRequired, "mode")
		}
	})
}

// A certificate whose validity has not begun is not eligible, cannot be
// applied for, and an application for it (from before) is refused at
// issuance with a code, not an internal error.
func TestNotYetValidCertificate(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		key, err := issuer.GenerateKey(issuer.ECDSA)
		if err != nil {
			t.Fatal(err)
		}
		der, err := e.CA.IssueInitial(pkix.Name{Organization: []string{e.Org.Name}, CommonName: "张三"}, key.Public(), start.Add(time.Hour), start.AddDate(0, 0, 30))
		if err != nil {
			t.Fatal(err)
		}
		serial := renewdtest.SerialOf(e.Register(der, e.Org))
		el, err := e.svc.Eligibility(ctx, e.clerk, renewal.EligibilityRequest{Serial: serial})
		if err != nil || el.Eligible || el.Reason == nil || el.Reason.Code != renewal.CodeNotYetValid {
			t.Fatalf("eligibility %+v, %v", el, err)
		}
		f := validForm(e.Org)
		_, err = e.svc.Create(ctx, e.clerk, renewal.CreateApplicationRequest{CertSerial: serial, Form: &f})
		wantField(t, err, renewal.CodeNotYetValid, "cert_serial")

		a := &renewal.Application{OrganisationID: e.Org.ID, CreatedBy: e.Clerk.ID, CertSerial: serial, Form: f, PriceFen: 300_00,
			State: renewal.State{Status: renewal.StatusReadyToDownload, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyVerified}}
		if err := e.Store.Write(ctx, func(tx *store.Tx) error {
			return tx.CreateApplication(ctx, a, store.Change{Actor: "system", Action: "test.legacy"})
		}); err != nil {
			t.Fatal(err)
		}
		ch, err := e.svc.Challenge(ctx, e.clerk, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		h := &holder{Key: key, Serial: serial}
		_, err = e.svc.Issue(ctx, e.clerk, a.ID, renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: ch.Nonce,
			Signature: sign(t, h, renewal.SameKeyMessage(a.ID, serial, ch.Nonce))})
		wantCode(t, err, renewal.CodeNotYetValid)
	})
}

// hugeCSR is a certificate request for an RSA key of 16384 bits whose
// signature is nonsense: it must be refused for its key before the
// signature is even looked at.
func hugeCSR(t *testing.T) []byte {
	t.Helper()
	n := new(big.Int).Lsh(big.NewInt(1), 16383)
	n.Add(n, big.NewInt(1))
	spki, err := smx509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	subject, err := asn1.Marshal(pkix.Name{CommonName: "张三"}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	type info struct {
		Version    int
		Subject    asn1.RawValue
		PublicKey  asn1.RawValue
		Attributes []asn1.RawValue `asn1:"tag:0"`
	}
	type request struct {
		Info      info
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}
	sha256WithRSA := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, Parameters: asn1.NullRawValue}
	der, err := asn1.Marshal(request{Info: info{Subject: asn1.RawValue{FullBytes: subject}, PublicKey: asn1.RawValue{FullBytes: spki}},
		Algorithm: sha256WithRSA, Signature: asn1.BitString{Bytes: make([]byte, 2048), BitLength: 2048 * 8}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func csrFor(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := smx509.CreateCertificateRequest(rand.Reader, &smx509.CertificateRequest{Subject: pkix.Name{CommonName: "张三"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// A re-key takes RSA keys of at most 4096 bits, and keeps the old key's
// type unless the policy allows a change.
func TestRekeyKeyRules(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		huge := hugeCSR(t)
		rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		toRSA := csrFor(t, rsa2048)

		issue := func(svc *renewals.Service, csr []byte) (*renewal.Issuance, error) {
			a, h := e.readyToDownload()
			ch, err := svc.Challenge(ctx, e.clerk, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			return svc.Issue(ctx, e.clerk, a.ID, renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueRekey, Nonce: ch.Nonce, CSR: csr,
				BindingSignature: sign(t, h, renewal.RekeyBindingMessage(a.ID, h.Serial, ch.Nonce, csr))})
		}
		_, err = issue(e.svc, toRSA) // ECDSA → RSA under the default policy
		wantField(t, err, renewal.CodeCSRInvalid, "csr")
		if zh := renewal.AsError(err).MessageZH; !strings.Contains(zh, "RSA") || !strings.Contains(zh, "ECDSA") {
			t.Fatalf("the refusal does not name the key types: %q", zh)
		}

		p := renewal.DefaultPolicy()
		p.RekeyKeyTypeChange = true
		svc := e.service(p, 0)
		_, err = issue(svc, huge)
		wantField(t, err, renewal.CodeCSRInvalid, "csr")
		if !strings.Contains(err.Error(), "at most 4096") {
			t.Fatalf("RSA-16384: %v", err)
		}
		if is, err := issue(svc, toRSA); err != nil || is.Mode != renewal.IssueRekey {
			t.Fatalf("ECDSA → RSA allowed by the policy: %+v, %v", is, err)
		}
	})
}
