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
// refusing unknown fields, keys given twice in one object, keys that are
// not ASCII, trailing data and other content types.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return renewal.Errorf(renewal.CodeInvalidRequest, "", "content type must be application/json")
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err)
		}
		return renewal.Errorf(renewal.CodeInvalidRequest, "", "the request body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return renewal.Errorf(renewal.CodeInvalidRequest, "", "unexpected data after the JSON object")
	}
	if path, key, dup := badKey(data); path != "" {
		if !dup {
			return renewal.Errorf(renewal.CodeInvalidRequest, path, "the key %q is not ASCII", key)
		}
		return renewal.Errorf(renewal.CodeInvalidRequest, path, "the key %q is given twice", key)
	}
	return nil
}

// badKey finds, at any depth of data (one valid JSON value), a key that
// is not ASCII (dup false) or a key given twice in one object (dup true),
// and returns its path (a.b[2].c) and the key, or "". Keys that differ
// only in case count as the same: encoding/json would fill one field from
// both, the last winning. encoding/json matches keys to fields with
// Unicode case folding, under which "ſ" (U+017F) is "s" and "K" (U+212A,
// Kelvin) is "k": no wire field's name is other than ASCII, so such a key
// is refused outright, and ASCII lower case is then the same folding.
func badKey(data []byte) (path, key string, dup bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var walk func(at string) (string, string, bool)
	walk = func(at string) (string, string, bool) {
		tok, err := dec.Token()
		if err != nil {
			return "", "", false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return "", "", false
				}
				k, _ := kt.(string)
				p := k
				if at != "" {
					p = at + "." + k
				}
				if !isASCII(k) {
					return p, k, false
				}
				fk := strings.ToLower(k)
				if seen[fk] {
					return p, k, true
				}
				seen[fk] = true
				if p, k, dup := walk(p); p != "" {
					return p, k, dup
				}
			}
			_, _ = dec.Token() // '}'
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if p, k, dup := walk(fmt.Sprintf("%s[%d]", at, i)); p != "" {
					return p, k, dup
				}
			}
			_, _ = dec.Token() // ']'
		}
		return "", "", false
	}
	return walk("")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
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
