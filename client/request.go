package client

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// IdempotencyKeyHeader is the header a creating POST carries. Go's own
// transport also treats a request with this header as safe to replay.
const IdempotencyKeyHeader = "Idempotency-Key"

// request is one call, ready to be sent (and sent again) by do.
type request struct {
	method, path string
	query        url.Values
	body         []byte
	contentType  string
	auth         bool // needs the access token
	idempotent   bool // a POST that creates: carries an Idempotency-Key and may be retried
	ifMatch      string
	ifNoneMatch  string
	accept       string
	maxBody      int64
	noRetry      bool // the answer itself is the information (readiness)
	attempts     int  // set by do: attempts made
}

// response is a 2xx (or 304) answer, body read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// newRequest prepares a call; body is nil, []byte (sent as
// application/octet-stream unless set otherwise) or a value sent as JSON.
func (c *Client) newRequest(method, path string, body any) (*request, error) {
	r := &request{method: method, path: path, auth: true, accept: "application/json", maxBody: MaxJSONBody}
	switch b := body.(type) {
	case nil:
	case []byte:
		r.body, r.contentType = b, "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		r.body, r.contentType = j, "application/json"
	}
	return r, nil
}

func (r *request) retryable() bool {
	if r.noRetry {
		return false
	}
	switch r.method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.idempotent
}

// call builds, sends and decodes a JSON answer into out (nil: none).
func (c *Client) call(ctx context.Context, r *request, out any) (*response, error) {
	res, err := c.do(ctx, r)
	if err != nil {
		return res, err
	}
	if out != nil && res.status != http.StatusNotModified && res.status != http.StatusNoContent {
		if err := json.Unmarshal(res.body, out); err != nil {
			return res, fmt.Errorf("%s %s: decode answer: %w", r.method, r.path, err)
		}
	}
	return res, nil
}

// do sends r, retrying and refreshing the session as the package comment
// says, and returns the 2xx answer or an error (an *APIError for answers).
func (c *Client) do(ctx context.Context, r *request) (*response, error) {
	if r.auth {
		access, gen, hasRefresh := c.session()
		if access == "" {
			if !hasRefresh {
				return nil, ErrNotSignedIn
			}
			if err := c.refreshSession(ctx, gen); err != nil {
				return nil, err
			}
		}
	}
	key := ""
	if r.idempotent {
		key = c.newKey()
	}
	refreshed := false
	for attempt := 0; ; attempt++ {
		r.attempts = attempt + 1
		gen, res, apiErr, err := c.send(ctx, r, key)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
			}
			if errors.Is(err, ErrTooLarge) || attempt >= c.retries || !(r.retryable() || dialFailed(err)) {
				return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
			}
			if werr := c.clock.Sleep(ctx, c.wait(attempt, 0)); werr != nil {
				return nil, fmt.Errorf("%s %s: %w", r.method, r.path, werr)
			}
			continue
		}
		if apiErr == nil {
			return res, nil
		}
		switch {
		case retryStatus(apiErr.Status) && r.retryable() && attempt < c.retries && apiErr.RetryAfter <= MaxRetryAfter:
			if werr := c.clock.Sleep(ctx, c.wait(attempt, apiErr.RetryAfter)); werr != nil {
				return nil, fmt.Errorf("%s %s: %w", r.method, r.path, werr)
			}
			continue
		case apiErr.Status == http.StatusUnauthorized && r.auth && !refreshed &&
			(apiErr.Code == renewal.CodeTokenExpired || apiErr.Code == renewal.CodeUnauthenticated):
			if _, _, hasRefresh := c.session(); !hasRefresh {
				return nil, apiErr
			}
			refreshed = true
			if err := c.refreshSession(ctx, gen); err != nil {
				return nil, err
			}
			attempt-- // the refresh is not a retry
			continue
		case apiErr.Status == http.StatusUnauthorized && r.auth && apiErr.Code == renewal.CodeTokenRevoked:
			// Signed out elsewhere, or the family was ended: no refresh can help.
			c.clearTokens()
			return nil, sessionEnded{apiErr}
		}
		return nil, apiErr
	}
}

func retryStatus(s int) bool {
	return s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout
}

// dialFailed reports an error from opening the connection: the request was
// never sent, so sending it again cannot repeat anything.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// wait is the backoff before retry attempt+1: full jitter up to
// min(maxWait, backoff·2^attempt), at least retryAfter.
func (c *Client) wait(attempt int, retryAfter time.Duration) time.Duration {
	ceil := c.maxWait
	if attempt < 20 && c.backoff<<attempt < ceil {
		ceil = c.backoff << attempt
	}
	d := c.jitter(ceil)
	if d < 0 || d > ceil {
		d = ceil
	}
	if d < retryAfter {
		d = retryAfter
	}
	return d
}

func randomJitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(max) + 1))
}

func randomKey() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// send makes one attempt. gen is the session generation whose access token
// was sent; apiErr is set for answers that are not 2xx/304.
func (c *Client) send(ctx context.Context, r *request, key string) (gen uint64, res *response, apiErr *APIError, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// r.path is already escaped (ids go through url.PathEscape).
	u := c.base.String() + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return 0, nil, nil, err
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	req.Header.Set("Accept", r.accept)
	req.Header.Set("Accept-Language", c.lang)
	req.Header.Set("User-Agent", c.userAgent)
	if key != "" {
		req.Header.Set(IdempotencyKeyHeader, key)
	}
	if r.ifMatch != "" {
		req.Header.Set("If-Match", r.ifMatch)
	}
	if r.ifNoneMatch != "" {
		req.Header.Set("If-None-Match", r.ifNoneMatch)
	}
	if r.auth {
		var access string
		c.mu.Lock()
		access, gen = c.access, c.gen
		c.mu.Unlock()
		if access != "" {
			req.Header.Set("Authorization", "Bearer "+access)
		}
	}
	hres, err := c.http.Do(req)
	if err != nil {
		return gen, nil, nil, err
	}
	defer hres.Body.Close()
	if hres.StatusCode == http.StatusNotModified {
		return gen, &response{status: hres.StatusCode, header: hres.Header}, nil, nil
	}
	if err := checkResponse(hres); err != nil {
		return gen, nil, err.(*APIError), nil
	}
	data, err := io.ReadAll(io.LimitReader(hres.Body, r.maxBody+1))
	if err != nil {
		return gen, nil, nil, fmt.Errorf("read answer: %w", err)
	}
	if int64(len(data)) > r.maxBody {
		return gen, nil, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, r.maxBody)
	}
	return gen, &response{status: hres.StatusCode, header: hres.Header, body: data}, nil, nil
}

// refreshSession trades the refresh token for a new pair, unless the
// session changed since generation seen (another call refreshed already).
// The refresh is never retried once sent: the service spends the token on
// first use, and a replay would end the session.
func (c *Client) refreshSession(ctx context.Context, seen uint64) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.Lock()
	rt, gen := c.refresh, c.gen
	c.mu.Unlock()
	if gen != seen {
		return nil
	}
	if rt == "" {
		return ErrNotSignedIn
	}
	var t renewal.Tokens
	if err := c.exchange(ctx, "/v1/auth/refresh", renewal.RefreshRequest{RefreshToken: rt}, &t); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			c.clearTokens()
			return sessionEnded{ae}
		}
		return err
	}
	c.setTokens(ctx, t)
	return nil
}

// exchange posts a sign-in or refresh body and decodes the tokens. It is
// retried only when the connection could not be opened.
func (c *Client) exchange(ctx context.Context, path string, body any, t *renewal.Tokens) error {
	r, err := c.newRequest(http.MethodPost, path, body)
	if err != nil {
		return err
	}
	r.auth = false
	if _, err := c.call(ctx, r, t); err != nil {
		return err
	}
	if t.AccessToken == "" || t.RefreshToken == "" {
		return fmt.Errorf("POST %s: answer without tokens", path)
	}
	return nil
}

// etagVersion reads the version from an ETag "vN" (0 when absent).
func etagVersion(h http.Header) int64 {
	v := strings.TrimPrefix(strings.Trim(strings.TrimPrefix(h.Get("ETag"), "W/"), `"`), "v")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// ETag is the entity tag of an application at version.
func ETag(version int64) string { return `"v` + strconv.FormatInt(version, 10) + `"` }
