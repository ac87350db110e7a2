package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// DocumentList answers ListDocuments.
type DocumentList struct {
	Items []renewal.Document `json:"items"`
}

// ListDocuments returns an application's documents.
// GET /v1/applications/{id}/documents.
func (c *Client) ListDocuments(ctx context.Context, id string) (*DocumentList, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/documents"), nil)
	if err != nil {
		return nil, err
	}
	var out DocumentList
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UploadDocument stores a PDF, JPEG or PNG (at most renewal.MaxDocumentBytes)
// on an application. POST /v1/applications/{id}/documents, with an
// Idempotency-Key, retried. The type is sniffed here as the service does,
// so a wrong file is refused before it is sent.
func (c *Client) UploadDocument(ctx context.Context, id string, req renewal.UploadDocumentRequest, data []byte) (*renewal.Document, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	switch {
	case len(data) == 0:
		return nil, renewal.Errorf(renewal.CodeRequired, "document", "the file is empty")
	case len(data) > renewal.MaxDocumentBytes:
		return nil, renewal.Errorf(renewal.CodeDocumentTooLarge, "document", "the file has %d bytes, more than %d", len(data), renewal.MaxDocumentBytes)
	}
	ct, err := renewal.SniffDocument(data)
	if err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodPost, appPath(id, "/documents"), data)
	if err != nil {
		return nil, err
	}
	r.contentType = ct
	r.query = url.Values{"kind": {string(req.Kind)}, "name": {req.Name}}
	r.idempotent = true
	var out renewal.Document
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetDocument downloads a document: its bytes and content type.
// GET /v1/applications/{id}/documents/{doc}.
func (c *Client) GetDocument(ctx context.Context, id, docID string) ([]byte, string, error) {
	if err := checkID("id", id); err != nil {
		return nil, "", err
	}
	if err := checkID("doc", docID); err != nil {
		return nil, "", err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/documents/"+url.PathEscape(docID)), nil)
	if err != nil {
		return nil, "", err
	}
	r.accept = "application/pdf, image/jpeg, image/png"
	r.maxBody = MaxDownload
	res, err := c.call(ctx, r, nil)
	if err != nil {
		return nil, "", err
	}
	ct := res.header.Get("Content-Type")
	switch ct {
	case renewal.ContentPDF, renewal.ContentJPEG, renewal.ContentPNG:
	default:
		return nil, "", fmt.Errorf("GET %s: unexpected content type %q", r.path, ct)
	}
	return res.body, ct, nil
}

// DeleteDocument removes a document (while editing or rejected).
// DELETE /v1/applications/{id}/documents/{doc}.
func (c *Client) DeleteDocument(ctx context.Context, id, docID string) error {
	if err := checkID("id", id); err != nil {
		return err
	}
	if err := checkID("doc", docID); err != nil {
		return err
	}
	r, err := c.newRequest(http.MethodDelete, appPath(id, "/documents/"+url.PathEscape(docID)), nil)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, r, nil)
	return err
}

// MaxFormPDF bounds the generated application form.
const MaxFormPDF = 16 << 20

// FormPDF returns the application form to print, sign, stamp and upload
// (PDF, Chinese). GET /v1/applications/{id}/form.pdf.
func (c *Client) FormPDF(ctx context.Context, id string) ([]byte, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/form.pdf"), nil)
	if err != nil {
		return nil, err
	}
	r.accept, r.maxBody = renewal.ContentPDF, MaxFormPDF
	res, err := c.call(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	if ct := res.header.Get("Content-Type"); ct != renewal.ContentPDF {
		return nil, fmt.Errorf("GET %s: unexpected content type %q", r.path, ct)
	}
	return res.body, nil
}
