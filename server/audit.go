package server

import (
	"bytes"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request) error {
	v, err := s.store.VerifyAudit(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	var buf bytes.Buffer // a failure midway answers an error, not half a file
	var err error
	var ct string
	switch format {
	case "csv":
		ct, err = "text/csv; charset=utf-8", s.store.ExportAuditCSV(r.Context(), &buf)
	case "json":
		ct, err = "application/json", s.store.ExportAuditJSON(r.Context(), &buf)
	default:
		return renewal.Errorf(renewal.CodeInvalidField, "format", "format is csv or json")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="audit.`+format+`"`)
	_, _ = w.Write(buf.Bytes())
	return nil
}
