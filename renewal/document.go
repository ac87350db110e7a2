package renewal

import (
	"bytes"
	"time"
)

// Document wire types: the scans uploaded with an application.

// DocumentKind is what a document is.
type DocumentKind string

// Document kinds.
const (
	DocApplicationForm DocumentKind = "application_form" // the signed and stamped form scan
	DocIDFront         DocumentKind = "id_front"
	DocIDBack          DocumentKind = "id_back"
	DocOther           DocumentKind = "other"
)

// Valid reports whether k is a known document kind.
func (k DocumentKind) Valid() bool {
	return k == DocApplicationForm || k == DocIDFront || k == DocIDBack || k == DocOther
}

// Content types accepted for documents (sniffed from the bytes, not the name).
const (
	ContentPDF  = "application/pdf"
	ContentJPEG = "image/jpeg"
	ContentPNG  = "image/png"
)

// SniffDocument returns the content type of a document from its first bytes,
// or an *Error with CodeDocumentType.
func SniffDocument(head []byte) (string, error) {
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return ContentPDF, nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return ContentJPEG, nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return ContentPNG, nil
	}
	return "", NewError(CodeDocumentType, "")
}

// UploadDocumentRequest is the metadata of an upload; the bytes are the body.
// POST /v1/applications/{id}/documents?kind=..&name=..
type UploadDocumentRequest struct {
	Kind DocumentKind `json:"kind"`
	Name string       `json:"name"`
}

// MaxDocumentNameRunes bounds a document's file name.
const MaxDocumentNameRunes = 200

// Validate checks the request (normalising the name in place).
func (r *UploadDocumentRequest) Validate() error {
	var fe fieldErrors
	if !r.Kind.Valid() {
		fe.add("kind", invalid(CodeInvalidField, "unknown document kind %q", r.Kind))
	}
	r.Name = NormalizeLine(r.Name)
	fe.add("name", ValidateName(r.Name, MaxDocumentNameRunes))
	return fe.err()
}

// Document is a stored document's metadata.
type Document struct {
	ID            string       `json:"id"`
	ApplicationID string       `json:"application_id"`
	Kind          DocumentKind `json:"kind"`
	Name          string       `json:"name"`
	ContentType   string       `json:"content_type"`
	Size          int64        `json:"size"`
	SHA256        string       `json:"sha256"` // hex
	CreatedAt     time.Time    `json:"created_at"`
}
