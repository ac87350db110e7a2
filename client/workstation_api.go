package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/renewal/counter"
)

// ChallengeSigner signs a counter challenge: *workstation.Key does, in
// the TPM.
type ChallengeSigner interface {
	SignChallenge(ctx context.Context, c counter.Challenge) ([]byte, error)
}

// EnrolWorkstation enrols a workstation's public key (PEM, ECDSA P-256)
// under name (admin). POST /v1/workstations. The key is checked here
// first, so a wrong one never leaves the machine.
func (c *Client) EnrolWorkstation(ctx context.Context, name string, publicKeyPEM []byte) (*renewal.Workstation, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > renewal.MaxWorkstationName {
		return nil, fmt.Errorf("client: workstation name must be 1 to %d characters", renewal.MaxWorkstationName)
	}
	if _, err := counter.ParsePublicKey(publicKeyPEM); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	r, err := c.newRequest(http.MethodPost, "/v1/workstations", map[string]string{"name": name, "public_key": string(publicKeyPEM)})
	if err != nil {
		return nil, err
	}
	var out renewal.Workstation
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Workstations lists the enrolled workstations, revoked ones included
// (admin). GET /v1/workstations.
func (c *Client) Workstations(ctx context.Context) ([]renewal.Workstation, error) {
	r, err := c.newRequest(http.MethodGet, "/v1/workstations", nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Workstations []renewal.Workstation `json:"workstations"`
	}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return out.Workstations, nil
}

// RevokeWorkstation revokes a workstation and ends its counter sessions
// (admin). DELETE /v1/workstations/{id}.
func (c *Client) RevokeWorkstation(ctx context.Context, id string) error {
	if err := checkID("id", id); err != nil {
		return err
	}
	r, err := c.newRequest(http.MethodDelete, "/v1/workstations/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, r, nil)
	return err
}

// CounterChallenge asks for a single-use challenge to sign.
// POST /v1/counter/challenge (no sign-in).
func (c *Client) CounterChallenge(ctx context.Context) (counter.Challenge, error) {
	r, err := c.newRequest(http.MethodPost, "/v1/counter/challenge", nil)
	if err != nil {
		return counter.Challenge{}, err
	}
	r.auth = false
	var out renewal.CounterChallenge
	if _, err := c.call(ctx, r, &out); err != nil {
		return counter.Challenge{}, err
	}
	ch := counter.Challenge{Origin: out.Origin}
	n, err := hex.DecodeString(out.Nonce)
	if err != nil || len(n) != counter.NonceSize {
		return counter.Challenge{}, errors.New("client: the service sent a malformed counter nonce")
	}
	copy(ch.Nonce[:], n)
	if err := ch.Validate(); err != nil {
		return counter.Challenge{}, fmt.Errorf("client: %w", err)
	}
	return ch, nil
}

// CounterSession proves the workstation holds key: it asks for a
// challenge, has it signed and trades the signature for a counter
// session. POST /v1/counter/challenge, then POST /v1/counter/session.
// fingerprint is counter.Fingerprint of the key's public half.
func (c *Client) CounterSession(ctx context.Context, fingerprint string, key ChallengeSigner) (*renewal.CounterTokens, error) {
	ch, err := c.CounterChallenge(ctx)
	if err != nil {
		return nil, err
	}
	sig, err := key.SignChallenge(ctx, ch)
	if err != nil {
		return nil, fmt.Errorf("client: sign counter challenge: %w", err)
	}
	return c.SubmitCounterSignature(ctx, fingerprint, ch, sig)
}

// SubmitCounterSignature trades a signed challenge for a counter session.
// POST /v1/counter/session. It is not retried: the nonce is spent.
func (c *Client) SubmitCounterSignature(ctx context.Context, fingerprint string, ch counter.Challenge, sig []byte) (*renewal.CounterTokens, error) {
	r, err := c.newRequest(http.MethodPost, "/v1/counter/session", map[string]string{
		"fingerprint": fingerprint, "nonce": hex.EncodeToString(ch.Nonce[:]), "signature": hex.EncodeToString(sig)})
	if err != nil {
		return nil, err
	}
	r.auth = false
	var out renewal.CounterTokens
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LoginSMSAtCounter signs a clerk in at a counter: counter is the counter
// session, req the clerk's mobile and the SMS code sent to it (ask for it
// with SendSMSCode). POST /v1/counter/sms-login. The client keeps the
// clerk's tokens as its session, as LoginSMS does; the service ends that
// session when the workstation is revoked. It is sent once, never retried.
func (c *Client) LoginSMSAtCounter(ctx context.Context, desk *renewal.CounterTokens, req renewal.SMSLoginRequest) (*renewal.Tokens, error) {
	if desk == nil || desk.AccessToken == "" || len(desk.AccessToken) > renewal.MaxTokenBytes {
		return nil, errors.New("client: no counter session")
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	req.Mobile = renewal.NormalizeMobile(req.Mobile)
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+"/v1/counter/sms-login", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("Accept-Language", c.lang)
	hr.Header.Set("User-Agent", c.userAgent)
	hr.Header.Set("Authorization", "Bearer "+desk.AccessToken)
	res, err := c.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("POST /v1/counter/sms-login: %w", err)
	}
	defer res.Body.Close()
	if err := checkResponse(res); err != nil {
		return nil, err
	}
	var t renewal.Tokens
	if err := json.NewDecoder(io.LimitReader(res.Body, MaxJSONBody)).Decode(&t); err != nil {
		return nil, fmt.Errorf("POST /v1/counter/sms-login: decode: %w", err)
	}
	if t.AccessToken == "" || t.RefreshToken == "" {
		return nil, errors.New("POST /v1/counter/sms-login: answer without tokens")
	}
	c.setTokens(ctx, t)
	return &t, nil
}

// RefreshCounter trades the counter session's refresh token (single use)
// for a new pair. POST /v1/counter/refresh. It is not retried: the token
// is spent by the first answer.
func (c *Client) RefreshCounter(ctx context.Context, desk *renewal.CounterTokens) (*renewal.CounterTokens, error) {
	if desk == nil || desk.RefreshToken == "" || len(desk.RefreshToken) > renewal.MaxTokenBytes {
		return nil, errors.New("client: no counter session")
	}
	r, err := c.newRequest(http.MethodPost, "/v1/counter/refresh", renewal.RefreshRequest{RefreshToken: desk.RefreshToken})
	if err != nil {
		return nil, err
	}
	r.auth, r.noRetry = false, true
	var out renewal.CounterTokens
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
