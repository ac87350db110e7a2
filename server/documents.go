package server

import (
	"net/http"
	"strconv"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
)

func (s *Server) listDocuments(w http.ResponseWriter, r *http.Request) error {
	docs, err := s.apps.Documents(r.Context(), s.caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := struct {
		Items []renewal.Document `json:"items"`
	}{Items: []renewal.Document{}}
	for _, d := range docs {
		out.Items = append(out.Items, *d)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) uploadDocument(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := renewals.CheckID(id); err != nil {
		return err // before the query and the body, as ever
	}
	q := r.URL.Query()
	req := renewal.UploadDocumentRequest{Kind: renewal.DocumentKind(q.Get("kind")), Name: q.Get("name")}
	if err := req.Validate(); err != nil {
		return err
	}
	max := s.cfg.Limits.MaxDocument
	if r.ContentLength > max {
		return renewal.Errorf(renewal.CodeDocumentTooLarge, "", "the file exceeds %d bytes", max)
	}
	data, err := readBody(w, r, max)
	if err != nil {
		return err
	}
	d, err := s.apps.UploadDocument(r.Context(), s.caller(r), id, req, data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *Server) getDocument(w http.ResponseWriter, r *http.Request) error {
	d, data, err := s.apps.Document(r.Context(), s.caller(r), r.PathValue("id"), r.PathValue("doc"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", d.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	_, _ = w.Write(data)
	return nil
}

func (s *Server) deleteDocument(w http.ResponseWriter, r *http.Request) error {
	if err := s.apps.DeleteDocument(r.Context(), s.caller(r), r.PathValue("id"), r.PathValue("doc")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
