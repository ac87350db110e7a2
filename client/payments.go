package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// MaxProviderName bounds PaymentQRRequest.Provider (as the service does).
const MaxProviderName = 16

// PaymentQRRequest asks for a QR code. POST /v1/applications/{id}/payment/qr.
type PaymentQRRequest struct {
	// Provider is "" (the service's default, WeChat Pay) or a configured
	// provider's lower-case name ("wechat", "alipay").
	Provider string `json:"provider,omitempty"`
}

// Validate checks the request's shape.
func (r *PaymentQRRequest) Validate() error {
	if len(r.Provider) > MaxProviderName || strings.ContainsFunc(r.Provider, func(c rune) bool { return c < 'a' || c > 'z' }) {
		return renewal.Errorf(renewal.CodeInvalidField, "provider", "provider is a lower-case name of at most %d letters", MaxProviderName)
	}
	return nil
}

// Payment order states (one QR attempt).
const (
	OrderOpen      = "open"
	OrderPaid      = "paid"
	OrderClosed    = "closed"
	OrderRefunding = "refunding"
	OrderRefunded  = "refunded"
)

// PaymentOrder is one QR attempt.
type PaymentOrder struct {
	OutTradeNo string     `json:"out_trade_no"`
	Provider   string     `json:"provider"`
	AmountFen  int64      `json:"amount_fen"`
	CodeURL    string     `json:"code_url,omitempty"` // only while open
	State      string     `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	PaidAt     *time.Time `json:"paid_at,omitempty"`
}

// PaymentQR is the code to show, its expiry and the service's time.
type PaymentQR struct {
	Order      PaymentOrder `json:"order"`
	ServerTime time.Time    `json:"server_time"`
}

// PaymentRefund is one refund.
type PaymentRefund struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
	AmountFen   int64  `json:"amount_fen"`
	State       string `json:"state"`
}

// PaymentInfo is the payment state of an application and its latest QR
// attempt. Stale: the provider could not be asked; poll again.
type PaymentInfo struct {
	State      renewal.Payment `json:"state"`
	Stale      bool            `json:"stale"`
	Order      *PaymentOrder   `json:"order,omitempty"`
	Refunds    []PaymentRefund `json:"refunds"`
	ServerTime time.Time       `json:"server_time"`
}

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

// WatchState maps the service's answer to the watcher's states: paid once
// the money arrived (even after the window: a last-second payment counts),
// pending while the latest order is open (or the answer is stale), expired
// when it closed unpaid, cancelled when the money goes back.
func (p *PaymentInfo) WatchState() PaymentState {
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
		st := PaymentStatus{State: p.WatchState(), ServerTime: p.ServerTime}
		if p.Order != nil {
			st.ExpiresAt = p.Order.ExpiresAt
		}
		return st, nil
	}
}
