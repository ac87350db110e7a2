package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// PaymentQR returns the live QR code of application id, or a new attempt
// once the last one is over. The amount is the service's price.
// Retried with an Idempotency-Key: a retry gets the same live code.
func (c *Client) PaymentQR(ctx context.Context, id string, req renewal.PaymentQRRequest) (*renewal.PaymentQR, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodPost, appPath(id, "/payment/qr"), req)
	if err != nil {
		return nil, err
	}
	r.idempotent = true
	var out renewal.PaymentQR
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Payment returns the payment state. GET /v1/applications/{id}/payment.
// The service asks the provider about an open order, so a payment whose
// notification was lost still shows.
func (c *Client) Payment(ctx context.Context, id string) (*renewal.PaymentStatus, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/payment"), nil)
	if err != nil {
		return nil, err
	}
	var out renewal.PaymentStatus
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WatchState maps the service's answer p to the watcher's states: paid once
// the money arrived (even after the window: a last-second payment counts),
// pending while the latest order is open (or the answer is stale), expired
// when it closed unpaid, cancelled when the money goes back.
func WatchState(p *renewal.PaymentStatus) PaymentState {
	switch p.State {
	case renewal.PaymentPaid:
		return PaymentPaid
	case renewal.PaymentRefunding, renewal.PaymentRefunded:
		return PaymentCancelled
	}
	if p.Stale || p.Order == nil {
		return PaymentPending
	}
	switch p.Order.State {
	case renewal.OrderOpen:
		return PaymentPending
	case renewal.OrderPaid:
		return PaymentPaid
	case renewal.OrderRefunding, renewal.OrderRefunded:
		return PaymentCancelled
	}
	return PaymentExpired
}

// ErrNoPaymentOrder: the application has no QR attempt to watch.
var ErrNoPaymentOrder = errors.New("client: no payment order: ask for a qr code first")

// PaymentFetch is the PaymentWatcher's fetch function for application id.
func (c *Client) PaymentFetch(id string) FetchPaymentPoll {
	return func(ctx context.Context) (PaymentPoll, error) {
		p, err := c.Payment(ctx, id)
		if err != nil {
			return PaymentPoll{}, err
		}
		if p.Order == nil && p.State == renewal.PaymentUnpaid {
			return PaymentPoll{}, ErrNoPaymentOrder
		}
		st := PaymentPoll{State: WatchState(p), ServerTime: p.ServerTime}
		if p.Order != nil {
			st.ExpiresAt = p.Order.ExpiresAt
		}
		return st, nil
	}
}
