package payment

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/core/downloader"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// Limits of the WeChat provider.
const (
	ProductionEndpoint   = consts.WechatPayAPIServer // https://api.mch.weixin.qq.com
	MaxNotificationBytes = 64 << 10                  // WeChat's notifications are ~1-2 KiB
	NotificationSkew     = 5 * time.Minute           // WeChat's own limit for signed timestamps
	DefaultHTTPTimeout   = 10 * time.Second
	apiV3KeyBytes        = 32
)

// WeChatConfig configures the WeChat Pay API v3 Native provider for one
// direct merchant. Set PublicKeyID and PublicKey for the "WeChat Pay public
// key" mode; leave them empty for the platform certificate mode, in which the
// certificates are downloaded (and decrypted with the APIv3 key) by the SDK's
// downloader at NewWeChat and on RefreshCertificates.
type WeChatConfig struct {
	MchID              string
	AppID              string
	MerchantCertSerial string
	MerchantKey        *rsa.PrivateKey
	APIv3Key           string // 32 bytes; a secret: never logged
	PublicKeyID        string
	PublicKey          *rsa.PublicKey
	// Endpoint is where requests go: "" for ProductionEndpoint, the
	// simulator's URL in dev and tests.
	Endpoint string
	// HTTPClient carries the requests (its Transport is wrapped to reach
	// Endpoint); default: a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
}

// WeChat is the WeChat Pay API v3 Native provider on the official SDK.
type WeChat struct {
	cfg      WeChatConfig
	client   *core.Client
	verifier auth.Verifier
	certs    *downloader.CertificateDownloader // certificate mode only
	native   native.NativeApiService
	refunds  refunddomestic.RefundsApiService
}

// endpointTransport rewrites scheme and host of the SDK's requests (which
// always name api.mch.weixin.qq.com) to the configured endpoint: wechatpay-go
// has no base-URL option. The signed canonical URL (path and query) is
// unchanged, so the signature stays valid.
type endpointTransport struct {
	base *url.URL
	next http.RoundTripper
}

func (t endpointTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, t.base.Host
	return t.next.RoundTrip(r)
}

// NewWeChat checks the configuration and, in certificate mode, downloads the
// platform certificates.
func NewWeChat(ctx context.Context, cfg WeChatConfig) (*WeChat, error) {
	switch {
	case cfg.MchID == "" || cfg.AppID == "":
		return nil, fmt.Errorf("wechat pay: mchid and appid are required: %w", ErrInvalid)
	case cfg.MerchantCertSerial == "" || cfg.MerchantKey == nil:
		return nil, fmt.Errorf("wechat pay: merchant certificate serial and private key are required: %w", ErrInvalid)
	case len(cfg.APIv3Key) != apiV3KeyBytes:
		return nil, fmt.Errorf("wechat pay: the APIv3 key must be %d bytes: %w", apiV3KeyBytes, ErrInvalid)
	case (cfg.PublicKeyID == "") != (cfg.PublicKey == nil):
		return nil, fmt.Errorf("wechat pay: public key mode needs both PublicKeyID and PublicKey: %w", ErrInvalid)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = ProductionEndpoint
	}
	base, err := url.Parse(endpoint)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("wechat pay: endpoint %q is not an http(s) URL: %w", endpoint, ErrInvalid)
	}
	hc := &http.Client{Timeout: DefaultHTTPTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = endpointTransport{base: base, next: next}

	w := &WeChat{cfg: cfg}
	if cfg.PublicKey != nil {
		w.verifier = verifiers.NewSHA256WithRSAPubkeyVerifier(cfg.PublicKeyID, *cfg.PublicKey)
		w.client, err = core.NewClient(ctx,
			option.WithWechatPayPublicKeyAuthCipher(cfg.MchID, cfg.MerchantCertSerial, cfg.MerchantKey, cfg.PublicKeyID, cfg.PublicKey),
			option.WithHTTPClient(hc))
	} else {
		var dl *core.Client
		dl, err = core.NewClient(ctx, option.WithMerchantCredential(cfg.MchID, cfg.MerchantCertSerial, cfg.MerchantKey),
			option.WithoutValidator(), option.WithHTTPClient(hc))
		if err != nil {
			return nil, fmt.Errorf("wechat pay: downloader client: %w", err)
		}
		w.certs, err = downloader.NewCertificateDownloaderWithClient(ctx, dl, cfg.APIv3Key)
		if err != nil {
			return nil, fmt.Errorf("wechat pay: download platform certificates: %w", err)
		}
		w.verifier = verifiers.NewSHA256WithRSAVerifier(w.certs)
		w.client, err = core.NewClient(ctx, option.WithMerchantCredential(cfg.MchID, cfg.MerchantCertSerial, cfg.MerchantKey),
			option.WithVerifier(w.verifier), option.WithHTTPClient(hc))
	}
	if err != nil {
		return nil, fmt.Errorf("wechat pay: client: %w", err)
	}
	w.native = native.NativeApiService{Client: w.client}
	w.refunds = refunddomestic.RefundsApiService{Client: w.client}
	return w, nil
}

// RefreshCertificates downloads the platform certificates again (certificate
// mode; WeChat rotates them with an overlap, so call it every few hours).
func (w *WeChat) RefreshCertificates(ctx context.Context) error {
	if w.certs == nil {
		return nil
	}
	if err := w.certs.DownloadCertificates(ctx); err != nil {
		return fmt.Errorf("wechat pay: refresh certificates: %w", err)
	}
	return nil
}

// Name implements Provider.
func (w *WeChat) Name() string { return "wechat" }

// apiErr classifies an SDK error: WeChat's error codes become this package's
// sentinels; a 4xx answer is a definite refusal (ErrRejected); anything else
// (transport, 5xx) is left unclassified: the outcome is unknown.
func apiErr(op string, err error) error {
	var ae *core.APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case "ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS":
			return fmt.Errorf("wechat pay %s: %s: %w", op, ae.Message, ErrOrderNotFound)
		case "ORDERPAID":
			return fmt.Errorf("wechat pay %s: %s: %w", op, ae.Message, ErrOrderPaid)
		}
		if ae.StatusCode >= 400 && ae.StatusCode < 500 {
			return fmt.Errorf("wechat pay %s: %d %s %s: %w", op, ae.StatusCode, ae.Code, ae.Message, ErrRejected)
		}
		return fmt.Errorf("wechat pay %s: %d %s %s", op, ae.StatusCode, ae.Code, ae.Message)
	}
	return fmt.Errorf("wechat pay %s: %w", op, err)
}

// CreateQR implements Provider (POST /v3/pay/transactions/native).
func (w *WeChat) CreateQR(ctx context.Context, req QRRequest) (string, error) {
	exp := req.ExpiresAt
	resp, _, err := w.native.Prepay(ctx, native.PrepayRequest{
		Appid: core.String(w.cfg.AppID), Mchid: core.String(w.cfg.MchID),
		Description: core.String(req.Description), OutTradeNo: core.String(req.OutTradeNo),
		TimeExpire: &exp, Attach: core.String(req.Attach), NotifyUrl: core.String(req.NotifyURL),
		Amount: &native.Amount{Total: core.Int64(req.AmountFen), Currency: core.String("CNY")},
	})
	if err != nil {
		return "", apiErr("create order", err)
	}
	if resp.CodeUrl == nil || *resp.CodeUrl == "" {
		return "", fmt.Errorf("wechat pay create order: empty code_url")
	}
	return *resp.CodeUrl, nil
}

// Query implements Provider (GET /v3/pay/transactions/out-trade-no/{no}).
func (w *WeChat) Query(ctx context.Context, outTradeNo string) (Transaction, error) {
	tx, _, err := w.native.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String(outTradeNo), Mchid: core.String(w.cfg.MchID),
	})
	if err != nil {
		return Transaction{}, apiErr("query order", err)
	}
	t := Transaction{
		MchID: deref(tx.Mchid), AppID: deref(tx.Appid), OutTradeNo: deref(tx.OutTradeNo),
		TransactionID: deref(tx.TransactionId), TradeState: deref(tx.TradeState),
	}
	if tx.Amount != nil {
		t.TotalFen, t.Currency = deref(tx.Amount.Total), deref(tx.Amount.Currency)
	}
	if st := deref(tx.SuccessTime); st != "" {
		if t.SuccessTime, err = time.Parse(time.RFC3339, st); err != nil {
			return Transaction{}, fmt.Errorf("wechat pay query order: success_time %q: %w", st, err)
		}
	}
	if t.MchID != w.cfg.MchID || t.AppID != w.cfg.AppID || t.OutTradeNo != outTradeNo {
		return Transaction{}, fmt.Errorf("wechat pay query order: answer names %s/%s/%s: %w", t.MchID, t.AppID, t.OutTradeNo, ErrWrongMerchant)
	}
	return t, nil
}

// Close implements Provider (POST .../out-trade-no/{no}/close).
func (w *WeChat) Close(ctx context.Context, outTradeNo string) error {
	_, err := w.native.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String(outTradeNo), Mchid: core.String(w.cfg.MchID)})
	if err != nil {
		return apiErr("close order", err)
	}
	return nil
}

// Refund implements Provider (POST /v3/refund/domestic/refunds).
func (w *WeChat) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	r, _, err := w.refunds.Create(ctx, refunddomestic.CreateRequest{
		OutTradeNo: core.String(req.OutTradeNo), OutRefundNo: core.String(req.OutRefundNo),
		Reason: core.String(req.Reason), NotifyUrl: core.String(req.NotifyURL),
		Amount: &refunddomestic.AmountReq{Refund: core.Int64(req.RefundFen), Total: core.Int64(req.TotalFen), Currency: core.String("CNY")},
	})
	if err != nil {
		return RefundResult{}, apiErr("refund", err)
	}
	return w.refundResult(r), nil
}

// QueryRefund implements Provider (GET /v3/refund/domestic/refunds/{no}).
func (w *WeChat) QueryRefund(ctx context.Context, _, outRefundNo string) (RefundResult, error) {
	r, _, err := w.refunds.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String(outRefundNo)})
	if err != nil {
		return RefundResult{}, apiErr("query refund", err)
	}
	return w.refundResult(r), nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (w *WeChat) refundResult(r *refunddomestic.Refund) RefundResult {
	res := RefundResult{
		MchID: w.cfg.MchID, OutTradeNo: deref(r.OutTradeNo), OutRefundNo: deref(r.OutRefundNo),
		RefundID: deref(r.RefundId), Status: string(deref(r.Status)),
	}
	if r.Amount != nil {
		res.RefundFen, res.TotalFen = deref(r.Amount.Refund), deref(r.Amount.Total)
	}
	if r.SuccessTime != nil {
		res.SuccessTime = *r.SuccessTime
	}
	return res
}

// Acknowledge implements Provider: 204 without a body when applied, else the
// status with {"code":"FAIL","message":...} (WeChat then retries).
func (w *WeChat) Acknowledge(rw http.ResponseWriter, status int, err error) {
	if err == nil {
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_ = json.NewEncoder(rw).Encode(map[string]string{"code": "FAIL", "message": http.StatusText(status)})
}

// wireTransaction is a transaction as WeChat writes it (query answer and
// notification resource).
type wireTransaction struct {
	AppID         string `json:"appid"`
	MchID         string `json:"mchid"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	TradeState    string `json:"trade_state"`
	SuccessTime   string `json:"success_time"`
	Amount        *struct {
		Total    *int64 `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

func parseTransaction(b []byte) (Transaction, error) {
	var wt wireTransaction
	if err := json.Unmarshal(b, &wt); err != nil {
		return Transaction{}, fmt.Errorf("transaction: %s: %w", clip(err.Error(), maxQuoted*2), ErrBadNotification)
	}
	if wt.OutTradeNo == "" || wt.TradeState == "" || wt.Amount == nil || wt.Amount.Total == nil {
		return Transaction{}, fmt.Errorf("transaction lacks out_trade_no, trade_state or amount.total: %w", ErrBadNotification)
	}
	t := Transaction{
		MchID: wt.MchID, AppID: wt.AppID, OutTradeNo: wt.OutTradeNo, TransactionID: wt.TransactionID,
		TradeState: wt.TradeState, TotalFen: *wt.Amount.Total, Currency: wt.Amount.Currency,
	}
	if wt.SuccessTime != "" {
		st, err := time.Parse(time.RFC3339, wt.SuccessTime)
		if err != nil {
			return Transaction{}, fmt.Errorf("success_time %s: %w", quoted(wt.SuccessTime), ErrBadNotification)
		}
		t.SuccessTime = st
	}
	if t.Paid() && t.TransactionID == "" {
		return Transaction{}, fmt.Errorf("paid transaction without transaction_id: %w", ErrBadNotification)
	}
	return t, nil
}

type wireNotification struct {
	ID        string `json:"id"`
	EventType string `json:"event_type"`
	Resource  *struct {
		Algorithm      string `json:"algorithm"`
		Ciphertext     string `json:"ciphertext"`
		AssociatedData string `json:"associated_data"`
		Nonce          string `json:"nonce"`
		OriginalType   string `json:"original_type"`
	} `json:"resource"`
}

type wireRefundNotice struct {
	MchID        string `json:"mchid"`
	OutTradeNo   string `json:"out_trade_no"`
	OutRefundNo  string `json:"out_refund_no"`
	RefundID     string `json:"refund_id"`
	RefundStatus string `json:"refund_status"`
	SuccessTime  string `json:"success_time"`
	Amount       *struct {
		Total  *int64 `json:"total"`
		Refund *int64 `json:"refund"`
	} `json:"amount"`
}

// ParseNotification implements Provider. It does what the SDK's
// notify.Handler does (same verifier, same AES-256-GCM decryption) but checks
// the timestamp against now, the service's injected clock, instead of reading
// the wall clock itself.
func (w *WeChat) ParseNotification(ctx context.Context, r *http.Request, now time.Time) (Notification, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxNotificationBytes+1))
	if err != nil {
		return Notification{}, fmt.Errorf("read notification: %s: %w", clip(err.Error(), maxQuoted*2), ErrBadNotification)
	}
	if len(body) > MaxNotificationBytes {
		return Notification{}, fmt.Errorf("notification larger than %d bytes: %w", MaxNotificationBytes, ErrBadNotification)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if st := r.Header.Get("Wechatpay-Signature-Type"); st != "" && st != "WECHATPAY2-SHA256-RSA2048" {
		return Notification{}, fmt.Errorf("signature type %s: %w", quoted(st), ErrBadSignature)
	}
	serial := strings.TrimSpace(r.Header.Get("Wechatpay-Serial"))
	sig := strings.TrimSpace(r.Header.Get("Wechatpay-Signature"))
	nonce := strings.TrimSpace(r.Header.Get("Wechatpay-Nonce"))
	tsText := strings.TrimSpace(r.Header.Get("Wechatpay-Timestamp"))
	if serial == "" || sig == "" || nonce == "" || tsText == "" {
		return Notification{}, fmt.Errorf("missing Wechatpay-Serial, -Signature, -Nonce or -Timestamp: %w", ErrBadSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return Notification{}, fmt.Errorf("Wechatpay-Timestamp %s: %w", quoted(tsText), ErrBadSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d >= NotificationSkew || d <= -NotificationSkew {
		return Notification{}, fmt.Errorf("signed %s from now: %w", d.Round(time.Second), ErrTimestampSkew)
	}
	msg := tsText + "\n" + nonce + "\n" + string(body) + "\n"
	if err := w.verifier.Verify(ctx, serial, msg, sig); err != nil {
		return Notification{}, fmt.Errorf("%s: %w", clip(err.Error(), maxQuoted*2), ErrBadSignature)
	}
	var wn wireNotification
	if err := json.Unmarshal(body, &wn); err != nil {
		return Notification{}, fmt.Errorf("notification body: %s: %w", clip(err.Error(), maxQuoted*2), ErrBadNotification)
	}
	if wn.ID == "" || wn.Resource == nil || wn.Resource.Algorithm != "AEAD_AES_256_GCM" {
		return Notification{}, fmt.Errorf("notification lacks id or an AEAD_AES_256_GCM resource: %w", ErrBadNotification)
	}
	plain, err := utils.DecryptAES256GCM(w.cfg.APIv3Key, wn.Resource.AssociatedData, wn.Resource.Nonce, wn.Resource.Ciphertext)
	if err != nil {
		return Notification{}, fmt.Errorf("decrypt resource: %s: %w", clip(err.Error(), maxQuoted*2), ErrBadNotification)
	}
	n := Notification{ID: wn.ID, EventType: wn.EventType}
	switch {
	case wn.EventType == "TRANSACTION.SUCCESS":
		t, err := parseTransaction([]byte(plain))
		if err != nil {
			return Notification{}, err
		}
		if t.MchID != w.cfg.MchID || t.AppID != w.cfg.AppID {
			return Notification{}, fmt.Errorf("mchid %s appid %s: %w", quoted(t.MchID), quoted(t.AppID), ErrWrongMerchant)
		}
		n.Transaction = &t
	case strings.HasPrefix(wn.EventType, "REFUND."):
		var rn wireRefundNotice
		if err := json.Unmarshal([]byte(plain), &rn); err != nil {
			return Notification{}, fmt.Errorf("refund resource: %s: %w", clip(err.Error(), maxQuoted*2), ErrBadNotification)
		}
		if rn.OutRefundNo == "" || rn.RefundStatus == "" || rn.Amount == nil || rn.Amount.Refund == nil || rn.Amount.Total == nil {
			return Notification{}, fmt.Errorf("refund resource lacks out_refund_no, refund_status or amount: %w", ErrBadNotification)
		}
		if rn.MchID != w.cfg.MchID {
			return Notification{}, fmt.Errorf("mchid %s: %w", quoted(rn.MchID), ErrWrongMerchant)
		}
		res := RefundResult{MchID: rn.MchID, OutTradeNo: rn.OutTradeNo, OutRefundNo: rn.OutRefundNo, RefundID: rn.RefundID,
			Status: rn.RefundStatus, RefundFen: *rn.Amount.Refund, TotalFen: *rn.Amount.Total}
		if rn.SuccessTime != "" {
			if res.SuccessTime, err = time.Parse(time.RFC3339, rn.SuccessTime); err != nil {
				return Notification{}, fmt.Errorf("refund success_time: %w", ErrBadNotification)
			}
		}
		n.Refund = &res
	default:
		return Notification{}, fmt.Errorf("event type %s: %w", quoted(wn.EventType), ErrBadNotification)
	}
	return n, nil
}
