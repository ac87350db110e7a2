package server

import (
	"context"
	"net/http"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
)

// Most handlers under /v1/applications/{id} are the same three steps:
// decode (and validate) the request body, call one Service method with the
// caller and the id from the path, render its answer. These build them.

// requestBody is a request type whose pointer validates itself.
type requestBody[T any] interface {
	*T
	validator
}

// dated is a request whose checks depend on the date: a birth date in an
// ID number may not lie after today.
type dated interface {
	ValidateAt(now time.Time) error
}

// readRequestAt is readRequest on the service's clock for a request that
// is dated, so the date checks follow the clock the rest of the service
// runs on (and tests set).
func (s *Server) readRequestAt(w http.ResponseWriter, r *http.Request, v validator) error {
	d, ok := v.(dated)
	if !ok {
		return readRequest(w, r, v)
	}
	if err := decodeJSON(w, r, v); err != nil {
		return err
	}
	return d.ValidateAt(s.now())
}

// changeApplication decodes a T and answers the application do leaves,
// with its version as the ETag.
func changeApplication[T any, PT requestBody[T]](s *Server,
	do func(context.Context, renewals.Caller, string, T) (*renewal.Application, error)) handlerFunc {
	return callApplication[T, PT](s, do, func(w http.ResponseWriter, a *renewal.Application) {
		writeApplication(w, http.StatusOK, a)
	})
}

// callApplication decodes a T, calls do and answers with write.
func callApplication[T any, PT requestBody[T], V any](s *Server,
	do func(context.Context, renewals.Caller, string, T) (V, error), write func(http.ResponseWriter, V)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req T
		if err := s.readRequestAt(w, r, PT(&req)); err != nil {
			return err
		}
		v, err := do(r.Context(), s.caller(r), r.PathValue("id"), req)
		if err != nil {
			return err
		}
		write(w, v)
		return nil
	}
}

// readApplication calls do (no body) and answers its V as JSON.
func readApplication[V any](s *Server, do func(context.Context, renewals.Caller, string) (V, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := do(r.Context(), s.caller(r), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

// answerJSON writes v as the JSON answer.
func answerJSON[V any](w http.ResponseWriter, v V) { writeJSON(w, http.StatusOK, v) }
