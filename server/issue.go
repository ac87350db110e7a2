package server

import (
	"encoding/pem"
	"net/http"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
)

func (s *Server) challenge(w http.ResponseWriter, r *http.Request) error {
	c, err := s.apps.Challenge(r.Context(), s.caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request) error {
	var req renewal.IssueRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	out, err := s.apps.Issue(r.Context(), s.caller(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// KeyTypeOf names the key type of a certificate.
func KeyTypeOf(c *smx509.Certificate) renewal.KeyType { return renewals.KeyTypeOf(c) }

func (s *Server) getCertificate(w http.ResponseWriter, r *http.Request) error {
	i, err := s.apps.Issuance(r.Context(), s.caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, i)
	return nil
}

func (s *Server) getChainPEM(w http.ResponseWriter, r *http.Request) error {
	i, err := s.apps.Issuance(r.Context(), s.caller(r), r.PathValue("id"))
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
	a, err := s.apps.ConfirmInstalled(r.Context(), s.caller(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeApplication(w, http.StatusOK, a)
	return nil
}
