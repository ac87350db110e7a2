package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// MaxAbout bounds the answer of GET /v1/about.
const MaxAbout = 4 << 10

// The API versions this client speaks (renewal.APIVersion).
const (
	MinAPIVersion = 1
	MaxAPIVersion = renewal.APIVersion
)

// ErrNotRenewd: the address answers, but not as a renewal service.
var ErrNotRenewd = errors.New("the address answers, but not as a UKey Renew renewal service (renewd)")

// NotRenewdError says what answered instead of a renewal service. It
// satisfies errors.Is(err, ErrNotRenewd).
type NotRenewdError struct {
	Status int    // the HTTP status of the answer
	Page   bool   // the answer was a web page (text/html)
	Reason string // what was wrong with it, in English
}

func (e *NotRenewdError) Error() string {
	return fmt.Sprintf("GET /v1/about: %v: HTTP %d: %s", ErrNotRenewd, e.Status, e.Reason)
}

// Is makes errors.Is(err, ErrNotRenewd) true.
func (e *NotRenewdError) Is(target error) bool { return target == ErrNotRenewd }

// About asks the service what it is. GET /v1/about, without a session and
// without retries: it is how a client tells that an address is a renewal
// service at all. Any answer but a valid renewal.About from a 2xx is a
// *NotRenewdError (an error status, a web page, another program's JSON, an
// answer over MaxAbout), except 429 and 5xx (a proxy or a busy service:
// the *APIError, to try again later); a failed connection is the
// transport's error.
func (c *Client) About(ctx context.Context) (renewal.About, error) {
	r, err := c.newRequest(http.MethodGet, "/v1/about", nil)
	if err != nil {
		return renewal.About{}, err
	}
	r.auth, r.maxBody, r.noRetry = false, MaxAbout, true
	res, err := c.do(ctx, r)
	var api *APIError
	switch {
	case errors.As(err, &api) && api.Status < 500 && api.Status != http.StatusTooManyRequests:
		return renewal.About{}, &NotRenewdError{Status: api.Status, Reason: "an error status"}
	case errors.Is(err, ErrTooLarge):
		return renewal.About{}, &NotRenewdError{Status: http.StatusOK, Reason: fmt.Sprintf("an answer over %d bytes", MaxAbout)}
	case err != nil:
		return renewal.About{}, err
	}
	mt, _, _ := mime.ParseMediaType(res.header.Get("Content-Type"))
	if mt == "text/html" {
		return renewal.About{}, &NotRenewdError{Status: res.status, Page: true, Reason: "a web page"}
	}
	var a renewal.About
	if err := json.Unmarshal(res.body, &a); err != nil {
		return renewal.About{}, &NotRenewdError{Status: res.status, Reason: "not the service's JSON: " + err.Error()}
	}
	if err := a.Validate(); err != nil {
		return renewal.About{}, &NotRenewdError{Status: res.status, Reason: err.Error()}
	}
	return a, nil
}

// APIVersionError: the service speaks an API version this client does not.
type APIVersionError struct {
	Service  renewal.About // what the service said
	Min, Max int           // the versions the client speaks
}

func (e *APIVersionError) Error() string {
	if e.ServiceOlder() {
		return fmt.Sprintf("the service (renewd %s) speaks API version %d, older than this client's %s: the CA must update renewd, or use an older client",
			e.Service.Version, e.Service.APIVersion, e.Range())
	}
	return fmt.Sprintf("the service (renewd %s) speaks API version %d, newer than this client's %s: install a newer client",
		e.Service.Version, e.Service.APIVersion, e.Range())
}

// ServiceOlder tells which side is behind: the service (its operator must
// update it) or else the client (the clerk must install a newer one).
func (e *APIVersionError) ServiceOlder() bool { return e.Service.APIVersion < e.Min }

// Range is the client's versions as text: "1" or "1–2".
func (e *APIVersionError) Range() string {
	if e.Min == e.Max {
		return fmt.Sprint(e.Min)
	}
	return fmt.Sprintf("%d–%d", e.Min, e.Max)
}

// CheckAPIVersion returns an *APIVersionError unless the service's API
// version is one of min…max (a client passes MinAPIVersion and
// MaxAPIVersion).
func CheckAPIVersion(a renewal.About, min, max int) error {
	if a.APIVersion < min || a.APIVersion > max {
		return &APIVersionError{Service: a, Min: min, Max: max}
	}
	return nil
}
