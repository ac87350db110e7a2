package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"golang.org/x/text/language"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
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
		if store.Unavailable(err) {
			// The database is away or rolled the transaction back: busy,
			// to be retried (a client sends the same request again).
			s.log.WarnContext(r.Context(), "database unavailable", "method", r.Method, "route", routeOf(r), "err", err.Error())
			w.Header().Set("Retry-After", "1")
			e = renewal.NewError(renewal.CodeBusy, "")
		} else {
			s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", routeOf(r), "err", err.Error())
			e = renewal.NewError(renewal.CodeInternal, "")
		}
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

// errorLangs are the languages error messages are written in, zh-CN (the
// default) first. Traditional Chinese is matched too, so that a zh-TW or
// zh-HK reader gets the Chinese messages rather than English of a lower
// weight; errorLangNames names the messages each one gets.
var (
	errorLangs = language.NewMatcher([]language.Tag{
		language.MustParse("zh-CN"), language.English, language.TraditionalChinese,
	})
	errorLangNames = []string{"zh-CN", "en", "zh-CN"}
)

// langOf picks zh-CN (the default) or en from Accept-Language by q-value. A
// header that does not parse, or names neither language, gets the default.
func langOf(r *http.Request) string {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil {
		return errorLangNames[0]
	}
	_, i, conf := errorLangs.Match(tags...)
	if conf == language.No {
		return errorLangNames[0]
	}
	return errorLangNames[i]
}

func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}
