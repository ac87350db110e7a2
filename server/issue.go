package server

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

func (s *Server) challenge(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	a, err := s.store.Application(r.Context(), scope(r.Context()), id)
	if err != nil {
		return storeErr(err, "")
	}
	if _, err := renewal.Apply(a.State, s.cfg.Policy, principalOf(r.Context()).user.Role, renewal.ActionIssue); err != nil {
		return err
	}
	nonce, err := issuer.NewNonce()
	if err != nil {
		return err
	}
	exp, err := s.store.AddChallenge(r.Context(), scope(r.Context()), id, nonce, s.cfg.Limits.ChallengeTTL)
	if err != nil {
		return storeErr(err, "")
	}
	writeJSON(w, http.StatusOK, renewal.Challenge{Nonce: nonce, ExpiresAt: exp.UTC()})
	return nil
}

// proofError maps the issuer's verdicts to the contract's codes.
func proofError(err error, field string) error {
	switch {
	case errors.Is(err, issuer.ErrBadCSR):
		return renewal.Errorf(renewal.CodeCSRInvalid, "csr", "the certificate request is malformed or not self-signed")
	case errors.Is(err, issuer.ErrSameKey):
		return renewal.Errorf(renewal.CodeCSRInvalid, "csr", "a re-key needs a new key pair, not the old one")
	case errors.Is(err, issuer.ErrBindingRequired):
		return renewal.Errorf(renewal.CodeProofInvalid, "binding_signature", "while the old certificate is valid the old key must sign the request")
	case errors.Is(err, issuer.ErrUnsupportedKey):
		return renewal.Errorf(renewal.CodeCSRInvalid, "csr", "%s", strings.TrimPrefix(err.Error(), "unsupported key type: "))
	case errors.Is(err, issuer.ErrBadSignature):
		return renewal.NewError(renewal.CodeProofInvalid, field)
	}
	return err
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request) error {
	var req renewal.IssueRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	p := principalOf(r.Context())
	sc := scope(r.Context())
	var out *renewal.Issuance
	var refused error
	err := s.store.Write(r.Context(), func(tx *store.Tx) error {
		ctx := r.Context()
		a, err := tx.Application(ctx, sc, id)
		if err != nil {
			return err
		}
		if a.Version != req.Version {
			return renewal.NewError(renewal.CodeStaleVersion, "version")
		}
		if _, err := renewal.Apply(a.State, s.cfg.Policy, p.user.Role, renewal.ActionIssue); err != nil {
			return err
		}
		if _, err := tx.Issuance(ctx, sc, id); err == nil {
			return renewal.Errorf(renewal.CodeConflict, "", "the certificate was issued already: download it")
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if (a.Rekey || s.cfg.Policy.RekeyRequired) && req.Mode != renewal.IssueRekey {
			return renewal.NewError(renewal.CodeRekeyRequired, "mode")
		}
		switch err := tx.ConsumeChallenge(ctx, id, req.Nonce); {
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrUsed), errors.Is(err, store.ErrExpired):
			return renewal.NewError(renewal.CodeChallengeExpired, "nonce")
		case err != nil:
			return err
		}
		kc, err := tx.Certificate(ctx, sc, a.CertSerial)
		if err != nil {
			return fmt.Errorf("certificate of application %s: %w", id, err)
		}
		old, err := smx509.ParseCertificate(kc.DER)
		if err != nil {
			return fmt.Errorf("parse stored certificate %s: %w", kc.Serial, err)
		}
		now := tx.Now()
		ireq := issuer.Request{Old: old, Years: a.Form.Years, Now: now}
		switch req.Mode {
		case renewal.IssueSameKey:
			err = proofError(issuer.VerifyProof(old.PublicKey, renewal.SameKeyMessage(id, a.CertSerial, req.Nonce), req.Signature), "signature")
		case renewal.IssueRekey:
			err = proofError(issuer.VerifyRekey(old, req.CSR, renewal.RekeyBindingMessage(id, a.CertSerial, req.Nonce, req.CSR), req.BindingSignature, now), "binding_signature")
			ireq.CSR = req.CSR
		}
		if err != nil {
			// The challenge stays spent and the refusal is logged: each
			// proof is tried once. Commit, then answer the refusal.
			refused = err
			return tx.Audit(s.change(r, "certificate.proof_refused"), "application/"+id, nil,
				map[string]string{"mode": string(req.Mode), "code": renewal.CodeOf(err).String()})
		}
		issued, err := s.issuer.Issue(ctx, ireq)
		if err != nil {
			return proofError(err, "csr")
		}
		cert, err := smx509.ParseCertificate(issued.DER)
		if err != nil {
			return fmt.Errorf("parse issued certificate: %w", err)
		}
		serial := renewal.NormalizeSerial(issued.Serial.Text(16))
		out = &renewal.Issuance{ApplicationID: id, Mode: req.Mode, Serial: serial, Certificate: issued.DER,
			Chain: issued.Chain, NotBefore: issued.NotBefore, NotAfter: issued.NotAfter}
		if err := tx.PutIssuance(ctx, out, s.change(r, "certificate.issue")); err != nil {
			return err
		}
		spki, err := smx509.MarshalPKIXPublicKey(cert.PublicKey)
		if err != nil {
			return fmt.Errorf("issued public key: %w", err)
		}
		nc := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: kc.Holder, Issuer: cert.Issuer.String(),
			OrganisationID: kc.OrganisationID, NotBefore: issued.NotBefore, NotAfter: issued.NotAfter, KeyType: KeyTypeOf(cert)},
			PublicKey: spki, DER: issued.DER}
		return tx.PutCertificate(ctx, nc, s.change(r, "certificate.register"))
	})
	if err != nil {
		return storeErr(err, "")
	}
	if refused != nil {
		return refused
	}
	s.metrics.count("certificate_issued")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// KeyTypeOf names the key type of a certificate.
func KeyTypeOf(c *smx509.Certificate) renewal.KeyType { return renewals.KeyTypeOf(c) }

func (s *Server) loadIssuance(r *http.Request) (*renewal.Issuance, error) {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return nil, err
	}
	p := principalOf(r.Context())
	a, err := s.store.Application(r.Context(), scope(r.Context()), id)
	if err != nil {
		return nil, storeErr(err, "")
	}
	if !p.user.Role.IsStaff() {
		if _, err := renewal.Apply(a.State, s.cfg.Policy, p.user.Role, renewal.ActionDownload); err != nil {
			return nil, err
		}
	}
	i, err := s.store.Issuance(r.Context(), scope(r.Context()), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, renewal.NewError(renewal.CodeNotIssued, "")
	}
	return i, err
}

func (s *Server) getCertificate(w http.ResponseWriter, r *http.Request) error {
	i, err := s.loadIssuance(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, i)
	return nil
}

func (s *Server) getChainPEM(w http.ResponseWriter, r *http.Request) error {
	i, err := s.loadIssuance(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: i.Certificate})
	for _, c := range i.Chain {
		_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: c})
	}
	return nil
}

func (s *Server) confirmInstalled(w http.ResponseWriter, r *http.Request) error {
	var req renewal.ConfirmInstalledRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	a, err := s.act(r, r.PathValue("id"), req.Version, renewal.ActionConfirmInstalled, func(tx *store.Tx, a *renewal.Application) error {
		i, err := tx.Issuance(r.Context(), scope(r.Context()), a.ID)
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
	if err != nil {
		return err
	}
	s.writeApplication(w, r, http.StatusOK, a)
	return nil
}
