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
// refusing unknown fields, keys given twice in one object, trailing data
// and other content types.
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
	if path, key := duplicateKey(data); path != "" {
		return renewal.Errorf(renewal.CodeInvalidRequest, path, "the key %q is given twice", key)
	}
	return nil
}

// duplicateKey finds a key given twice in one object of data (one valid
// JSON value), at any depth, and returns its path (a.b[2].c) and the key,
// or "". Keys that differ only in case count as the same: encoding/json
// would fill one field from both, the last winning.
func duplicateKey(data []byte) (path, key string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var walk func(at string) (string, string)
	walk = func(at string) (string, string) {
		tok, err := dec.Token()
		if err != nil {
			return "", ""
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return "", ""
				}
				k, _ := kt.(string)
				p := k
				if at != "" {
					p = at + "." + k
				}
				fk := strings.ToLower(k)
				if seen[fk] {
					return p, k
				}
				seen[fk] = true
				if p, k := walk(p); p != "" {
					return p, k
				}
			}
			_, _ = dec.Token() // '}'
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if p, k := walk(fmt.Sprintf("%s[%d]", at, i)); p != "" {
					return p, k
				}
			}
			_, _ = dec.Token() // ']'
		}
		return "", ""
	}
	return walk("")
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
