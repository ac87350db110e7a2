package payment

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/smartwalle/alipay/v3"
)

// AlipayProductionGateway is Alipay's open platform gateway.
const AlipayProductionGateway = "https://openapi.alipay.com/gateway.do"

const alipayTimeLayout = "2006-01-02 15:04:05"

// beijing is the zone of every Alipay timestamp (no tzdata needed).
var beijing = time.FixedZone("CST", 8*3600)

// AlipayConfig configures Alipay face-to-face QR payments (当面付, precreate)
// in the Alipay public key mode.
type AlipayConfig struct {
	AppID           string
	SellerID        string          // the merchant's Alipay user ID (2088...), checked in notifications
	PrivateKey      *rsa.PrivateKey // the application private key: signs requests
	AlipayPublicKey *rsa.PublicKey  // verifies Alipay's answers and notifications
	// Gateway: "" for AlipayProductionGateway; the simulator's
	// https://127.0.0.1:port/gateway.do in dev and tests.
	Gateway    string
	HTTPClient *http.Client // default: DefaultHTTPTimeout
}

// Alipay is the Alipay precreate provider on github.com/smartwalle/alipay/v3.
type Alipay struct {
	cfg    AlipayConfig
	client *alipay.Client
}

// NewAlipay checks the configuration and makes the client.
func NewAlipay(cfg AlipayConfig) (*Alipay, error) {
	switch {
	case cfg.AppID == "" || cfg.SellerID == "":
		return nil, fmt.Errorf("alipay: app id and seller id are required: %w", ErrInvalid)
	case cfg.PrivateKey == nil || cfg.AlipayPublicKey == nil:
		return nil, fmt.Errorf("alipay: application private key and Alipay public key are required: %w", ErrInvalid)
	}
	gw := cfg.Gateway
	if gw == "" {
		gw = AlipayProductionGateway
	}
	if u, err := url.Parse(gw); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("alipay: gateway %q is not an http(s) URL: %w", gw, ErrInvalid)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	der, err := x509.MarshalPKCS8PrivateKey(cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("alipay: private key: %w", err)
	}
	c, err := alipay.New(cfg.AppID, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), true,
		alipay.WithProductionGateway(gw), alipay.WithHTTPClient(hc), alipay.WithTimeLocation(beijing))
	if err != nil {
		return nil, fmt.Errorf("alipay: client: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(cfg.AlipayPublicKey)
	if err != nil {
		return nil, fmt.Errorf("alipay: public key: %w", err)
	}
	if err := c.LoadAliPayPublicKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))); err != nil {
		return nil, fmt.Errorf("alipay: public key: %w", err)
	}
	return &Alipay{cfg: cfg, client: c}, nil
}

// Name implements Provider.
func (a *Alipay) Name() string { return "alipay" }

func yuan(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

var yuanRe = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$`)

// fen parses Alipay's "300.00" exactly (no floating point).
func fen(s string) (int64, error) {
	if !yuanRe.MatchString(s) {
		return 0, fmt.Errorf("amount %s: %w", quoted(s), ErrBadNotification)
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	frac = (frac + "00")[:2]
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}

func alipayErr(op string, e alipay.Error) error {
	switch {
	case e.SubCode == "ACQ.TRADE_NOT_EXIST":
		return fmt.Errorf("alipay %s: %s %s: %w", op, e.SubCode, e.SubMsg, ErrOrderNotFound)
	case e.Code == "40002" || e.Code == "40004" || e.Code == "40001" || e.Code == "40006":
		return fmt.Errorf("alipay %s: %s %s %s: %w", op, e.Code, e.SubCode, e.SubMsg, ErrRejected)
	}
	return fmt.Errorf("alipay %s: %s %s %s", op, e.Code, e.SubCode, e.SubMsg)
}

// CreateQR implements Provider (alipay.trade.precreate).
func (a *Alipay) CreateQR(ctx context.Context, req QRRequest) (string, error) {
	p := alipay.TradePreCreate{}
	p.OutTradeNo = req.OutTradeNo
	p.Subject = req.Description
	p.TotalAmount = yuan(req.AmountFen)
	p.TimeExpire = req.ExpiresAt.In(beijing).Format(alipayTimeLayout)
	p.NotifyURL = req.NotifyURL
	p.ProductCode = "FACE_TO_FACE_PAYMENT"
	rsp, err := a.client.TradePreCreate(ctx, p)
	if err != nil {
		return "", fmt.Errorf("alipay precreate: %w", err)
	}
	if rsp.IsFailure() {
		return "", alipayErr("precreate", rsp.Error)
	}
	if rsp.QRCode == "" || rsp.OutTradeNo != req.OutTradeNo {
		return "", fmt.Errorf("alipay precreate: answer for %q without qr_code", rsp.OutTradeNo)
	}
	return rsp.QRCode, nil
}

func alipayTradeState(status, sendPayDate string) string {
	switch status {
	case "TRADE_SUCCESS", "TRADE_FINISHED":
		return TradeSuccess
	case "TRADE_CLOSED":
		if sendPayDate != "" {
			return TradeRefund // paid, then fully refunded
		}
		return TradeClosed
	}
	return TradeNotPay
}

// Query implements Provider (alipay.trade.query). A QR nobody scanned is no
// trade at Alipay: ErrOrderNotFound.
func (a *Alipay) Query(ctx context.Context, outTradeNo string) (Transaction, error) {
	rsp, err := a.client.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: outTradeNo})
	if err != nil {
		return Transaction{}, fmt.Errorf("alipay query: %w", err)
	}
	if rsp.IsFailure() {
		return Transaction{}, alipayErr("query", rsp.Error)
	}
	if rsp.OutTradeNo != outTradeNo {
		return Transaction{}, fmt.Errorf("alipay query: answer names %q: %w", rsp.OutTradeNo, ErrWrongMerchant)
	}
	total, err := fen(rsp.TotalAmount)
	if err != nil {
		return Transaction{}, fmt.Errorf("alipay query: %w", err)
	}
	t := Transaction{MchID: a.cfg.SellerID, AppID: a.cfg.AppID, OutTradeNo: outTradeNo, TransactionID: rsp.TradeNo,
		TradeState: alipayTradeState(string(rsp.TradeStatus), rsp.SendPayDate), TotalFen: total, Currency: "CNY"}
	if rsp.SendPayDate != "" {
		if t.SuccessTime, err = time.ParseInLocation(alipayTimeLayout, rsp.SendPayDate, beijing); err != nil {
			return Transaction{}, fmt.Errorf("alipay query: send_pay_date %q: %w", rsp.SendPayDate, err)
		}
	}
	return t, nil
}

// Close implements Provider (alipay.trade.close). Alipay answers
// ACQ.TRADE_STATUS_ERROR for a paid or already closed trade: the query
// tells which.
func (a *Alipay) Close(ctx context.Context, outTradeNo string) error {
	rsp, err := a.client.TradeClose(ctx, alipay.TradeClose{OutTradeNo: outTradeNo})
	if err != nil {
		return fmt.Errorf("alipay close: %w", err)
	}
	if rsp.IsSuccess() {
		return nil
	}
	if rsp.SubCode == "ACQ.TRADE_STATUS_ERROR" {
		t, err := a.Query(ctx, outTradeNo)
		if err != nil {
			return err
		}
		if t.Paid() {
			return fmt.Errorf("alipay close: %w", ErrOrderPaid)
		}
		return nil
	}
	return alipayErr("close", rsp.Error)
}

// Refund implements Provider (alipay.trade.refund: synchronous; the same
// out_request_no again moves no money).
func (a *Alipay) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	rsp, err := a.client.TradeRefund(ctx, alipay.TradeRefund{OutTradeNo: req.OutTradeNo, RefundAmount: yuan(req.RefundFen),
		OutRequestNo: req.OutRefundNo, RefundReason: req.Reason})
	if err != nil {
		return RefundResult{}, fmt.Errorf("alipay refund: %w", err)
	}
	if rsp.IsFailure() {
		return RefundResult{}, alipayErr("refund", rsp.Error)
	}
	return RefundResult{MchID: a.cfg.SellerID, OutTradeNo: req.OutTradeNo, OutRefundNo: req.OutRefundNo, RefundID: rsp.TradeNo + "/" + req.OutRefundNo,
		Status: RefundSuccess, RefundFen: req.RefundFen, TotalFen: req.TotalFen}, nil
}

// QueryRefund implements Provider (alipay.trade.fastpay.refund.query). No
// refund_status means Alipay never received the refund: ErrOrderNotFound.
func (a *Alipay) QueryRefund(ctx context.Context, outTradeNo, outRefundNo string) (RefundResult, error) {
	rsp, err := a.client.TradeFastPayRefundQuery(ctx, alipay.TradeFastPayRefundQuery{OutTradeNo: outTradeNo, OutRequestNo: outRefundNo})
	if err != nil {
		return RefundResult{}, fmt.Errorf("alipay refund query: %w", err)
	}
	if rsp.IsFailure() {
		return RefundResult{}, alipayErr("refund query", rsp.Error)
	}
	if rsp.RefundStatus != "REFUND_SUCCESS" {
		return RefundResult{}, fmt.Errorf("alipay refund query: %s not received: %w", outRefundNo, ErrOrderNotFound)
	}
	refund, err := fen(rsp.RefundAmount)
	if err != nil {
		return RefundResult{}, fmt.Errorf("alipay refund query: %w", err)
	}
	total, _ := fen(rsp.TotalAmount)
	return RefundResult{MchID: a.cfg.SellerID, OutTradeNo: outTradeNo, OutRefundNo: outRefundNo, RefundID: rsp.TradeNo + "/" + outRefundNo,
		Status: RefundSuccess, RefundFen: refund, TotalFen: total}, nil
}

// ParseNotification implements Provider for trade_status_sync notifications
// (form POST, RSA2 over the sorted fields). Alipay's notifications carry no
// signed timestamp header; replays are stopped by notify_id and the order
// state, as for WeChat. now is unused.
func (a *Alipay) ParseNotification(ctx context.Context, r *http.Request, _ time.Time) (Notification, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxNotificationBytes+1))
	if err != nil || len(body) > MaxNotificationBytes {
		return Notification{}, fmt.Errorf("read notification (at most %d bytes): %w", MaxNotificationBytes, ErrBadNotification)
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return Notification{}, fmt.Errorf("notification form: %s: %w", clip(err.Error(), maxQuoted*2), ErrBadNotification)
	}
	if v.Get("sign") == "" {
		return Notification{}, fmt.Errorf("notification without sign: %w", ErrBadSignature)
	}
	n, err := a.client.DecodeNotification(ctx, v)
	if err != nil {
		return Notification{}, fmt.Errorf("%s: %w", clip(err.Error(), maxQuoted*2), ErrBadSignature)
	}
	if n.AppId != a.cfg.AppID || n.SellerId != a.cfg.SellerID {
		return Notification{}, fmt.Errorf("app_id %s seller_id %s: %w", quoted(n.AppId), quoted(n.SellerId), ErrWrongMerchant)
	}
	if n.NotifyId == "" || n.OutTradeNo == "" {
		return Notification{}, fmt.Errorf("notification lacks notify_id or out_trade_no: %w", ErrBadNotification)
	}
	total, err := fen(n.TotalAmount)
	if err != nil {
		return Notification{}, err
	}
	out := Notification{ID: n.NotifyId, EventType: "trade_status_sync." + string(n.TradeStatus)}
	if n.OutBizNo != "" && n.RefundFee != "" {
		refund, err := fen(n.RefundFee)
		if err != nil {
			return Notification{}, err
		}
		out.Refund = &RefundResult{MchID: n.SellerId, OutTradeNo: n.OutTradeNo, OutRefundNo: n.OutBizNo, Status: RefundSuccess,
			RefundFen: refund, TotalFen: total, RefundID: n.TradeNo + "/" + n.OutBizNo}
		return out, nil
	}
	state := alipayTradeState(string(n.TradeStatus), n.GmtPayment)
	if state != TradeSuccess {
		return out, nil // WAIT_BUYER_PAY, TRADE_CLOSED unpaid: nothing to apply
	}
	t := Transaction{MchID: n.SellerId, AppID: n.AppId, OutTradeNo: n.OutTradeNo, TransactionID: n.TradeNo,
		TradeState: state, TotalFen: total, Currency: "CNY"}
	if n.GmtPayment != "" {
		if t.SuccessTime, err = time.ParseInLocation(alipayTimeLayout, n.GmtPayment, beijing); err != nil {
			return Notification{}, fmt.Errorf("gmt_payment %s: %w", quoted(n.GmtPayment), ErrBadNotification)
		}
	}
	out.Transaction = &t
	return out, nil
}

// Acknowledge implements Provider: Alipay takes exactly "success" as
// received; anything else ("fail") makes it retry.
func (a *Alipay) Acknowledge(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err == nil {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "success")
		return
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "fail")
}
