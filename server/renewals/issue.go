package renewals

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Challenge hands out a nonce the caller's token signs to have the renewed
// certificate issued (action issue); it is spent by the first attempt.
func (s *Service) Challenge(ctx context.Context, c Caller, id string) (*renewal.Challenge, error) {
	if _, err := s.load(ctx, c, id, renewal.ActionIssue); err != nil {
		return nil, err
	}
	nonce, err := issuer.NewNonce()
	if err != nil {
		return nil, err
	}
	exp, err := s.store.AddChallenge(ctx, c.Scope(), id, nonce, s.challengeTTL)
	if err != nil {
		return nil, StoreError(err, "")
	}
	return &renewal.Challenge{Nonce: nonce, ExpiresAt: exp.UTC()}, nil
}

// proofError maps the issuer's verdicts (of the proof, and its refusals
// to issue) to the contract's codes; field names the request field a bad
// signature concerns. What is left is the service's own failure.
func proofError(err error, field string) error {
	switch {
	case errors.Is(err, issuer.ErrBadCSR):
		return renewal.Errorf(renewal.CodeCSRInvalid, "csr", "the certificate request is malformed or not self-signed")
	case errors.Is(err, issuer.ErrSameKey):
		return renewal.Errorf(renewal.CodeCSRInvalid, "csr", "a re-key needs a new key pair, not the old one")
	case errors.Is(err, issuer.ErrBindingRequired):
		return renewal.Errorf(renewal.CodeProofInvalid, "binding_signature", "while the old certificate is valid the old key must sign the request")
	case errors.Is(err, issuer.ErrUnsupportedKey):
		// Only a CSR's key gets here: an old key the issuer no longer
		// renews asks for a re-key first (sameKeyRenewable).
		e := renewal.Errorf(renewal.CodeCSRInvalid, "csr", "%s", strings.TrimPrefix(err.Error(), "unsupported key type: "))
		e.MessageZH = "证书请求的密钥类型或长度不被接受：RSA须为2048至4096位，或使用ECDSA P-256/P-384、SM2密钥"
		return e
	case errors.Is(err, issuer.ErrBadSignature):
		return renewal.NewError(renewal.CodeProofInvalid, field)
	case errors.Is(err, issuer.ErrNotYetValid):
		return renewal.Errorf(renewal.CodeNotYetValid, "", "the old certificate is not valid yet: it can be renewed once it is")
	case errors.Is(err, issuer.ErrBadYears):
		return renewal.NewError(renewal.CodeYears, "form.years")
	}
	return err
}

// sameKeyRenewable refuses a same-key renewal of a key the issuer no longer
// certifies (issuer.CheckKey, as eligibility says: rekey_required) before
// any proof is checked.
func sameKeyRenewable(old *smx509.Certificate) error {
	if err := issuer.CheckKey(old.PublicKey); err != nil {
		e := renewal.Errorf(renewal.CodeRekeyRequired, "mode", "the CA no longer renews this key as it is (%s): make a new key pair",
			strings.TrimPrefix(err.Error(), "unsupported key type: "))
		e.MessageZH = "原证书的密钥已不符合CA要求（如RSA不足2048位），续期须更换密钥对"
		return e
	}
	return nil
}

// rekeyType refuses a re-key CSR whose key type differs from the old
// certificate's unless the policy allows the change; the CSR's key size
// and curve are the issuer's rule. A CSR that does not parse is left to
// the proof check, which refuses it.
func (s *Service) rekeyType(old *smx509.Certificate, csrDER []byte) error {
	csr, err := smx509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil
	}
	return s.policy.CheckRekeyKeyType(KeyTypeOf(old), keyTypeOfKey(csr.PublicKey))
}

// Issue has the renewed certificate issued (action issue) at the version
// the caller read, once, against a challenge and the old key's proof: a
// signature for the same key, or a CSR bound by the old key for a re-key.
// The challenge is spent whatever the outcome; a refused proof is audited
// and committed, then answered. The issuance and the new certificate are
// stored in the same transaction.
func (s *Service) Issue(ctx context.Context, c Caller, id string, req renewal.IssueRequest) (*renewal.Issuance, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	if err := s.mayProceed(ctx, c, id); err != nil {
		return nil, err
	}
	var out *renewal.Issuance
	var refused error
	err := s.store.Write(ctx, func(tx *store.Tx) error {
		a, err := s.issuable(ctx, tx, c, id, req)
		if err != nil {
			return err
		}
		kc, err := tx.Certificate(ctx, c.Scope(), a.CertSerial)
		if err != nil {
			return fmt.Errorf("certificate of application %s: %w", id, err)
		}
		old, err := smx509.ParseCertificate(kc.DER)
		if err != nil {
			return fmt.Errorf("parse stored certificate %s: %w", kc.Serial, err)
		}
		ireq := issuer.Request{Old: old, Years: a.Form.Years, Now: tx.Now()}
		if err := s.verifyProof(a, req, &ireq); err != nil {
			// The challenge stays spent and the refusal is logged: each
			// proof is tried once. Commit, then answer the refusal.
			refused = err
			return tx.Audit(c.Change("certificate.proof_refused"), "application/"+id, nil,
				map[string]string{"mode": string(req.Mode), "code": renewal.CodeOf(err).String()})
		}
		out, err = s.issueIn(ctx, tx, c, kc, ireq, req.Mode, id)
		return err
	})
	if err != nil {
		return nil, StoreError(err, "")
	}
	if refused != nil {
		return nil, refused
	}
	s.count("certificate_issued")
	return out, nil
}

// issuable checks inside Issue's transaction that application id may be
// issued now as req asks, and spends req's challenge.
func (s *Service) issuable(ctx context.Context, tx *store.Tx, c Caller, id string, req renewal.IssueRequest) (*renewal.Application, error) {
	a, err := tx.Application(ctx, c.Scope(), id)
	if err != nil {
		return nil, err
	}
	if a.Version != req.Version {
		return nil, renewal.NewError(renewal.CodeStaleVersion, "version")
	}
	if err := s.allowed(c, a, renewal.ActionIssue); err != nil {
		return nil, err
	}
	if _, err := tx.Issuance(ctx, c.Scope(), id); err == nil {
		return nil, renewal.Errorf(renewal.CodeConflict, "", "the certificate was issued already: download it")
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if (a.Rekey || s.policy.RekeyRequired) && req.Mode != renewal.IssueRekey {
		return nil, renewal.NewError(renewal.CodeRekeyRequired, "mode")
	}
	switch err := tx.ConsumeChallenge(ctx, id, req.Nonce); {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrUsed), errors.Is(err, store.ErrExpired):
		return nil, renewal.NewError(renewal.CodeChallengeExpired, "nonce")
	case err != nil:
		return nil, err
	}
	return a, nil
}

// verifyProof checks req's proof of the old key over application a's
// challenge, and that the key to certify is one the CA takes (the old one
// as it is, or a re-key's new one of an allowed type); a re-key's CSR goes
// into ireq.
func (s *Service) verifyProof(a *renewal.Application, req renewal.IssueRequest, ireq *issuer.Request) error {
	switch req.Mode {
	case renewal.IssueSameKey:
		if err := sameKeyRenewable(ireq.Old); err != nil {
			return err
		}
		return proofError(issuer.VerifyProof(ireq.Old.PublicKey, renewal.SameKeyMessage(a.ID, a.CertSerial, req.Nonce), req.Signature), "signature")
	case renewal.IssueRekey:
		if err := s.rekeyType(ireq.Old, req.CSR); err != nil {
			return err
		}
		ireq.CSR = req.CSR
		return proofError(issuer.VerifyRekey(ireq.Old, req.CSR, renewal.RekeyBindingMessage(a.ID, a.CertSerial, req.Nonce, req.CSR), req.BindingSignature, ireq.Now), "binding_signature")
	}
	return nil
}

// issueIn has the issuer issue ireq and stores the issuance and the new
// certificate (registered for the holder kc was for) in tx.
func (s *Service) issueIn(ctx context.Context, tx *store.Tx, c Caller, kc *store.CertificateRecord, ireq issuer.Request,
	mode renewal.IssueMode, id string) (*renewal.Issuance, error) {
	issued, err := s.issuer.Issue(ctx, ireq)
	if err != nil {
		return nil, proofError(err, "csr")
	}
	cert, err := smx509.ParseCertificate(issued.DER)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	serial := renewal.NormalizeSerial(issued.Serial.Text(16))
	out := &renewal.Issuance{ApplicationID: id, Mode: mode, Serial: serial, Certificate: issued.DER,
		Chain: issued.Chain, NotBefore: issued.NotBefore, NotAfter: issued.NotAfter}
	if err := tx.PutIssuance(ctx, out, c.Change("certificate.issue")); err != nil {
		return nil, err
	}
	spki, err := smx509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("issued public key: %w", err)
	}
	nc := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: kc.Holder, Issuer: cert.Issuer.String(),
		OrganisationID: kc.OrganisationID, NotBefore: issued.NotBefore, NotAfter: issued.NotAfter, KeyType: KeyTypeOf(cert)},
		PublicKey: spki, DER: issued.DER}
	return out, tx.PutCertificate(ctx, nc, c.Change("certificate.register"))
}

// KeyTypeOf names the key type of a certificate.
func KeyTypeOf(c *smx509.Certificate) renewal.KeyType { return keyTypeOfKey(c.PublicKey) }

// keyTypeOfKey names the type of a public key ("" for one of no known type).
func keyTypeOfKey(pub crypto.PublicKey) renewal.KeyType {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return renewal.KeyRSA
	case *ecdsa.PublicKey:
		if sm2.IsSM2PublicKey(k) {
			return renewal.KeySM2
		}
		return renewal.KeyECDSA
	}
	return ""
}

// Issuance returns the certificate issued for application id; a clerk
// downloads it only while the states table allows (action download).
func (s *Service) Issuance(ctx context.Context, c Caller, id string) (*renewal.Issuance, error) {
	action := renewal.ActionDownload
	if c.User.Role.IsStaff() {
		action = ""
	}
	if _, err := s.load(ctx, c, id, action); err != nil {
		return nil, err
	}
	i, err := s.store.Issuance(ctx, c.Scope(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, renewal.NewError(renewal.CodeNotIssued, "")
	}
	return i, err
}

// ConfirmInstalled records that the issued certificate, named by its
// serial, is on the token (action confirm_installed).
func (s *Service) ConfirmInstalled(ctx context.Context, c Caller, id string, req renewal.ConfirmInstalledRequest) (*renewal.Application, error) {
	return s.act(ctx, c, id, req.Version, renewal.ActionConfirmInstalled, func(tx *store.Tx, a *renewal.Application) error {
		i, err := tx.Issuance(ctx, c.Scope(), a.ID)
		if errors.Is(err, store.ErrNotFound) {
			return renewal.NewError(renewal.CodeNotIssued, "")
		}
		if err != nil {
			return err
		}
		if i.Serial != req.Serial {
			return renewal.Errorf(renewal.CodeInvalidField, "serial", "the issued certificate's serial is %s", i.Serial)
		}
		return nil
	})
}
