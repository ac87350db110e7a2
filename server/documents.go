package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

func (s *Server) listDocuments(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	docs, err := s.store.Documents(r.Context(), scope(r.Context()), id)
	if err != nil {
		return storeErr(err, "")
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
	if err := checkID(id); err != nil {
		return err
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
	if len(data) == 0 {
		return renewal.Errorf(renewal.CodeRequired, "document", "the file is empty")
	}
	ct, err := renewal.SniffDocument(data)
	if err != nil {
		return err
	}
	role := principalOf(r.Context()).user.Role
	d := &renewal.Document{ApplicationID: id, Kind: req.Kind, Name: req.Name, ContentType: ct}
	err = s.store.Write(r.Context(), func(tx *store.Tx) error {
		a, err := tx.Application(r.Context(), scope(r.Context()), id)
		if err != nil {
			return err
		}
		if _, err := renewal.Apply(a.State, s.cfg.Policy, role, renewal.ActionUploadDocument); err != nil {
			return err
		}
		return tx.AddDocument(r.Context(), scope(r.Context()), d, data, s.change(r, "document.upload"))
	})
	if err != nil {
		if errors.Is(err, store.ErrLimit) {
			return renewal.Errorf(renewal.CodeTooLong, "document", "at most %d documents an application", renewal.MaxDocumentsPerApp)
		}
		return storeErr(err, "document")
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *Server) getDocument(w http.ResponseWriter, r *http.Request) error {
	id, docID := r.PathValue("id"), r.PathValue("doc")
	if err := checkID(id); err != nil {
		return err
	}
	if err := checkID(docID); err != nil {
		return err
	}
	d, data, err := s.store.Document(r.Context(), scope(r.Context()), id, docID)
	if err != nil {
		return storeErr(err, "")
	}
	w.Header().Set("Content-Type", d.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	_, _ = w.Write(data)
	return nil
}

func (s *Server) deleteDocument(w http.ResponseWriter, r *http.Request) error {
	id, docID := r.PathValue("id"), r.PathValue("doc")
	if err := checkID(id); err != nil {
		return err
	}
	if err := checkID(docID); err != nil {
		return err
	}
	// The state is checked inside the delete's transaction, so a submit
	// cannot slip in between the check and the delete.
	role := principalOf(r.Context()).user.Role
	err := s.store.Write(r.Context(), func(tx *store.Tx) error {
		a, err := tx.Application(r.Context(), scope(r.Context()), id)
		if err != nil {
			return err
		}
		if _, err := renewal.Apply(a.State, s.cfg.Policy, role, renewal.ActionDeleteDocument); err != nil {
			return err
		}
		return tx.DeleteDocument(r.Context(), scope(r.Context()), id, docID, s.change(r, "document.delete"))
	})
	if err != nil {
		return storeErr(err, "")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
