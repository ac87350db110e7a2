package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// MaxAuditExport bounds an audit export answer.
const MaxAuditExport = 256 << 20

// AuditVerify checks the audit hash chain (admin). GET /v1/audit/verify.
func (c *Client) AuditVerify(ctx context.Context) (*renewal.AuditVerification, error) {
	r, err := c.newRequest(http.MethodGet, "/v1/audit/verify", nil)
	if err != nil {
		return nil, err
	}
	var out renewal.AuditVerification
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AuditExportCSV returns the audit log as CSV (admin).
// GET /v1/audit/export?format=csv.
func (c *Client) AuditExportCSV(ctx context.Context) ([]byte, error) {
	r, err := c.newRequest(http.MethodGet, "/v1/audit/export", nil)
	if err != nil {
		return nil, err
	}
	r.query, r.accept, r.maxBody = url.Values{"format": {"csv"}}, "text/csv", MaxAuditExport
	res, err := c.call(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	return res.body, nil
}

// AuditExport returns the audit log's entries (admin).
// GET /v1/audit/export?format=json.
func (c *Client) AuditExport(ctx context.Context) ([]renewal.AuditEntry, error) {
	r, err := c.newRequest(http.MethodGet, "/v1/audit/export", nil)
	if err != nil {
		return nil, err
	}
	r.query, r.maxBody = url.Values{"format": {"json"}}, MaxAuditExport
	var out []renewal.AuditEntry
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return out, nil
}
