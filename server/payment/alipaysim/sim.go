// Package alipaysim is a SIMULATOR of the Alipay open platform gateway
// (openapi.alipay.com/gateway.do) for face-to-face QR payments: precreate,
// query, close, refund and refund query, with asynchronous trade
// notifications. Alipay's sandbox needs an account and the Internet; this
// simulator lets dev and tests run the real client (smartwalle/alipay/v3)
// against a loopback server.
//
// What it does as Alipay does:
//   - refuses a request whose RSA2 signature (SHA256withRSA over the sorted
//     "key=value&..." of every parameter but sign) does not verify with the
//     application's public key, names another app_id, or whose timestamp
//     (Beijing time) is more than 15 minutes off;
//   - answers {"<method>_response":{...},"sign":"..."} with the response
//     object signed by the Alipay key, business failures as code 40004 with
//     Alipay's sub_codes (ACQ.TRADE_NOT_EXIST, ACQ.TRADE_STATUS_ERROR, ...);
//   - a precreated QR is not a trade until it is scanned: query and close
//     answer ACQ.TRADE_NOT_EXIST before that, as Alipay does;
//   - enforces time_expire: paying after it fails;
//   - sends signed form notifications (trade_status_sync) to notify_url and
//     retries a bounded number of times until the answer is "success".
//
// Pay (Go) or POST /sim/pay?out_trade_no=... (dev endpoint, no signature:
// loopback only) stands for the clerk scanning the code and paying.
package alipaysim

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits and constants, as numbers.
const (
	MaxBodyBytes       = 64 << 10
	TimestampSkew      = 15 * time.Minute // request timestamps further off are refused
	DefaultMaxAttempts = 8                // Alipay notifies 8 times in 25 h
	notifyTimeout      = 5 * time.Second
	timeLayout         = "2006-01-02 15:04:05"
	maxAmountFen       = 100_000_000_00
)

// Beijing is the time zone of every Alipay timestamp.
var beijing = time.FixedZone("CST", 8*3600)

// Config describes the one application the simulator serves.
type Config struct {
	AppID        string
	AppPublicKey *rsa.PublicKey // verifies the application's requests
	SellerID     string         // the merchant's Alipay user ID (2088...)
	Clock        func() time.Time
	WallClock    func() time.Time
	NotifyClient *http.Client
	MaxAttempts  int
	// RetryBase, if set, replaces Alipay's schedule (4m, 10m, 10m, 1h, 2h,
	// 6h, 15h) by a delay doubling from RetryBase up to RetryCap.
	RetryBase time.Duration
	RetryCap  time.Duration
}

var alipayRetrySchedule = [...]time.Duration{4 * time.Minute, 10 * time.Minute, 10 * time.Minute, time.Hour,
	2 * time.Hour, 6 * time.Hour, 15 * time.Hour}

// Trade states as Alipay names them; precreated is the simulator's name for
// a QR that nobody scanned yet (no trade exists at Alipay).
const (
	statePrecreated  = "PRECREATED"
	StateWaitBuyer   = "WAIT_BUYER_PAY"
	StateSuccess     = "TRADE_SUCCESS"
	StateClosed      = "TRADE_CLOSED"
	refundSuccessTag = "REFUND_SUCCESS"
)

type trade struct {
	outTradeNo, subject, notifyURL, tradeNo string
	total, refunded                         int64
	timeExpire, created, paid               time.Time
	state                                   string
	refunds                                 map[string]int64 // out_request_no → amount
}

// Delivery is one notification attempt.
type Delivery struct {
	NotifyID string
	Attempt  int
	Status   int
	Body     string
	Err      error
}

// Simulator is an http.Handler speaking the Alipay gateway protocol.
type Simulator struct {
	cfg        Config
	key        *rsa.PrivateKey
	mu         sync.Mutex
	trades     map[string]*trade
	deliveries []Delivery
	wg         sync.WaitGroup
	closed     chan struct{}
	closeOnce  sync.Once
}

// New makes a simulator with a fresh RSA-2048 Alipay key.
func New(cfg Config) (*Simulator, error) {
	if cfg.AppID == "" || cfg.AppPublicKey == nil || cfg.SellerID == "" {
		return nil, errors.New("alipaysim: app id, app public key and seller id are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.WallClock == nil {
		cfg.WallClock = time.Now
	}
	if cfg.NotifyClient == nil {
		cfg.NotifyClient = &http.Client{Timeout: notifyTimeout}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RetryCap <= 0 {
		cfg.RetryCap = 30 * time.Second
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("alipaysim: key: %w", err)
	}
	return &Simulator{cfg: cfg, key: key, trades: map[string]*trade{}, closed: make(chan struct{})}, nil
}

// PublicKey is the Alipay public key (支付宝公钥) the application trusts.
func (s *Simulator) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// Close stops the notification senders.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.wg.Wait()
}

// Wait blocks until no notification is being sent.
func (s *Simulator) Wait() { s.wg.Wait() }

// Deliveries lists the notification attempts so far.
func (s *Simulator) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// Errors of the "scan and pay" action.
var (
	ErrNoSuchQR = errors.New("alipaysim: no such QR code")
	ErrExpired  = errors.New("alipaysim: the order expired (time_expire passed)")
	ErrClosed   = errors.New("alipaysim: the trade is closed")
	ErrPaid     = errors.New("alipaysim: the trade is already paid")
)

// Scan stands for the phone scanning the QR code: the trade now exists
// (WAIT_BUYER_PAY) but is not paid.
func (s *Simulator) Scan(outTradeNo string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.scanLocked(outTradeNo)
	return err
}

func (s *Simulator) scanLocked(outTradeNo string) (*trade, error) {
	t, ok := s.trades[outTradeNo]
	if !ok {
		return nil, ErrNoSuchQR
	}
	switch t.state {
	case StateClosed:
		return nil, ErrClosed
	case StateSuccess:
		return nil, ErrPaid
	}
	if !s.cfg.Clock().Before(t.timeExpire) {
		return nil, ErrExpired
	}
	if t.state == statePrecreated {
		t.tradeNo = NewTradeNo(s.cfg.Clock())
		t.state = StateWaitBuyer
	}
	return t, nil
}

// Pay scans (if needed) and pays the QR code at the current business time,
// then notifies notify_url.
func (s *Simulator) Pay(outTradeNo string) (tradeNo string, err error) {
	s.mu.Lock()
	t, err := s.scanLocked(outTradeNo)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	t.state = StateSuccess
	t.paid = s.cfg.Clock()
	v := s.notifyValues(t)
	url, no := t.notifyURL, t.tradeNo
	s.mu.Unlock()
	s.notify(url, v)
	return no, nil
}

func yuan(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

var amountRe = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$`)

func parseYuan(s string) (int64, bool) {
	if !amountRe.MatchString(s) {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	fen := w*100 + f
	return fen, fen > 0 && fen <= maxAmountFen
}

func (s *Simulator) notifyValues(t *trade) url.Values {
	now := s.cfg.Clock().In(beijing)
	v := url.Values{}
	v.Set("notify_time", now.Format(timeLayout))
	v.Set("notify_type", "trade_status_sync")
	v.Set("notify_id", fmt.Sprintf("%x", randomBytes(16)))
	v.Set("app_id", s.cfg.AppID)
	v.Set("charset", "utf-8")
	v.Set("version", "1.0")
	v.Set("trade_no", t.tradeNo)
	v.Set("out_trade_no", t.outTradeNo)
	v.Set("trade_status", t.state)
	v.Set("total_amount", yuan(t.total))
	v.Set("receipt_amount", yuan(t.total))
	v.Set("buyer_pay_amount", yuan(t.total))
	v.Set("seller_id", s.cfg.SellerID)
	v.Set("buyer_id", "2088102177846880")
	v.Set("subject", t.subject)
	v.Set("gmt_create", t.created.In(beijing).Format(timeLayout))
	v.Set("gmt_payment", t.paid.In(beijing).Format(timeLayout))
	return v
}

// NewTradeNo is a trade number as Alipay gives them: 28 digits, the date
// in Beijing (yyyyMMdd), "22", then 18 digits from crypto/rand, so a
// simulator started again does not repeat the numbers of the last one.
func NewTradeNo(now time.Time) string {
	b := randomBytes(18)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return now.In(beijing).Format("20060102") + "22" + string(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// NewNotification signs v (as Alipay: every field but sign and sign_type,
// sorted) and makes the form POST to url. Tests use it to send genuinely
// signed notifications with chosen content.
func (s *Simulator) NewNotification(url string, v url.Values) (*http.Request, error) {
	v = cloneValues(v)
	v.Del("sign")
	v.Set("sign_type", "RSA2")
	sig, err := s.sign(canonical(v, "sign", "sign_type"))
	if err != nil {
		return nil, err
	}
	v.Set("sign", sig)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, fmt.Errorf("alipaysim: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return req, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (s *Simulator) notify(url string, v url.Values) {
	if url == "" {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		delay := s.cfg.RetryBase
		for attempt := 1; attempt <= s.cfg.MaxAttempts; attempt++ {
			if s.cfg.RetryBase <= 0 {
				delay = alipayRetrySchedule[min(attempt-1, len(alipayRetrySchedule)-1)]
			}
			status, body, err := s.deliverOnce(url, v)
			s.mu.Lock()
			s.deliveries = append(s.deliveries, Delivery{NotifyID: v.Get("notify_id"), Attempt: attempt, Status: status, Body: body, Err: err})
			s.mu.Unlock()
			// Alipay counts only the exact body "success" as received.
			if err == nil && strings.TrimSpace(body) == "success" {
				return
			}
			if attempt == s.cfg.MaxAttempts {
				return
			}
			select {
			case <-s.closed:
				return
			case <-time.After(delay):
			}
			if s.cfg.RetryBase > 0 {
				delay = min(2*delay, s.cfg.RetryCap)
			}
		}
	}()
}

func (s *Simulator) deliverOnce(url string, v url.Values) (int, string, error) {
	req, err := s.NewNotification(url, v)
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	resp, err := s.cfg.NotifyClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode, string(b), nil
}

// canonical is Alipay's string to sign: "k=v" pairs of non-empty values,
// sorted, joined by "&", without the ignored keys.
func canonical(v url.Values, ignore ...string) string {
	var pairs []string
	for k, vs := range v {
		if containsString(ignore, k) {
			continue
		}
		for _, x := range vs {
			if x != "" {
				pairs = append(pairs, k+"="+x)
			}
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Simulator) sign(msg string) (string, error) {
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("alipaysim: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// ---- HTTP ----

type result map[string]any

func bizFail(code, msg, subCode, subMsg string) result {
	return result{"code": code, "msg": msg, "sub_code": subCode, "sub_msg": subMsg}
}

func acqFail(subCode, subMsg string) result {
	return bizFail("40004", "Business Failed", subCode, subMsg)
}

// ServeHTTP implements POST /gateway.do and the /sim/ dev endpoints.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/sim/") {
		s.serveDev(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	v := r.PostForm
	if len(v) == 0 {
		v = r.Form
	}
	method := v.Get("method")
	if method == "" {
		s.reply(w, "error", bizFail("40001", "Missing Required Arguments", "isv.missing-method", "缺少方法名参数"))
		return
	}
	if res := s.checkRequest(v); res != nil {
		s.reply(w, method, res)
		return
	}
	var biz map[string]any
	if err := json.Unmarshal([]byte(v.Get("biz_content")), &biz); err != nil {
		s.reply(w, method, bizFail("40002", "Invalid Arguments", "isv.invalid-parameter", "biz_content is not JSON"))
		return
	}
	str := func(k string) string { x, _ := biz[k].(string); return x }
	var res result
	switch method {
	case "alipay.trade.precreate":
		res = s.precreate(str("out_trade_no"), str("total_amount"), str("subject"), str("time_expire"), v.Get("notify_url"))
	case "alipay.trade.query":
		res = s.query(str("out_trade_no"))
	case "alipay.trade.close":
		res = s.closeTrade(str("out_trade_no"))
	case "alipay.trade.refund":
		res = s.refund(str("out_trade_no"), str("refund_amount"), str("out_request_no"))
	case "alipay.trade.fastpay.refund.query":
		res = s.refundQuery(str("out_trade_no"), str("out_request_no"))
	default:
		res = bizFail("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
	}
	s.reply(w, method, res)
}

func (s *Simulator) checkRequest(v url.Values) result {
	switch {
	case v.Get("app_id") != s.cfg.AppID:
		return bizFail("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
	case v.Get("sign_type") != "RSA2":
		return bizFail("40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型")
	case v.Get("charset") != "utf-8" || v.Get("format") != "JSON" || v.Get("version") != "1.0":
		return bizFail("40002", "Invalid Arguments", "isv.invalid-parameter", "charset utf-8, format JSON and version 1.0 are required")
	}
	ts, err := time.ParseInLocation(timeLayout, v.Get("timestamp"), beijing)
	if err != nil {
		return bizFail("40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数")
	}
	if d := s.cfg.WallClock().Sub(ts); d > TimestampSkew || d < -TimestampSkew {
		return bizFail("40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数")
	}
	sig, err := base64.StdEncoding.DecodeString(v.Get("sign"))
	if err != nil || len(sig) == 0 {
		return bizFail("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
	}
	sum := sha256.Sum256([]byte(canonical(v, "sign")))
	if rsa.VerifyPKCS1v15(s.cfg.AppPublicKey, crypto.SHA256, sum[:], sig) != nil {
		return bizFail("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
	}
	return nil
}

func (s *Simulator) reply(w http.ResponseWriter, method string, res result) {
	biz, err := json.Marshal(res)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sig, err := s.sign(string(biz))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	field := strings.ReplaceAll(method, ".", "_") + "_response"
	if method == "error" {
		field = "error_response"
	}
	w.Header().Set("Content-Type", "text/html;charset=utf-8") // what the gateway sends
	fmt.Fprintf(w, `{%q:%s,"sign":%q}`, field, biz, sig)
}

var outTradeNoRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

func success(fields result) result {
	fields["code"], fields["msg"] = "10000", "Success"
	return fields
}

func (s *Simulator) precreate(no, amount, subject, timeExpire, notifyURL string) result {
	fen, valid := parseYuan(amount)
	switch {
	case !outTradeNoRe.MatchString(no):
		return bizFail("40002", "Invalid Arguments", "isv.invalid-parameter", "out_trade_no: 1..64 of [A-Za-z0-9_]")
	case !valid:
		return bizFail("40002", "Invalid Arguments", "isv.invalid-parameter", "total_amount: 0.01..100000000 yuan, two decimals")
	case subject == "" || len([]rune(subject)) > 256:
		return bizFail("40002", "Invalid Arguments", "isv.invalid-parameter", "subject: 1..256 characters")
	}
	now := s.cfg.Clock()
	expire := now.Add(2 * time.Hour)
	if timeExpire != "" {
		t, err := time.ParseInLocation(timeLayout, timeExpire, beijing)
		if err != nil || !t.After(now) {
			return bizFail("40002", "Invalid Arguments", "isv.invalid-parameter", "time_expire: a future yyyy-MM-dd HH:mm:ss")
		}
		expire = t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, found := s.trades[no]; found {
		switch {
		case t.state == StateSuccess:
			return acqFail("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
		case t.state == StateClosed:
			return acqFail("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
		case t.total != fen:
			return acqFail("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
		}
		return success(result{"out_trade_no": no, "qr_code": qrCode(no)})
	}
	s.trades[no] = &trade{outTradeNo: no, subject: subject, notifyURL: notifyURL, total: fen, timeExpire: expire,
		created: now, state: statePrecreated, refunds: map[string]int64{}}
	return success(result{"out_trade_no": no, "qr_code": qrCode(no)})
}

func qrCode(no string) string {
	sum := sha256.Sum256([]byte(no))
	return "https://qr.alipay.com/bax0" + fmt.Sprintf("%x", sum[:10])
}

func (s *Simulator) query(no string) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok2 := s.trades[no]
	if !ok2 || t.state == statePrecreated {
		return acqFail("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	res := result{"trade_no": t.tradeNo, "out_trade_no": no, "buyer_logon_id": "159****5620", "trade_status": t.state,
		"total_amount": yuan(t.total), "buyer_user_id": "2088102177846880"}
	if !t.paid.IsZero() {
		res["send_pay_date"] = t.paid.In(beijing).Format(timeLayout)
		res["receipt_amount"] = yuan(t.total)
		res["buyer_pay_amount"] = yuan(t.total)
	}
	return success(res)
}

func (s *Simulator) closeTrade(no string) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok2 := s.trades[no]
	if !ok2 || t.state == statePrecreated {
		return acqFail("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	if t.state != StateWaitBuyer {
		return acqFail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	t.state = StateClosed
	return success(result{"trade_no": t.tradeNo, "out_trade_no": no})
}

func (s *Simulator) refund(no, amount, requestNo string) result {
	fen, valid := parseYuan(amount)
	if !valid || requestNo == "" || len(requestNo) > 64 {
		return bizFail("40002", "Invalid Arguments", "isv.invalid-parameter", "refund_amount and out_request_no are required")
	}
	s.mu.Lock()
	t, ok2 := s.trades[no]
	if !ok2 || t.state == statePrecreated {
		s.mu.Unlock()
		return acqFail("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	if _, seen := t.refunds[requestNo]; seen {
		// The same out_request_no again: no new money moves.
		s.mu.Unlock()
		return success(result{"trade_no": t.tradeNo, "out_trade_no": no, "fund_change": "N", "refund_fee": yuan(t.refunded), "buyer_logon_id": "159****5620"})
	}
	if t.paid.IsZero() {
		s.mu.Unlock()
		return acqFail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
	}
	if t.refunded+fen > t.total {
		s.mu.Unlock()
		return acqFail("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
	}
	if s.cfg.Clock().Sub(t.paid) > 365*24*time.Hour {
		s.mu.Unlock()
		return acqFail("ACQ.TRADE_HAS_FINISHED", "交易已完结")
	}
	t.refunds[requestNo] = fen
	t.refunded += fen
	var v url.Values
	if t.refunded == t.total {
		t.state = StateClosed
		v = s.notifyValues(t)
		v.Set("out_biz_no", requestNo)
		v.Set("refund_fee", yuan(t.refunded))
		v.Set("gmt_refund", s.cfg.Clock().In(beijing).Format("2006-01-02 15:04:05.000"))
		v.Set("gmt_close", s.cfg.Clock().In(beijing).Format(timeLayout))
	}
	res := success(result{"trade_no": t.tradeNo, "out_trade_no": no, "fund_change": "Y", "refund_fee": yuan(t.refunded), "buyer_logon_id": "159****5620"})
	url := t.notifyURL
	s.mu.Unlock()
	if v != nil {
		s.notify(url, v)
	}
	return res
}

func (s *Simulator) refundQuery(no, requestNo string) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok2 := s.trades[no]
	if !ok2 || t.state == statePrecreated {
		return acqFail("ACQ.TRADE_NOT_EXIST", "交易不存在")
	}
	fen, seen := t.refunds[requestNo]
	if !seen {
		// Alipay: no refund_status means the refund was not received.
		return success(result{"trade_no": t.tradeNo, "out_trade_no": no, "out_request_no": requestNo})
	}
	return success(result{"trade_no": t.tradeNo, "out_trade_no": no, "out_request_no": requestNo,
		"total_amount": yuan(t.total), "refund_amount": yuan(fen), "refund_status": refundSuccessTag})
}

func (s *Simulator) serveDev(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/sim/pay" {
		http.NotFound(w, r)
		return
	}
	if _, err := s.Pay(r.URL.Query().Get("out_trade_no")); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
