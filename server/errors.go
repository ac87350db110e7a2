package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
)

// handlerFunc is an HTTP handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// errorBody is the one JSON shape of every error answer. It decodes into
// renewal.Error on the client (message is already in the asked language).
type errorBody struct {
	Code    renewal.Code `json:"code"`
	Message string       `json:"message"`
	Field   string       `json:"field,omitempty"`
	Fields  []errorBody  `json:"fields,omitempty"`
}

func bodyOf(e *renewal.Error, lang string) errorBody {
	b := errorBody{Code: e.Code, Message: e.Localized(lang), Field: e.Field}
	for _, f := range e.Fields {
		b.Fields = append(b.Fields, bodyOf(f, lang))
	}
	return b
}

// adapt turns a handlerFunc into an http.Handler: the ONE place where an
// error becomes a status and a JSON body. Errors that are not *renewal.Error
// are internal: logged (without request data) and answered generically.
func (s *Server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		s.writeError(w, r, err)
	})
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *renewal.Error
	if !errors.As(err, &e) {
		if r.Context().Err() != nil {
			// The client went away; nothing to answer.
			return
		}
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", routeOf(r), "err", err.Error())
		e = renewal.NewError(renewal.CodeInternal, "")
	}
	status := e.HTTPStatus()
	if status >= 500 && e.Err != nil {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", routeOf(r), "err", e.Err.Error())
	}
	if ra, ok := renewals.RetryAfterOf(err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(ra))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="renewd"`)
	}
	writeJSON(w, status, bodyOf(e, langOf(r)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// langOf picks zh-CN (the default) or en from Accept-Language by q-value.
func langOf(r *http.Request) string {
	best, bestQ := "zh-CN", -1.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		tag = strings.ToLower(strings.TrimSpace(tag))
		var lang string
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			lang = "zh-CN"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			lang = "en"
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = lang, q
		}
	}
	return best
}

func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}
