package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// MaxIDBytes bounds an application or document id (the service's limit).
const MaxIDBytes = 64

func checkID(field, id string) error {
	if id == "" {
		return renewal.Errorf(renewal.CodeRequired, field, "%s is required", field)
	}
	if len(id) > MaxIDBytes {
		return renewal.Errorf(renewal.CodeTooLong, field, "%s has at most %d bytes", field, MaxIDBytes)
	}
	return nil
}

func appPath(id string, suffix string) string {
	return "/v1/applications/" + url.PathEscape(id) + suffix
}

// Policy returns the CA's renewal policy. GET /v1/policy.
func (c *Client) Policy(ctx context.Context) (*renewal.Policy, error) {
	r, err := c.newRequest(http.MethodGet, "/v1/policy", nil)
	if err != nil {
		return nil, err
	}
	r.auth = false
	var out renewal.Policy
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Eligibility says whether and how a certificate may be renewed.
// GET /v1/certificates/{serial}/eligibility.
func (c *Client) Eligibility(ctx context.Context, req renewal.EligibilityRequest) (*renewal.Eligibility, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, "/v1/certificates/"+url.PathEscape(renewal.NormalizeSerial(req.Serial))+"/eligibility", nil)
	if err != nil {
		return nil, err
	}
	var out renewal.Eligibility
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListApplications returns one page. GET /v1/applications.
func (c *Client) ListApplications(ctx context.Context, req renewal.ListApplicationsRequest) (*renewal.ApplicationPage, error) {
	req.Status, req.Payment, req.FinVerify = append([]renewal.Status(nil), req.Status...),
		append([]renewal.Payment(nil), req.Payment...), append([]renewal.FinVerify(nil), req.FinVerify...)
	if err := req.Validate(); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, s := range req.Status {
		q.Add("status", string(s))
	}
	for _, p := range req.Payment {
		q.Add("payment", string(p))
	}
	for _, f := range req.FinVerify {
		q.Add("finverify", string(f))
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("cert_serial", req.CertSerial)
	set("organisation_id", req.OrganisationID)
	set("q", req.Query)
	set("page_token", req.PageToken)
	q.Set("page_size", strconv.Itoa(req.PageSize))
	r, err := c.newRequest(http.MethodGet, "/v1/applications", nil)
	if err != nil {
		return nil, err
	}
	r.query = q
	var out renewal.ApplicationPage
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ReviewQueueRequest pages the review queue.
type ReviewQueueRequest struct {
	PageSize  int
	PageToken string
}

// ReviewQueue lists applications waiting for review or on hold, oldest
// first (reviewers and admins). GET /v1/review/queue.
func (c *Client) ReviewQueue(ctx context.Context, req ReviewQueueRequest) (*renewal.ApplicationPage, error) {
	lr := renewal.ListApplicationsRequest{PageSize: req.PageSize, PageToken: req.PageToken}
	if err := lr.Validate(); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, "/v1/review/queue", nil)
	if err != nil {
		return nil, err
	}
	r.query = url.Values{"page_size": {strconv.Itoa(lr.PageSize)}}
	if lr.PageToken != "" {
		r.query.Set("page_token", lr.PageToken)
	}
	var out renewal.ApplicationPage
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateApplication starts a renewal. POST /v1/applications, with an
// Idempotency-Key, retried. Should a retry find the first attempt's
// application (the service answers conflict for a second one), the open
// application for the certificate is returned when this user created it.
func (c *Client) CreateApplication(ctx context.Context, req renewal.CreateApplicationRequest) (*renewal.Application, error) {
	if req.Form != nil {
		f := *req.Form
		req.Form = &f
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodPost, "/v1/applications", req)
	if err != nil {
		return nil, err
	}
	r.idempotent = true
	var out renewal.Application
	res, err := c.call(ctx, r, &out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == renewal.CodeConflict && r.attempts > 1 {
		return c.ownOpenApplication(ctx, req.CertSerial, err)
	}
	if err != nil {
		return nil, err
	}
	out.Version = max(out.Version, etagVersion(res.header))
	return &out, nil
}

// ownOpenApplication returns the open application for serial if the
// signed-in user created it (the answer to a create whose first attempt
// landed but whose answer was lost), else conflict, the original error.
func (c *Client) ownOpenApplication(ctx context.Context, serial string, conflict error) (*renewal.Application, error) {
	el, err := c.Eligibility(ctx, renewal.EligibilityRequest{Serial: serial})
	if err != nil || el.OpenApplicationID == "" {
		return nil, conflict
	}
	a, err := c.GetApplication(ctx, el.OpenApplicationID)
	if err != nil {
		return nil, conflict
	}
	u, ok := c.User()
	if !ok || a.CreatedBy != u.ID || a.Status != renewal.StatusEditing || a.Version != 1 {
		return nil, conflict
	}
	return a, nil
}

// GetApplication returns one application with the caller's actions.
// GET /v1/applications/{id}.
func (c *Client) GetApplication(ctx context.Context, id string) (*renewal.Application, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	return c.application(ctx, http.MethodGet, appPath(id, ""), nil, "")
}

// GetApplicationIfChanged returns the application if its version is no
// longer version, else ErrNotModified (a cheap poll: If-None-Match).
func (c *Client) GetApplicationIfChanged(ctx context.Context, id string, version int64) (*renewal.Application, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	return c.application(ctx, http.MethodGet, appPath(id, ""), nil, ETag(version))
}

func (c *Client) application(ctx context.Context, method, path string, body any, ifNoneMatch string) (*renewal.Application, error) {
	r, err := c.newRequest(method, path, body)
	if err != nil {
		return nil, err
	}
	r.ifNoneMatch = ifNoneMatch
	return c.decodeApplication(ctx, r)
}

func (c *Client) decodeApplication(ctx context.Context, r *request) (*renewal.Application, error) {
	var out renewal.Application
	res, err := c.call(ctx, r, &out)
	if err != nil {
		return nil, err
	}
	if res.status == http.StatusNotModified {
		return nil, ErrNotModified
	}
	if v := etagVersion(res.header); v != 0 && v != out.Version {
		return nil, fmt.Errorf("%s %s: ETag version %d differs from body version %d", r.method, r.path, v, out.Version)
	}
	return &out, nil
}

// UpdateApplication replaces the form at req.Version. PUT /v1/applications/{id}.
// A change made meanwhile answers stale_version and is not retried. When
// a retried PUT is refused as stale because its own first attempt landed
// (the answer was lost), the client recognises its edit at req.Version+1
// and returns it.
func (c *Client) UpdateApplication(ctx context.Context, id string, req renewal.UpdateApplicationRequest) (*renewal.Application, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodPut, appPath(id, ""), req)
	if err != nil {
		return nil, err
	}
	a, err := c.decodeApplication(ctx, r)
	if err != nil && r.attempts > 1 && renewal.CodeOf(err) == renewal.CodeStaleVersion {
		if now, gerr := c.GetApplication(ctx, id); gerr == nil && now.Version == req.Version+1 && now.Form == req.Form &&
			(now.Rekey || !req.Rekey) {
			return now, nil
		}
	}
	return a, err
}

// DeleteApplication deletes a draft at version (sent as If-Match).
// DELETE /v1/applications/{id}.
func (c *Client) DeleteApplication(ctx context.Context, id string, version int64) error {
	if err := checkID("id", id); err != nil {
		return err
	}
	vr := renewal.VersionRequest{Version: version}
	if err := vr.Validate(); err != nil {
		return err
	}
	r, err := c.newRequest(http.MethodDelete, appPath(id, ""), nil)
	if err != nil {
		return err
	}
	r.ifMatch = ETag(version)
	_, err = c.call(ctx, r, nil)
	return err
}

// action posts a state change whose answer is the application. A keyed
// one carries an Idempotency-Key and is retried: the service answers a
// retry with the first success, and were that forgotten, the version the
// change carries makes the retry a stale_version refusal, never a second
// change.
func (c *Client) action(ctx context.Context, id, suffix string, req interface{ Validate() error }, keyed bool) (*renewal.Application, *request, error) {
	if err := checkID("id", id); err != nil {
		return nil, nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, nil, err
	}
	r, err := c.newRequest(http.MethodPost, appPath(id, suffix), req)
	if err != nil {
		return nil, nil, err
	}
	r.idempotent = keyed
	a, err := c.decodeApplication(ctx, r)
	return a, r, err
}

// Submit sends the application for review. POST /v1/applications/{id}/submit.
func (c *Client) Submit(ctx context.Context, id string, req renewal.SubmitRequest) (*renewal.Application, error) {
	a, _, err := c.action(ctx, id, "/submit", &req, true)
	return a, err
}

// Cancel gives the application up (a paid one is refunded).
// POST /v1/applications/{id}/cancel.
func (c *Client) Cancel(ctx context.Context, id string, req renewal.VersionRequest) (*renewal.Application, error) {
	a, _, err := c.action(ctx, id, "/cancel", &req, true)
	return a, err
}

type reviewFor struct {
	r renewal.ReviewRequest
	a renewal.Action
}

func (v *reviewFor) Validate() error              { return v.r.ValidateFor(v.a) }
func (v *reviewFor) MarshalJSON() ([]byte, error) { return jsonOf(v.r) }

// Approve approves (reviewer, admin). POST /v1/applications/{id}/approve.
func (c *Client) Approve(ctx context.Context, id string, req renewal.ReviewRequest) (*renewal.Application, error) {
	a, _, err := c.action(ctx, id, "/approve", &reviewFor{req, renewal.ActionApprove}, true)
	return a, err
}

// Reject rejects with a reason (reviewer, admin). POST /v1/applications/{id}/reject.
func (c *Client) Reject(ctx context.Context, id string, req renewal.ReviewRequest) (*renewal.Application, error) {
	a, _, err := c.action(ctx, id, "/reject", &reviewFor{req, renewal.ActionReject}, true)
	return a, err
}

// Hold holds for a fraud check with a reason (reviewer, admin).
// POST /v1/applications/{id}/hold.
func (c *Client) Hold(ctx context.Context, id string, req renewal.ReviewRequest) (*renewal.Application, error) {
	a, _, err := c.action(ctx, id, "/hold", &reviewFor{req, renewal.ActionHold}, true)
	return a, err
}

// Release returns a held application to the queue (reviewer, admin).
// POST /v1/applications/{id}/release.
func (c *Client) Release(ctx context.Context, id string, req renewal.ReviewRequest) (*renewal.Application, error) {
	a, _, err := c.action(ctx, id, "/release", &reviewFor{req, renewal.ActionRelease}, true)
	return a, err
}
