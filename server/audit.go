package server

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

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

// auditList pages through the audit log (admin): GET /v1/audit?target=..
// &actor=..&workstation_id=..&since=RFC3339&until=RFC3339&after_seq=N&page_size=N, in
// sequence order; the next page starts after the last seq returned.
func (s *Server) auditList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := renewal.AuditQuery{Target: q.Get("target"), Actor: q.Get("actor"), WorkstationID: q.Get("workstation_id")}
	for name, dst := range map[string]*time.Time{"since": &req.Since, "until": &req.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return renewal.Errorf(renewal.CodeInvalidField, name, "%s is an RFC 3339 time", name)
			}
			*dst = t
		}
	}
	if v := q.Get("after_seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return renewal.Errorf(renewal.CodeInvalidField, "after_seq", "after_seq is a number")
		}
		req.AfterSeq = n
	}
	if err := parsePageSize(q.Get("page_size"), &req.PageSize); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	entries, err := s.store.ListAudit(r.Context(), req)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []renewal.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, struct {
		Items []renewal.AuditEntry `json:"items"`
	}{entries})
	return nil
}
