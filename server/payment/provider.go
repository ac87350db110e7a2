package payment

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Provider is a QR payment provider (WeChat Pay Native; the simulator stands
// in for it in dev and tests). Every method talks to the provider once; the
// rules (the 300 s window, exactly-once application, refund policy) live in
// Payments.
type Provider interface {
	// Name is stored with each order ("wechat").
	Name() string
	// CreateQR creates an order payable until req.ExpiresAt and returns the
	// code_url to show as a QR code.
	CreateQR(ctx context.Context, req QRRequest) (codeURL string, err error)
	// Query reads an order by out_trade_no (ErrOrderNotFound if the provider
	// never saw it).
	Query(ctx context.Context, outTradeNo string) (Transaction, error)
	// Close closes an unpaid order; ErrOrderPaid if it was paid meanwhile.
	Close(ctx context.Context, outTradeNo string) error
	// Refund asks for a refund (idempotent on OutRefundNo).
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)
	// QueryRefund reads the refund out_refund_no of order out_trade_no.
	QueryRefund(ctx context.Context, outTradeNo, outRefundNo string) (RefundResult, error)
	// ParseNotification verifies (signature, timestamp against now, merchant)
	// and decrypts a payment or refund notification. Its errors wrap
	// ErrBadSignature, ErrTimestampSkew, ErrWrongMerchant or ErrBadNotification.
	ParseNotification(ctx context.Context, r *http.Request, now time.Time) (Notification, error)
	// Acknowledge writes the answer to a notification the way the provider
	// expects it: status is 204 when it was applied (or was a replay), else
	// the 4xx/5xx that says why it was not; err is that reason.
	Acknowledge(w http.ResponseWriter, status int, err error)
}

// QRRequest is one QR attempt as sent to the provider.
type QRRequest struct {
	OutTradeNo  string
	Description string
	AmountFen   int64
	ExpiresAt   time.Time
	NotifyURL   string
	Attach      string // echoed back in notifications: the application ID
}

// Trade states (WeChat's names).
const (
	TradeNotPay  = "NOTPAY"
	TradeSuccess = "SUCCESS"
	TradeClosed  = "CLOSED"
	TradeRefund  = "REFUND" // paid, then (partly) refunded
)

// Transaction is the provider's view of an order.
type Transaction struct {
	MchID, AppID  string
	OutTradeNo    string
	TransactionID string
	TradeState    string
	TotalFen      int64
	Currency      string
	SuccessTime   time.Time
}

// Paid reports whether money was taken for the order.
func (t Transaction) Paid() bool { return t.TradeState == TradeSuccess || t.TradeState == TradeRefund }

// RefundRequest asks for the refund of a whole order.
type RefundRequest struct {
	OutTradeNo  string
	OutRefundNo string
	RefundFen   int64
	TotalFen    int64
	Reason      string
	NotifyURL   string
}

// Refund states (WeChat's names).
const (
	RefundProcessing = "PROCESSING"
	RefundSuccess    = "SUCCESS"
	RefundClosed     = "CLOSED"
	RefundAbnormal   = "ABNORMAL"
)

// RefundResult is the provider's view of a refund.
type RefundResult struct {
	MchID       string
	OutTradeNo  string
	OutRefundNo string
	RefundID    string
	Status      string
	RefundFen   int64
	TotalFen    int64
	SuccessTime time.Time
}

// Notification is a verified, decrypted notification: exactly one of
// Transaction and Refund is set.
type Notification struct {
	ID          string
	EventType   string // TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED
	Transaction *Transaction
	Refund      *RefundResult
}

// Errors. Each is wrapped with detail; test with errors.Is.
var (
	ErrOrderNotFound   = errors.New("order not found at the provider")
	ErrOrderPaid       = errors.New("order already paid")
	ErrRejected        = errors.New("request rejected by the provider")
	ErrBadSignature    = errors.New("notification signature invalid")
	ErrTimestampSkew   = errors.New("notification timestamp too far from now")
	ErrWrongMerchant   = errors.New("notification for another merchant or app")
	ErrBadNotification = errors.New("notification malformed")
	ErrUnknownOrder    = errors.New("unknown order")
	ErrAmountMismatch  = errors.New("amount differs from the order")
	ErrNotSuccess      = errors.New("trade state is not success")
	ErrNoPrice         = errors.New("no price for this renewal")
	ErrAlreadyPaid     = errors.New("application already paid")
	ErrNotPaid         = errors.New("application not paid")
	ErrIssued          = errors.New("certificate already issued: no refund")
	ErrCancelWindow    = errors.New("cancel window has passed")
	ErrForbidden       = errors.New("role may not do this")
	ErrInvalid         = errors.New("invalid request")
	ErrNotFound        = errors.New("no payment for this application")
	ErrBusy            = errors.New("another request is creating this QR code; retry in a moment")
)
