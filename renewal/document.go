package renewal

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	fe.add("name", ValidateFileName(r.Name))
	return fe.err()
}

// fileNameForbidden are the characters Windows refuses in a file name; '/'
// and '\' would also make a name a path when a reviewer or the client
// saves the document.
const fileNameForbidden = `\/:*?"<>|`

// ValidateFileName checks a document's file name: a name as ValidateName
// checks it, of at most MaxDocumentNameRunes, that is a file name on every
// system: none of \ / : * ? " < > |, not "." or "..", not ending in a dot
// or a space (Windows drops them, so the saved file would differ).
func ValidateFileName(s string) error {
	if err := ValidateName(s, MaxDocumentNameRunes); err != nil {
		return err
	}
	if i := strings.IndexAny(s, fileNameForbidden); i >= 0 {
		c := s[i : i+1]
		return invalidZH(CodeInvalidField, "文件名不能含有 \\ / : * ? \" < > | 这些字符（第"+strconv.Itoa(utf8.RuneCountInString(s[:i])+1)+"个字符是 "+c+"），请改名后重新上传",
			"a file name cannot hold any of \\ / : * ? \" < > | (character %d is %q)", utf8.RuneCountInString(s[:i])+1, c)
	}
	if t := strings.Trim(s, "."); t == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, " ") {
		return invalidZH(CodeInvalidField, "文件名不能只有点号，也不能以点号或空格结尾，请改名后重新上传",
			"a file name cannot be only dots, or end in a dot or a space")
	}
	return nil
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
