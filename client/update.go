package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// ErrInstallerURL: an installer's address is neither https nor on the
// service's own origin; nothing is downloaded.
var ErrInstallerURL = errors.New("the installer's address is not https (nor the service's own address)")

// maxInstallerRedirects bounds the redirects of one installer download.
const maxInstallerRedirects = 5

// ClientUpdate asks whether a newer desktop client is available for the
// platform; the answer is checked as the service checks its
// configuration (loopback http accepted only from a loopback http service).
// GET /v1/client/update.
func (c *Client) ClientUpdate(ctx context.Context, req renewal.ClientUpdateRequest) (*renewal.ClientUpdate, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, "/v1/client/update", nil)
	if err != nil {
		return nil, err
	}
	r.auth = false
	r.query = url.Values{"platform": {string(req.Platform)}, "version": {req.Version}}
	var out renewal.ClientUpdate
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	if err := out.Validate(c.base.Scheme == "http"); err != nil {
		return nil, fmt.Errorf("GET /v1/client/update: the service announced a release a client cannot use: %w", err)
	}
	return &out, nil
}

// installerURLOK reports whether an installer may be fetched from u: over
// https, or from the service's own origin (which is https, or loopback
// http in development).
func (c *Client) installerURLOK(u *url.URL) bool {
	return u.User == nil && (u.Scheme == "https" || (u.Scheme == c.base.Scheme && u.Host == c.base.Host))
}

// DownloadInstaller streams the installer at rawURL into w, at most limit
// bytes (more is ErrTooLarge), and returns how many it wrote. It goes
// through the service's transport (the same TLS trust: a pinned CA too)
// without the per-call timeout: ctx's deadline bounds it. Redirects must
// keep to the same rule as rawURL (ErrInstallerURL); no session token is
// sent.
func (c *Client) DownloadInstaller(ctx context.Context, rawURL string, w io.Writer, limit int64) (int64, error) {
	u, err := url.Parse(rawURL)
	if err != nil || !c.installerURLOK(u) {
		return 0, fmt.Errorf("%w: %q", ErrInstallerURL, rawURL)
	}
	hc := *c.http
	hc.Timeout = 0
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxInstallerRedirects {
			return fmt.Errorf("more than %d redirects", maxInstallerRedirects)
		}
		if !c.installerURLOK(req.URL) {
			return fmt.Errorf("%w: redirected to %q", ErrInstallerURL, req.URL.Redacted())
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", c.userAgent)
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("download %s: %s", u.Redacted(), res.Status)
	}
	if res.ContentLength > limit {
		return 0, fmt.Errorf("%w: the installer has %d bytes, more than %d", ErrTooLarge, res.ContentLength, limit)
	}
	n, err := io.Copy(w, io.LimitReader(res.Body, limit+1))
	if err != nil {
		return n, fmt.Errorf("download %s: %w", u.Redacted(), err)
	}
	if n > limit {
		return n, fmt.Errorf("%w: the installer is longer than %d bytes", ErrTooLarge, limit)
	}
	return n, nil
}
