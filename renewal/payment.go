package renewal

import (
	"strings"
	"time"
)

// Payment wire types: the payment routes under
// /v1/applications/{id}/payment, shared by the service and the client.

// Limits of the payment requests.
const (
	// MaxProviderName bounds PaymentQRRequest.Provider.
	MaxProviderName = 16
	// MaxRefundReasonRunes is WeChat Pay's limit on a refund's reason,
	// which it shows to the payer.
	MaxRefundReasonRunes = 80
)

// Payment order states: one QR attempt.
const (
	OrderOpen      = "open"
	OrderPaid      = "paid"
	OrderClosed    = "closed"
	OrderRefunding = "refunding"
	OrderRefunded  = "refunded"
)

// PaymentQRRequest asks for a QR code. POST /v1/applications/{id}/payment/qr.
type PaymentQRRequest struct {
	// Provider is "" (the service's default, WeChat Pay) or a configured
	// provider's lower-case name ("wechat", "alipay").
	Provider string `json:"provider,omitempty"`
}

// Validate checks the request's shape; whether the provider is configured
// is the service's answer.
func (r *PaymentQRRequest) Validate() error {
	if len(r.Provider) > MaxProviderName || strings.ContainsFunc(r.Provider, func(c rune) bool { return c < 'a' || c > 'z' }) {
		return Errorf(CodeInvalidField, "provider", "provider is a lower-case name of at most %d letters", MaxProviderName)
	}
	return nil
}

// PaymentOrder is one QR attempt as the client sees it.
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

// PaymentQR answers POST .../payment/qr: the code to show, its exact
// expiry and the server's time (the client counts down from the difference,
// not from its own clock).
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

// PaymentStatus answers GET .../payment. Stale means the provider could not
// be asked: poll again.
type PaymentStatus struct {
	State      Payment         `json:"state"`
	Stale      bool            `json:"stale"`
	Order      *PaymentOrder   `json:"order,omitempty"`
	Refunds    []PaymentRefund `json:"refunds"`
	ServerTime time.Time       `json:"server_time"`
}

// RefundRequest is staff's refund of money that arrived after a cancel.
// POST /v1/applications/{id}/payment/refund.
type RefundRequest struct {
	Reason string `json:"reason"`
}

// Validate checks the reason, one line (WeChat shows it to the payer),
// normalising it in place.
func (r *RefundRequest) Validate() error {
	r.Reason = NormalizeLine(r.Reason)
	if r.Reason == "" {
		return NewError(CodeReasonRequired, "reason")
	}
	return withField(ValidateName(r.Reason, MaxRefundReasonRunes), "reason")
}
