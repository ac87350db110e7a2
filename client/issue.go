package client

import (
	"context"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// MaxChainPEM bounds the PEM chain answer.
const MaxChainPEM = 256 << 10

// Challenge asks for a nonce to prove possession of the key.
// POST /v1/applications/{id}/challenge, with an Idempotency-Key, retried
// (an extra unused challenge simply expires).
func (c *Client) Challenge(ctx context.Context, id string) (*renewal.Challenge, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodPost, appPath(id, "/challenge"), nil)
	if err != nil {
		return nil, err
	}
	r.idempotent = true
	var out renewal.Challenge
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Issue proves possession (same key) or sends a CSR (re-key) and returns
// the renewed certificate. POST /v1/applications/{id}/issue, with an
// Idempotency-Key, retried: the service answers a retry with the first
// issuance; were that forgotten, the retry is refused (the nonce is spent,
// or the certificate issued) and the client fetches what was issued.
func (c *Client) Issue(ctx context.Context, id string, req renewal.IssueRequest) (*renewal.Issuance, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodPost, appPath(id, "/issue"), req)
	if err != nil {
		return nil, err
	}
	r.idempotent = true
	var out renewal.Issuance
	if _, err := c.call(ctx, r, &out); err != nil {
		if r.attempts > 1 {
			if is, gerr := c.Certificate(ctx, id); gerr == nil {
				return is, nil
			}
		}
		return nil, err
	}
	return &out, nil
}

// Certificate returns the issued certificate and chain (again, after a
// crash). GET /v1/applications/{id}/certificate.
func (c *Client) Certificate(ctx context.Context, id string) (*renewal.Issuance, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/certificate"), nil)
	if err != nil {
		return nil, err
	}
	var out renewal.Issuance
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ChainPEM returns the issued certificate followed by its chain, PEM.
// GET /v1/applications/{id}/certificate/chain.pem.
func (c *Client) ChainPEM(ctx context.Context, id string) ([]byte, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/certificate/chain.pem"), nil)
	if err != nil {
		return nil, err
	}
	r.accept, r.maxBody = "application/x-pem-file", MaxChainPEM
	res, err := c.call(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	return res.body, nil
}

// ConfirmInstalled tells the service the certificate is on the token and
// was read back. POST /v1/applications/{id}/installed, with an
// Idempotency-Key, retried; a retry the service no longer remembers is
// refused as stale, and the client then returns the application if it is
// installed.
func (c *Client) ConfirmInstalled(ctx context.Context, id string, req renewal.ConfirmInstalledRequest) (*renewal.Application, error) {
	a, r, err := c.action(ctx, id, "/installed", &req, true)
	if err != nil && r != nil && r.attempts > 1 && renewal.CodeOf(err) == renewal.CodeStaleVersion {
		if now, gerr := c.GetApplication(ctx, id); gerr == nil && now.Status == renewal.StatusInstalled {
			return now, nil
		}
	}
	return a, err
}
