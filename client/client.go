package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Limits of the client. Every one has a number.
const (
	DefaultTimeout   = 30 * time.Second // one attempt of one call, body included
	MaxTimeout       = 10 * time.Minute
	DefaultUserAgent = "ukeyrenew-client/1"
	MaxUserAgent     = 200
	MaxErrorBody     = 64 << 10 // bytes of an error body read, the rest is dropped
	MaxJSONBody      = 8 << 20  // bytes of a JSON answer (100 applications are ~300 KiB)
	MaxDownload      = renewal.MaxDocumentBytes + 1<<10
	MaxRetries       = 3 // retries after the first attempt, default
	MaxRetriesLimit  = 10
	DefaultBackoff   = 200 * time.Millisecond
	DefaultMaxWait   = 5 * time.Second  // cap of one backoff wait
	MaxRetryAfter    = 30 * time.Second // a longer Retry-After is not waited for
	MaxCAPEM         = 1 << 20
	MaxBaseURL       = 2048
)

// Clock is the time the client reads and waits on; tests inject one that
// moves only when told.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SystemClock is the wall clock.
func SystemClock() Clock { return realClock{} }

// Client talks to one renewal service. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	http      *http.Client
	timeout   time.Duration
	userAgent string
	lang      string
	clock     Clock
	retries   int
	backoff   time.Duration
	maxWait   time.Duration
	jitter    func(max time.Duration) time.Duration
	onTokens  func(ctx context.Context, t renewal.Tokens)
	newKey    func() string

	mu      sync.Mutex // guards the session below
	access  string
	refresh string
	user    renewal.User
	last    renewal.Tokens // the last pair, for Refresh's answer
	gen     uint64         // bumped at every change of the access token

	refreshMu sync.Mutex // one refresh at a time
}

// Option configures a Client.
type Option func(*config) error

type config struct {
	httpClient *http.Client
	timeout    time.Duration
	userAgent  string
	caPEM      []byte
	lang       string
	clock      Clock
	retries    int
	backoff    time.Duration
	maxWait    time.Duration
	jitter     func(time.Duration) time.Duration
	refresh    string
	onTokens   func(context.Context, renewal.Tokens)
	newKey     func() string
}

// WithHTTPClient sends requests through hc (its Timeout is left alone; the
// client's own per-attempt timeout applies too).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("http client is nil")
		}
		c.httpClient = hc
		return nil
	}
}

// WithTimeout bounds each attempt of each call (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > MaxTimeout {
			return fmt.Errorf("timeout %v: want more than 0 and at most %v", d, MaxTimeout)
		}
		c.timeout = d
		return nil
	}
}

// WithUserAgent names the caller, e.g. "UKeyRenew/1.2 (windows)".
func WithUserAgent(ua string) Option {
	return func(c *config) error {
		if ua == "" || len(ua) > MaxUserAgent || strings.ContainsAny(ua, "\r\n") {
			return fmt.Errorf("user agent: want 1 to %d bytes on one line", MaxUserAgent)
		}
		c.userAgent = ua
		return nil
	}
}

// WithCA trusts only the CA certificates in pemCerts for the service's TLS
// certificate (a CA that runs its own PKI pins it here). It builds its own
// transport, so it cannot be combined with WithHTTPClient.
func WithCA(pemCerts []byte) Option {
	return func(c *config) error {
		if len(pemCerts) == 0 || len(pemCerts) > MaxCAPEM {
			return fmt.Errorf("pinned CA: want 1 byte to %d bytes of PEM", MaxCAPEM)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCerts) {
			return errors.New("pinned CA: no certificate in the PEM")
		}
		c.caPEM = pemCerts
		return nil
	}
}

// WithLanguage asks for error messages in "zh-CN" (the default) or "en".
func WithLanguage(lang string) Option {
	return func(c *config) error {
		switch strings.ToLower(lang) {
		case "zh-cn", "zh":
			c.lang = "zh-CN"
		case "en":
			c.lang = "en"
		default:
			return fmt.Errorf("language %q: want zh-CN or en", lang)
		}
		return nil
	}
}

// WithClock sets the clock (default the wall clock).
func WithClock(clk Clock) Option {
	return func(c *config) error {
		if clk == nil {
			return errors.New("clock is nil")
		}
		c.clock = clk
		return nil
	}
}

// WithRetry sets the number of retries (0 turns them off) and the backoff:
// the n-th wait is a random duration up to min(maxWait, backoff·2ⁿ).
func WithRetry(retries int, backoff, maxWait time.Duration) Option {
	return func(c *config) error {
		if retries < 0 || retries > MaxRetriesLimit {
			return fmt.Errorf("retries %d: want 0 to %d", retries, MaxRetriesLimit)
		}
		if backoff <= 0 || maxWait < backoff || maxWait > time.Minute {
			return fmt.Errorf("backoff %v up to %v: want 0 < backoff <= max wait <= 1m", backoff, maxWait)
		}
		c.retries, c.backoff, c.maxWait = retries, backoff, maxWait
		return nil
	}
}

// WithJitter replaces the random part of the backoff (tests make it
// deterministic); f returns a duration in [0, max].
func WithJitter(f func(max time.Duration) time.Duration) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("jitter is nil")
		}
		c.jitter = f
		return nil
	}
}

// WithRefreshToken resumes a saved session: the first call that needs a
// sign-in trades this refresh token for an access token.
func WithRefreshToken(rt string) Option {
	return func(c *config) error {
		r := renewal.RefreshRequest{RefreshToken: rt}
		if err := r.Validate(); err != nil {
			return fmt.Errorf("refresh token: %w", err)
		}
		c.refresh = rt
		return nil
	}
}

// WithTokenCallback is called with every new token pair (sign-in and each
// refresh), so the caller can save the new refresh token. The refresh token
// rotates: the old one no longer works once this is called.
func WithTokenCallback(f func(ctx context.Context, t renewal.Tokens)) Option {
	return func(c *config) error {
		c.onTokens = f
		return nil
	}
}

// WithIdempotencyKeys replaces the generator of Idempotency-Key values
// (default 128 random bits in hex).
func WithIdempotencyKeys(f func() string) Option {
	return func(c *config) error {
		if f == nil {
			return errors.New("idempotency key generator is nil")
		}
		c.newKey = f
		return nil
	}
}

// New makes a client of the service at baseURL (https; http only for a
// loopback host).
func New(baseURL string, opts ...Option) (*Client, error) {
	base, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	cfg := config{timeout: DefaultTimeout, userAgent: DefaultUserAgent, lang: "zh-CN", clock: realClock{},
		retries: MaxRetries, backoff: DefaultBackoff, maxWait: DefaultMaxWait, jitter: randomJitter, newKey: randomKey}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	hc := cfg.httpClient
	switch {
	case cfg.caPEM != nil && hc != nil:
		return nil, errors.New("client: WithCA and WithHTTPClient exclude each other")
	case cfg.caPEM != nil:
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(cfg.caPEM)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		hc = &http.Client{Transport: tr}
	case hc == nil:
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Client{base: base, http: hc, timeout: cfg.timeout, userAgent: cfg.userAgent, lang: cfg.lang,
		clock: cfg.clock, retries: cfg.retries, backoff: cfg.backoff, maxWait: cfg.maxWait, jitter: cfg.jitter,
		onTokens: cfg.onTokens, newKey: cfg.newKey, refresh: cfg.refresh}, nil
}

func parseBase(s string) (*url.URL, error) {
	if s == "" || len(s) > MaxBaseURL {
		return nil, fmt.Errorf("client: base URL: want 1 to %d bytes", MaxBaseURL)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q: want scheme://host[:port][/path] without user, query or fragment", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("client: base URL %q: plain http only to a loopback host; the service takes bearer tokens", s)
		}
	default:
		return nil, fmt.Errorf("client: base URL %q: scheme must be https", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// BaseURL returns the service's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// User returns who signed in (from the last token pair), if known.
func (c *Client) User() (renewal.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user, c.user.ID != ""
}

// SignedIn reports whether the client holds an access or refresh token.
func (c *Client) SignedIn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.access != "" || c.refresh != ""
}

// setTokens keeps a new pair in memory and hands it to the callback.
func (c *Client) setTokens(ctx context.Context, t renewal.Tokens) {
	c.mu.Lock()
	c.access, c.refresh, c.user, c.last = t.AccessToken, t.RefreshToken, t.User, t
	c.gen++
	c.mu.Unlock()
	if c.onTokens != nil {
		c.onTokens(ctx, t)
	}
}

func (c *Client) clearTokens() {
	c.mu.Lock()
	c.access, c.refresh, c.user, c.last = "", "", renewal.User{}, renewal.Tokens{}
	c.gen++
	c.mu.Unlock()
}

func (c *Client) session() (access string, gen uint64, hasRefresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.access, c.gen, c.refresh != ""
}
