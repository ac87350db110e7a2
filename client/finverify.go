package client

import (
	"context"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// FinVerifyResult is the transfer check after a start or a bank
// correction, with the application's new version (from the ETag).
type FinVerifyResult struct {
	renewal.FinVerifyStatus
	Version int64
}

// FinVerifyStatus returns the state of the bank transfer check.
// GET /v1/applications/{id}/finverify.
func (c *Client) FinVerifyStatus(ctx context.Context, id string) (*renewal.FinVerifyStatus, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/finverify"), nil)
	if err != nil {
		return nil, err
	}
	var out renewal.FinVerifyStatus
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StartFinVerify has the CA send the 0.01 CNY transfer.
// POST /v1/applications/{id}/finverify/start, with an Idempotency-Key,
// retried (the service answers a retry with the first transfer's status;
// were that forgotten, the version makes it stale_version).
func (c *Client) StartFinVerify(ctx context.Context, id string, req renewal.VersionRequest) (*FinVerifyResult, error) {
	return c.transfer(ctx, id, "/finverify/start", &req)
}

// CorrectBank replaces the bank account after a failed check and sends a
// new transfer. POST /v1/applications/{id}/finverify/bank.
func (c *Client) CorrectBank(ctx context.Context, id string, req renewal.CorrectBankRequest) (*FinVerifyResult, error) {
	return c.transfer(ctx, id, "/finverify/bank", &req)
}

func (c *Client) transfer(ctx context.Context, id, suffix string, req interface{ Validate() error }) (*FinVerifyResult, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodPost, appPath(id, suffix), req)
	if err != nil {
		return nil, err
	}
	r.idempotent = true
	var out FinVerifyResult
	res, err := c.call(ctx, r, &out.FinVerifyStatus)
	if err != nil {
		return nil, err
	}
	out.Version = etagVersion(res.header)
	return &out, nil
}

// SubmitFinVerifyCode enters the code from the transfer's remark.
// POST /v1/applications/{id}/finverify/code. Never retried: each wrong
// code spends a try, and the service forgets failures.
func (c *Client) SubmitFinVerifyCode(ctx context.Context, id string, req renewal.FinVerifyCodeRequest) (*renewal.Application, error) {
	a, _, err := c.action(ctx, id, "/finverify/code", &req, false)
	return a, err
}
