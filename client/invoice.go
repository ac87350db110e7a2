package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// MaxInvoicePDF bounds a downloaded invoice PDF.
const MaxInvoicePDF = 4 << 20

// RequestInvoice asks for the e-invoice (VAT ordinary invoice) of a paid
// application; empty fields of req take the application's invoice fields.
// POST /v1/applications/{id}/invoice. The fields are checked here first
// (the same validators as the service). Retried with an Idempotency-Key:
// a retry gets the first answer, never a second invoice. The answer's state
// is issued (with the link) or failed (with the reason; ask again).
func (c *Client) RequestInvoice(ctx context.Context, id string, req renewal.InvoiceRequest) (*renewal.InvoiceStatus, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodPost, appPath(id, "/invoice"), req)
	if err != nil {
		return nil, err
	}
	r.idempotent = true
	var out renewal.InvoiceStatus
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Invoice returns the invoice's state and, once issued, a fresh link.
// GET /v1/applications/{id}/invoice (not_found: none was requested).
func (c *Client) Invoice(ctx context.Context, id string) (*renewal.InvoiceStatus, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/invoice"), nil)
	if err != nil {
		return nil, err
	}
	var out renewal.InvoiceStatus
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ErrForeignLink: an invoice link that does not point at this client's
// service is not fetched.
var ErrForeignLink = errors.New("client: the invoice link is not on this service")

// InvoicePDF downloads the PDF through its link (InvoiceStatus.URL), as a
// browser would: without the session, the link's token is the authority.
// An expired link answers CodeLinkExpired: ask Invoice for a fresh one.
func (c *Client) InvoicePDF(ctx context.Context, link string) ([]byte, error) {
	u, err := url.Parse(link)
	if err != nil || u.Scheme != c.base.Scheme || u.Host != c.base.Host {
		return nil, ErrForeignLink
	}
	rest, ok := strings.CutPrefix(u.EscapedPath(), strings.TrimSuffix(c.base.EscapedPath(), "/")+"/v1/applications/")
	id, tail, _ := strings.Cut(rest, "/")
	if !ok || tail != "invoice.pdf" {
		return nil, ErrForeignLink
	}
	if id, err = url.PathUnescape(id); err != nil {
		return nil, ErrForeignLink
	}
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/invoice.pdf"), nil)
	if err != nil {
		return nil, err
	}
	r.auth, r.accept, r.maxBody = false, renewal.ContentPDF, MaxInvoicePDF
	r.query = url.Values{"token": {u.Query().Get("token")}}
	res, err := c.call(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	if ct := res.header.Get("Content-Type"); ct != renewal.ContentPDF {
		return nil, fmt.Errorf("GET %s: unexpected content type %q", r.path, ct)
	}
	return res.body, nil
}
