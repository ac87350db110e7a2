package server

import (
	"io"
	"net/http"
	"strconv"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
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

// uploadRoute is the upload's chain. Everything that needs no byte of the
// body is checked first (the caller, the query, the application: its
// scope, state and document count; the declared length); then the body's
// bytes are reserved from the budgets (bodyLimit) and it is spooled to a
// temporary file, never held in memory as it arrives.
func (s *Server) uploadRoute() http.Handler {
	return s.adapt(s.authed(s.beforeBody(s.checkUpload,
		s.bodyLimit(bodyRule{s.cfg.Limits.MaxDocument, renewal.CodeDocumentTooLarge}, s.idempotent(s.uploadDocument)))))
}

// uploadRequest is the upload's metadata from the path and query.
func uploadRequest(r *http.Request) (string, renewal.UploadDocumentRequest, error) {
	id := r.PathValue("id")
	if err := renewals.CheckID(id); err != nil {
		return "", renewal.UploadDocumentRequest{}, err
	}
	q := r.URL.Query()
	req := renewal.UploadDocumentRequest{Kind: renewal.DocumentKind(q.Get("kind")), Name: q.Get("name")}
	return id, req, req.Validate()
}

// checkUpload refuses, before the body is read, an upload that would be
// refused after it.
func (s *Server) checkUpload(w http.ResponseWriter, r *http.Request) error {
	id, _, err := uploadRequest(r)
	if err != nil {
		return err
	}
	if max := s.cfg.Limits.MaxDocument; r.ContentLength > max {
		return renewal.Errorf(renewal.CodeDocumentTooLarge, "", "the file exceeds %d bytes", max)
	}
	return s.apps.CheckUpload(r.Context(), s.caller(r), id)
}

func (s *Server) uploadDocument(w http.ResponseWriter, r *http.Request) error {
	id, req, err := uploadRequest(r)
	if err != nil {
		return err
	}
	// Spooled to a file; a file that is no PDF, JPEG or PNG is refused by
	// its first bytes.
	sp, err := spoolBody(r, MaxJSONBody, func(head []byte) error {
		if len(head) == 0 {
			return renewal.Errorf(renewal.CodeRequired, "document", "the file is empty")
		}
		_, err := renewal.SniffDocument(head)
		return err
	})
	if err != nil {
		return err
	}
	defer sp.close()
	// Into memory once, for the store (BYTEA), in the write transaction.
	d, err := s.apps.UploadDocumentFrom(r.Context(), s.caller(r), id, req, sp.size, sp.head, sp.bytes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

// getDocument sends a document. Its bytes are in memory while they are
// sent, so they are reserved from the budgets (bodylimit.go) first, at
// the document's size: downloads cannot add up beyond them either.
func (s *Server) getDocument(w http.ResponseWriter, r *http.Request) error {
	d, body, err := s.apps.OpenDocument(r.Context(), s.caller(r), r.PathValue("id"), r.PathValue("doc"))
	if err != nil {
		return err
	}
	// The document is sent a chunk at a time: what it holds in memory is
	// reserved from the body budgets (a stalled reader keeps it).
	release, err := s.bodies.acquire(principalOf(r.Context()).user.ID, min(d.Size, downloadReserve))
	if err != nil {
		return err
	}
	defer release()
	w.Header().Set("Content-Type", d.ContentType)
	w.Header().Set("Content-Length", strconv.FormatInt(d.Size, 10))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	if _, err := io.Copy(w, body); err != nil {
		// Headers are out: cut the connection, so the client sees a
		// broken transfer rather than a complete-looking wrong file.
		s.log.ErrorContext(r.Context(), "document download failed", "document", d.ID, "err", err.Error())
		panic(http.ErrAbortHandler)
	}
	return nil
}

// downloadReserve is what one document download is counted at in the body
// budgets: measured, a download of a chunked document grows the process by
// some 2 MiB (the chunk, the database driver's copies of it, buffers, and
// garbage not yet collected), though it holds one 256 KiB chunk.
const downloadReserve = 8 * store.DocumentChunk

func (s *Server) deleteDocument(w http.ResponseWriter, r *http.Request) error {
	if err := s.apps.DeleteDocument(r.Context(), s.caller(r), r.PathValue("id"), r.PathValue("doc")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
