package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// SendSMSCode asks for a sign-in code. POST /v1/auth/sms-code. It is not
// retried: a second code would be refused as too soon (sms_too_soon, with
// RetryAfter set on the *APIError).
func (c *Client) SendSMSCode(ctx context.Context, req renewal.SMSCodeRequest) (*renewal.SMSCodeSent, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	req.Mobile = renewal.NormalizeMobile(req.Mobile)
	r, err := c.newRequest(http.MethodPost, "/v1/auth/sms-code", req)
	if err != nil {
		return nil, err
	}
	r.auth = false
	var out renewal.SMSCodeSent
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LoginSMS signs in with a mobile and SMS code. POST /v1/auth/sms-login.
// The client keeps the tokens (and calls the token callback).
func (c *Client) LoginSMS(ctx context.Context, req renewal.SMSLoginRequest) (*renewal.Tokens, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	req.Mobile = renewal.NormalizeMobile(req.Mobile)
	return c.signIn(ctx, "/v1/auth/sms-login", req)
}

// Login signs in with an account and password. POST /v1/auth/login.
func (c *Client) Login(ctx context.Context, req renewal.PasswordLoginRequest) (*renewal.Tokens, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return c.signIn(ctx, "/v1/auth/login", req)
}

func (c *Client) signIn(ctx context.Context, path string, body any) (*renewal.Tokens, error) {
	var t renewal.Tokens
	if err := c.exchange(ctx, path, body, &t); err != nil {
		return nil, err
	}
	c.setTokens(ctx, t)
	return &t, nil
}

// Refresh trades the refresh token for a new pair now. POST /v1/auth/refresh.
// Calls refresh by themselves when needed; this is for a caller that wants
// to check a resumed session at start.
func (c *Client) Refresh(ctx context.Context) (*renewal.Tokens, error) {
	_, gen, _ := c.session()
	if err := c.refreshSession(ctx, gen); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.last
	return &t, nil
}

// Logout ends the session at the service and forgets the tokens.
// POST /v1/auth/logout. The tokens are forgotten even when the service
// cannot be reached (the refresh token then simply expires there).
func (c *Client) Logout(ctx context.Context) error {
	defer c.clearTokens()
	r, err := c.newRequest(http.MethodPost, "/v1/auth/logout", nil)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, r, nil)
	if errors.Is(err, ErrNotSignedIn) || errors.Is(err, ErrSessionEnded) {
		return nil
	}
	return err
}

// Me returns who is signed in. GET /v1/me.
func (c *Client) Me(ctx context.Context) (*renewal.User, error) {
	r, err := c.newRequest(http.MethodGet, "/v1/me", nil)
	if err != nil {
		return nil, err
	}
	var out renewal.User
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
