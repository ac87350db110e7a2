package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// MaxProviderName bounds PaymentQRRequest.Provider (as the service does).
const MaxProviderName = renewal.MaxProviderName

// PaymentQRRequest asks for a QR code. POST /v1/applications/{id}/payment/qr.
type PaymentQRRequest = renewal.PaymentQRRequest

// Payment order states (one QR attempt).
const (
	OrderOpen      = renewal.OrderOpen
	OrderPaid      = renewal.OrderPaid
	OrderClosed    = renewal.OrderClosed
	OrderRefunding = renewal.OrderRefunding
	OrderRefunded  = renewal.OrderRefunded
)

// PaymentOrder is one QR attempt.
type PaymentOrder = renewal.PaymentOrder

// PaymentQR is the code to show, its expiry and the service's time.
type PaymentQR = renewal.PaymentQR

// PaymentRefund is one refund.
type PaymentRefund = renewal.PaymentRefund

// PaymentInfo is the payment state of an application and its latest QR
// attempt (renewal.PaymentStatus). Stale: the provider could not be asked;
// poll again.
type PaymentInfo = renewal.PaymentStatus

// PaymentQR returns the live QR code of application id, or a new attempt
// once the last one is over. The amount is the service's price.
// Retried with an Idempotency-Key: a retry gets the same live code.
func (c *Client) PaymentQR(ctx context.Context, id string, req PaymentQRRequest) (*PaymentQR, error) {
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
	var out PaymentQR
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Payment returns the payment state. GET /v1/applications/{id}/payment.
// The service asks the provider about an open order, so a payment whose
// notification was lost still shows.
func (c *Client) Payment(ctx context.Context, id string) (*PaymentInfo, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	r, err := c.newRequest(http.MethodGet, appPath(id, "/payment"), nil)
	if err != nil {
		return nil, err
	}
	var out PaymentInfo
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WatchState maps the service's answer p to the watcher's states: paid once
// the money arrived (even after the window: a last-second payment counts),
// pending while the latest order is open (or the answer is stale), expired
// when it closed unpaid, cancelled when the money goes back.
func WatchState(p *PaymentInfo) PaymentState {
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
	case OrderOpen:
		return PaymentPending
	case OrderPaid:
		return PaymentPaid
	case OrderRefunding, OrderRefunded:
		return PaymentCancelled
	}
	return PaymentExpired
}

// ErrNoPaymentOrder: the application has no QR attempt to watch.
var ErrNoPaymentOrder = errors.New("client: no payment order: ask for a qr code first")

// PaymentFetch is the PaymentWatcher's fetch function for application id.
func (c *Client) PaymentFetch(id string) FetchPaymentStatus {
	return func(ctx context.Context) (PaymentStatus, error) {
		p, err := c.Payment(ctx, id)
		if err != nil {
			return PaymentStatus{}, err
		}
		if p.Order == nil && p.State == renewal.PaymentUnpaid {
			return PaymentStatus{}, ErrNoPaymentOrder
		}
		st := PaymentStatus{State: WatchState(p), ServerTime: p.ServerTime}
		if p.Order != nil {
			st.ExpiresAt = p.Order.ExpiresAt
		}
		return st, nil
	}
}
