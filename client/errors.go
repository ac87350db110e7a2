package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// APIError is an answer of the service that is not 2xx.
type APIError struct {
	Method, Path string // the call, without query (it may hold codes)
	Status       int
	Code         renewal.Code // CodeUnknown when the body is not the service's error
	Field        string
	Message      string // in the language asked for
	// Lang is the language Message is in: the one the request asked for
	// ("zh-CN" or "en"; "" when no service's error body was read).
	Lang       string
	Fields     []*APIError // field-level errors of a refused request
	RetryAfter time.Duration
	// Truncated is set when the body was longer than MaxErrorBody and was
	// not parsed.
	Truncated bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, e.Code)
	if e.Field != "" {
		fmt.Fprintf(&b, " (%s)", e.Field)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s)", f.Code, f.Field)
		if f.Message != "" {
			b.WriteString(" " + f.Message)
		}
	}
	return b.String()
}

// Unwrap returns the contract's error, so errors.As(err, **renewal.Error),
// renewal.CodeOf(err) and errors.Is(err, renewal.NewError(code, field))
// work on the client's errors as on the server's.
func (e *APIError) Unwrap() error { return e.renewalError() }

// The service's message goes where renewal.Error keeps that language's
// (Message is English, MessageZH Chinese), so that Localized gives the
// service's own words, with their details (the registered organisation, the
// character refused), and the table's text in the other language.
func (e *APIError) renewalError() *renewal.Error {
	r := &renewal.Error{Code: e.Code, Field: e.Field, Message: e.Message}
	if strings.HasPrefix(e.Lang, "zh") {
		r.Message, r.MessageZH = "", e.Message
	}
	for _, f := range e.Fields {
		r.Fields = append(r.Fields, f.renewalError())
	}
	return r
}

// FieldError returns the error about field (itself or one of its Fields), or nil.
func (e *APIError) FieldError(field string) *APIError {
	for _, f := range e.Fields {
		if f.Field == field {
			return f
		}
	}
	if e.Field == field && len(e.Fields) == 0 {
		return e
	}
	return nil
}

// Errors of the client itself.
var (
	// ErrNotSignedIn: a call needs a session and the client has no token.
	ErrNotSignedIn = errors.New("client: not signed in")
	// ErrSessionEnded: the refresh token was refused (expired, revoked, or
	// spent by another copy); the user signs in again. It wraps the
	// service's *APIError.
	ErrSessionEnded = errors.New("client: session ended; sign in again")
	// ErrNotModified answers a conditional GET whose resource did not change.
	ErrNotModified = errors.New("client: not modified")
	// ErrTooLarge: the answer was longer than the client accepts.
	ErrTooLarge = errors.New("client: answer too large")
)

type sessionEnded struct{ cause error }

func (s sessionEnded) Error() string   { return ErrSessionEnded.Error() + ": " + s.cause.Error() }
func (s sessionEnded) Unwrap() []error { return []error{ErrSessionEnded, s.cause} }

// wireError is the service's error body.
type wireError struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Field   string      `json:"field"`
	Fields  []wireError `json:"fields"`
}

func (w wireError) apiError(method, path string, status int, lang string) *APIError {
	e := &APIError{Method: method, Path: path, Status: status, Code: renewal.CodeByName(w.Code), Field: w.Field, Message: w.Message, Lang: lang}
	for _, f := range w.Fields {
		e.Fields = append(e.Fields, f.apiError(method, path, status, lang))
	}
	return e
}

// checkResponse returns nil for 2xx, else an *APIError read from at most
// MaxErrorBody bytes of the body. It does not close the body.
func checkResponse(res *http.Response) error {
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return nil
	}
	method, path := res.Request.Method, res.Request.URL.Path
	e := &APIError{Method: method, Path: path, Status: res.StatusCode}
	if ra := res.Header.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(ra); err == nil && n >= 0 && n <= 86400 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxErrorBody+1))
	switch {
	case len(body) > MaxErrorBody:
		e.Truncated = true
		e.Message = fmt.Sprintf("error body longer than %d bytes, not read", MaxErrorBody)
	case err != nil:
		e.Message = "error body unreadable: " + err.Error()
	default:
		var w wireError
		if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && json.Unmarshal(body, &w) == nil && w.Code != "" {
			ae := w.apiError(method, path, res.StatusCode, res.Request.Header.Get("Accept-Language"))
			ae.RetryAfter = e.RetryAfter
			return ae
		}
		e.Message = snippet(body)
	}
	if e.Message == "" {
		e.Message = http.StatusText(res.StatusCode)
	}
	return e
}

// snippet is the start of a non-JSON error body (from a proxy, say), on one line.
func snippet(b []byte) string {
	const max = 200
	if len(b) > max {
		b = b[:max]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return strings.Join(strings.Fields(string(b)), " ")
}
