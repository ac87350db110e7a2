package server

import (
	"encoding/pem"
	"net/http"
)

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
