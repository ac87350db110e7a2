package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// MaxJSONBody bounds a JSON request body.
const MaxJSONBody = 64 << 10

// decodeJSON reads one JSON object of at most MaxJSONBody bytes into v,
// refusing unknown fields, trailing data and other content types.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return renewal.Errorf(renewal.CodeInvalidRequest, "", "content type must be application/json")
		}
	}
	body := http.MaxBytesReader(w, r.Body, MaxJSONBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return renewal.NewError(renewal.CodeBodyTooLarge, "")
		}
		return renewal.Errorf(renewal.CodeInvalidRequest, "", "unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return renewal.Errorf(renewal.CodeBodyTooLarge, "", "the request body exceeds %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return renewal.Errorf(renewal.CodeInvalidRequest, "", "empty request body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return renewal.Errorf(renewal.CodeInvalidRequest, "", "truncated JSON")
	case errors.As(err, &se):
		return renewal.Errorf(renewal.CodeInvalidRequest, "", "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		field := te.Field
		return renewal.Errorf(renewal.CodeInvalidField, field, "%s must be %s", field, te.Type.String())
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return renewal.Errorf(renewal.CodeInvalidRequest, f, "unknown field %q", f)
	}
	return renewal.Errorf(renewal.CodeInvalidRequest, "", "malformed JSON: %s", firstLine(err.Error()))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// validator is what the renewal wire types implement.
type validator interface{ Validate() error }

// readRequest decodes and validates a request body.
func readRequest(w http.ResponseWriter, r *http.Request, v validator) error {
	if err := decodeJSON(w, r, v); err != nil {
		return err
	}
	return v.Validate()
}

// readBody reads a raw (non-JSON) body of at most max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, max))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, renewal.Errorf(renewal.CodeDocumentTooLarge, "", "the file exceeds %d bytes", max)
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return buf.Bytes(), nil
}
