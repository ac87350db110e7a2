package wechatsim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mode is the way the merchant verifies WeChat Pay's signatures.
type Mode int

const (
	// ModePublicKey: answers are signed for the "WeChat Pay public key"
	// (Wechatpay-Serial is a PUB_KEY_ID_... key ID), the mode of new merchants.
	ModePublicKey Mode = iota
	// ModeCertificate: answers carry the platform certificate serial, which the
	// merchant downloads from /v3/certificates.
	ModeCertificate
)

// Limits of the simulator, as numbers.
const (
	MaxBodyBytes        = 64 << 10         // larger requests are refused
	SignatureSkew       = 5 * time.Minute  // request timestamps further off are refused
	DefaultMaxAttempts  = 16               // the first try and WeChat's 15 retries
	DefaultRetryCap     = 30 * time.Second // cap of the doubling delay when RetryBase is set
	notifyTimeout       = 5 * time.Second  // WeChat waits 5 s for the merchant's answer
	codeURLPrefix       = "weixin://wxpay/bizpayurl?pr="
	notifyAlgorithm     = "AEAD_AES_256_GCM"
	signatureType       = "WECHATPAY2-SHA256-RSA2048"
	refundAssociated    = "refund"
	transactionAssoc    = "transaction"
	certificateAssoc    = "certificate"
	maxDescriptionBytes = 127
)

// Config describes the one merchant the simulator serves.
type Config struct {
	MchID string // merchant number (商户号)
	AppID string // the app ID bound to the merchant
	// MerchantCertSerial and MerchantPublicKey verify the merchant's requests:
	// the serial of the merchant API certificate and its public key.
	MerchantCertSerial string
	MerchantPublicKey  *rsa.PublicKey
	APIv3Key           string // 32 bytes: encrypts notifications and certificates
	Mode               Mode

	Clock     func() time.Time // business time; default time.Now
	WallClock func() time.Time // transport signature time; default time.Now

	// NotifyClient sends notifications; default: a client with a 5 s timeout.
	NotifyClient *http.Client
	MaxAttempts  int // attempts per notification; default DefaultMaxAttempts
	// RetryBase, if set, replaces WeChat's schedule by a delay that starts
	// at RetryBase and doubles up to RetryCap (default DefaultRetryCap):
	// tests and demos do not wait 24 h.
	RetryBase time.Duration
	RetryCap  time.Duration
}

// wechatRetrySchedule is the delay before each retry of a notification as
// WeChat Pay documents it (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h).
var wechatRetrySchedule = [...]time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 60 * time.Minute,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// Trade states as WeChat names them.
const (
	StateNotPay  = "NOTPAY"
	StateSuccess = "SUCCESS"
	StateClosed  = "CLOSED"
	StateRefund  = "REFUND"
)

type order struct {
	appID, description, outTradeNo, notifyURL, attach string
	total                                             int64
	timeExpire                                        time.Time // zero: WeChat's default of 2 h
	created                                           time.Time
	codeURL                                           string
	state                                             string
	transactionID                                     string
	successTime                                       time.Time
	refunded                                          int64
}

type refund struct {
	refundID, outRefundNo, outTradeNo, transactionID, notifyURL string
	refund, total                                               int64
	status                                                      string
	created, success                                            time.Time
}

// Delivery is one notification attempt as the simulator saw it.
type Delivery struct {
	NotificationID string
	EventType      string
	Attempt        int
	Status         int // HTTP status, 0 on a transport error
	Err            error
}

// Simulator is an http.Handler speaking WeChat Pay API v3 for one merchant.
type Simulator struct {
	cfg         Config
	key         *rsa.PrivateKey
	cert        *x509.Certificate
	certPEM     string
	certSerial  string
	publicKeyID string

	mu         sync.Mutex
	orders     map[string]*order
	refunds    map[string]*refund
	hold       bool
	held       []*pending
	deliveries []Delivery
	wg         sync.WaitGroup
	closed     chan struct{}
	closeOnce  sync.Once
}

type pending struct {
	id, eventType, url string
	plaintext          []byte
	at                 time.Time
}

// New makes a simulator with a fresh RSA-2048 platform key and certificate.
func New(cfg Config) (*Simulator, error) {
	if cfg.MchID == "" || cfg.AppID == "" || cfg.MerchantCertSerial == "" || cfg.MerchantPublicKey == nil {
		return nil, errors.New("wechatsim: mchid, appid, merchant certificate serial and public key are required")
	}
	if len(cfg.APIv3Key) != 32 {
		return nil, fmt.Errorf("wechatsim: the APIv3 key must be 32 bytes, got %d", len(cfg.APIv3Key))
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
		cfg.RetryCap = DefaultRetryCap
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("wechatsim: platform key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, fmt.Errorf("wechatsim: serial: %w", err)
	}
	now := cfg.WallClock()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Country: []string{"CN"}, Organization: []string{"WeChat Pay simulator"},
			OrganizationalUnit: []string{"Tenpay.com Root CA (SIMULATED)"}, CommonName: "WeChat Pay platform (simulator)",
		},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.AddDate(5, 0, 0),
		KeyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("wechatsim: platform certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("wechatsim: platform certificate: %w", err)
	}
	return &Simulator{
		cfg:         cfg,
		key:         key,
		cert:        cert,
		certPEM:     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		certSerial:  fmt.Sprintf("%X", cert.SerialNumber.Bytes()),
		publicKeyID: "PUB_KEY_ID_SIM" + fmt.Sprintf("%X", serial.Bytes()[:8]),
		orders:      map[string]*order{},
		refunds:     map[string]*refund{},
		closed:      make(chan struct{}),
	}, nil
}

// PublicKey is the WeChat Pay public key (public key mode).
func (s *Simulator) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// PublicKeyID is the ID of the WeChat Pay public key (public key mode).
func (s *Simulator) PublicKeyID() string { return s.publicKeyID }

// Certificate is the platform certificate (certificate mode).
func (s *Simulator) Certificate() *x509.Certificate { return s.cert }

// CertificateSerial is the platform certificate serial as WeChat writes it (hex, upper case).
func (s *Simulator) CertificateSerial() string { return s.certSerial }

func (s *Simulator) serial() string {
	if s.cfg.Mode == ModeCertificate {
		return s.certSerial
	}
	return s.publicKeyID
}

// Close stops sending notifications and waits for the senders to return.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.wg.Wait()
}

// HoldNotifications makes the simulator keep notifications instead of sending
// them, until ReleaseNotifications: a network that delivers late.
func (s *Simulator) HoldNotifications(hold bool) {
	s.mu.Lock()
	s.hold = hold
	s.mu.Unlock()
}

// ReleaseNotifications sends the held notifications, now signed at the current
// business time, with the usual retries.
func (s *Simulator) ReleaseNotifications() int {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	for _, p := range held {
		s.startDelivery(p)
	}
	return len(held)
}

// Deliveries lists the notification attempts made so far.
func (s *Simulator) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// Wait blocks until no notification is being sent.
func (s *Simulator) Wait() { s.wg.Wait() }

// Errors of the "pay this order" action, as the phone would show them.
var (
	ErrOrderNotFound = errors.New("wechatsim: order does not exist")
	ErrOrderExpired  = errors.New("wechatsim: order expired (time_expire passed)")
	ErrOrderClosed   = errors.New("wechatsim: order closed")
	ErrOrderPaid     = errors.New("wechatsim: order already paid")
)

// Pay stands for the clerk scanning the QR code and paying: the order becomes
// SUCCESS at the current business time and a TRANSACTION.SUCCESS notification
// goes to its notify_url.
func (s *Simulator) Pay(outTradeNo string) (transactionID string, err error) {
	return s.PayAs(outTradeNo, "")
}

// PayAs is Pay with the transaction id given (empty: a new one, as Pay).
// WeChat never gives two payments one id; tests use it to make the
// provider do so and see that the service stays consistent.
func (s *Simulator) PayAs(outTradeNo, transactionID string) (string, error) {
	s.mu.Lock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		s.mu.Unlock()
		return "", ErrOrderNotFound
	}
	now := s.cfg.Clock()
	switch {
	case o.state == StateClosed:
		s.mu.Unlock()
		return "", ErrOrderClosed
	case o.state != StateNotPay:
		s.mu.Unlock()
		return "", ErrOrderPaid
	case !now.Before(o.expiry()):
		s.mu.Unlock()
		return "", ErrOrderExpired
	}
	if transactionID == "" {
		transactionID = NewTransactionID(now)
	}
	o.state = StateSuccess
	o.transactionID = transactionID
	o.successTime = now
	plain, err := json.Marshal(s.transaction(o))
	if err != nil {
		s.mu.Unlock()
		return "", fmt.Errorf("wechatsim: %w", err)
	}
	p := &pending{id: newID(), eventType: "TRANSACTION.SUCCESS", url: o.notifyURL, plaintext: plain, at: now}
	tid := o.transactionID
	s.mu.Unlock()
	s.enqueue(p)
	return tid, nil
}

// SettleRefund completes a PROCESSING refund (the bank has paid it back) and
// sends its REFUND.SUCCESS notification.
func (s *Simulator) SettleRefund(outRefundNo string) error {
	return s.endRefund(outRefundNo, "SUCCESS")
}

// FailRefund ends a PROCESSING refund as ABNORMAL (the payer's bank card was
// closed, say) and sends its REFUND.ABNORMAL notification.
func (s *Simulator) FailRefund(outRefundNo string) error {
	return s.endRefund(outRefundNo, "ABNORMAL")
}

func (s *Simulator) endRefund(outRefundNo, status string) error {
	s.mu.Lock()
	r, ok := s.refunds[outRefundNo]
	if !ok {
		s.mu.Unlock()
		return errors.New("wechatsim: refund does not exist")
	}
	if r.status != "PROCESSING" {
		s.mu.Unlock()
		return fmt.Errorf("wechatsim: refund is %s", r.status)
	}
	r.status = status
	now := s.cfg.Clock()
	if status == "SUCCESS" {
		r.success = now
	} else if o := s.orders[r.outTradeNo]; o != nil {
		o.refunded -= r.refund // the money is back with the merchant
	}
	plain, err := json.Marshal(refundNotice(s.cfg.MchID, r))
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("wechatsim: %w", err)
	}
	p := &pending{id: newID(), eventType: "REFUND." + status, url: r.notifyURL, plaintext: plain, at: now}
	s.mu.Unlock()
	if r.notifyURL != "" {
		s.enqueue(p)
	}
	return nil
}

func (o *order) expiry() time.Time {
	if o.timeExpire.IsZero() {
		return o.created.Add(2 * time.Hour)
	}
	return o.timeExpire
}

func (s *Simulator) enqueue(p *pending) {
	if p.url == "" {
		return
	}
	s.mu.Lock()
	if s.hold {
		s.held = append(s.held, p)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.startDelivery(p)
}

func (s *Simulator) startDelivery(p *pending) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		delay := s.cfg.RetryBase
		for attempt := 1; attempt <= s.cfg.MaxAttempts; attempt++ {
			if s.cfg.RetryBase <= 0 {
				delay = wechatRetrySchedule[min(attempt-1, len(wechatRetrySchedule)-1)]
			}
			status, err := s.deliverOnce(p)
			s.mu.Lock()
			s.deliveries = append(s.deliveries, Delivery{NotificationID: p.id, EventType: p.eventType, Attempt: attempt, Status: status, Err: err})
			s.mu.Unlock()
			if err == nil && status >= 200 && status < 300 {
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

func (s *Simulator) deliverOnce(p *pending) (int, error) {
	// Each attempt is signed afresh at the current business time, as WeChat does.
	req, err := s.NewNotification(p.url, p.id, p.eventType, p.plaintext, s.cfg.Clock())
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	resp, err := s.cfg.NotifyClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// NewNotification builds a notification request exactly as WeChat sends it:
// plaintext (a transaction or refund JSON) encrypted with the APIv3 key, the
// body signed with the platform key at timestamp at. Tests use it to send
// genuinely signed notifications with chosen content.
func (s *Simulator) NewNotification(url, id, eventType string, plaintext []byte, at time.Time) (*http.Request, error) {
	assoc, origType, summary := transactionAssoc, "transaction", "支付成功"
	if strings.HasPrefix(eventType, "REFUND.") {
		assoc, origType, summary = refundAssociated, "refund", "退款成功"
	}
	nonce, ct, err := s.seal(plaintext, assoc)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]any{
		"id":            id,
		"create_time":   at.Format(time.RFC3339),
		"resource_type": "encrypt-resource",
		"event_type":    eventType,
		"summary":       summary,
		"resource": map[string]string{
			"original_type":   origType,
			"algorithm":       notifyAlgorithm,
			"ciphertext":      ct,
			"associated_data": assoc,
			"nonce":           nonce,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("wechatsim: %w", err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("wechatsim: notification: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Wechatpay-Signature-Type", signatureType)
	if err := s.signHeaders(req.Header, body, at); err != nil {
		return nil, err
	}
	return req, nil
}

func (s *Simulator) seal(plaintext []byte, assoc string) (nonce, ciphertext string, err error) {
	block, err := aes.NewCipher([]byte(s.cfg.APIv3Key))
	if err != nil {
		return "", "", fmt.Errorf("wechatsim: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", "", fmt.Errorf("wechatsim: %w", err)
	}
	nonce = randomString(12) // WeChat's nonce: 12 printable characters used as the GCM nonce bytes
	ct := gcm.Seal(nil, []byte(nonce), plaintext, []byte(assoc))
	return nonce, base64.StdEncoding.EncodeToString(ct), nil
}

func (s *Simulator) signHeaders(h http.Header, body []byte, at time.Time) error {
	ts := strconv.FormatInt(at.Unix(), 10)
	nonce := randomString(32)
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return fmt.Errorf("wechatsim: sign: %w", err)
	}
	h.Set("Wechatpay-Serial", s.serial())
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
	return nil
}

const nonceSymbols = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = nonceSymbols[int(b[i])%len(nonceSymbols)]
	}
	return string(b)
}

// beijing is the time zone of the dates in WeChat Pay's ids.
var beijing = time.FixedZone("CST", 8*3600)

// NewTransactionID is a transaction id as WeChat Pay gives them: 28
// digits, "4200", 6 digits, the date in Beijing (yyyyMMdd), 10 digits. The
// 16 digits around the date come from crypto/rand, so ids of a simulator
// started again the same day do not repeat those of the last one (a
// counter from 1 did, and the service's unique transaction_id refused the
// payment).
func NewTransactionID(now time.Time) string {
	return "4200" + randomDigits(6) + now.In(beijing).Format("20060102") + randomDigits(10)
}

// randomDigits is n decimal digits from crypto/rand.
func randomDigits(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	for i := range b {
		b[i] = '0' + b[i]%10 // the bias of 256 mod 10 is of no matter for an id
	}
	return string(b)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ---- HTTP ----

type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func fail(status int, code, msg string) *apiError { return &apiError{status, code, msg} }

var (
	outTradeNoRe = regexp.MustCompile(`^[A-Za-z0-9_\-|*]{6,32}$`)
	outRefundRe  = regexp.MustCompile(`^[A-Za-z0-9_\-|*@]{1,64}$`)
	authParamRe  = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// ServeHTTP implements the v3 API and the /sim/ dev endpoints.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		s.reply(w, 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "cannot read body"))
		return
	}
	if len(body) > MaxBodyBytes {
		s.reply(w, 0, nil, fail(http.StatusRequestEntityTooLarge, "PARAM_ERROR", "body too large"))
		return
	}
	if strings.HasPrefix(r.URL.Path, "/sim/") {
		s.serveDev(w, r)
		return
	}
	if err := s.checkAuth(r, body); err != nil {
		s.reply(w, 0, nil, err)
		return
	}
	status, out, aerr := s.route(r, body)
	s.reply(w, status, out, aerr)
}

func (s *Simulator) serveDev(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var err error
	switch r.URL.Path {
	case "/sim/pay":
		_, err = s.Pay(r.URL.Query().Get("out_trade_no"))
	case "/sim/refunds/settle":
		err = s.SettleRefund(r.URL.Query().Get("out_refund_no"))
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) checkAuth(r *http.Request, body []byte) *apiError {
	h := r.Header.Get("Authorization")
	scheme, params, ok := strings.Cut(h, " ")
	if !ok || scheme != signatureType {
		return fail(http.StatusUnauthorized, "SIGN_ERROR", "Authorization scheme must be "+signatureType)
	}
	p := map[string]string{}
	for _, m := range authParamRe.FindAllStringSubmatch(params, -1) {
		p[m[1]] = m[2]
	}
	if p["mchid"] != s.cfg.MchID {
		return fail(http.StatusUnauthorized, "SIGN_ERROR", "mchid in Authorization does not match")
	}
	if p["serial_no"] != s.cfg.MerchantCertSerial {
		return fail(http.StatusUnauthorized, "SIGN_ERROR", "unknown merchant certificate serial_no")
	}
	ts, err := strconv.ParseInt(p["timestamp"], 10, 64)
	if err != nil {
		return fail(http.StatusUnauthorized, "SIGN_ERROR", "bad timestamp")
	}
	if d := s.cfg.WallClock().Sub(time.Unix(ts, 0)); d > SignatureSkew || d < -SignatureSkew {
		return fail(http.StatusUnauthorized, "SIGN_ERROR", "timestamp too far from the current time")
	}
	if p["nonce_str"] == "" {
		return fail(http.StatusUnauthorized, "SIGN_ERROR", "nonce_str missing")
	}
	sig, err := base64.StdEncoding.DecodeString(p["signature"])
	if err != nil {
		return fail(http.StatusUnauthorized, "SIGN_ERROR", "signature is not base64")
	}
	msg := r.Method + "\n" + r.URL.RequestURI() + "\n" + p["timestamp"] + "\n" + p["nonce_str"] + "\n" + string(body) + "\n"
	sum := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(s.cfg.MerchantPublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return fail(http.StatusUnauthorized, "SIGN_ERROR", "signature verification failed")
	}
	return nil
}

func (s *Simulator) reply(w http.ResponseWriter, status int, out any, aerr *apiError) {
	var body []byte
	if aerr != nil {
		status = aerr.status
		body, _ = json.Marshal(map[string]string{"code": aerr.code, "message": aerr.message})
	} else if out != nil {
		var err error
		if body, err = json.Marshal(out); err != nil {
			status = http.StatusInternalServerError
			body = []byte(`{"code":"SYSTEM_ERROR","message":"encode"}`)
		}
	}
	if err := s.signHeaders(w.Header(), body, s.cfg.WallClock()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Request-Id", newID())
	if len(body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Simulator) route(r *http.Request, body []byte) (int, any, *apiError) {
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/v3/pay/transactions/native":
		return s.createNative(body)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v3/pay/transactions/out-trade-no/"):
		if r.URL.Query().Get("mchid") != s.cfg.MchID {
			return 0, nil, fail(http.StatusBadRequest, "MCH_NOT_EXISTS", "mchid does not match")
		}
		return s.query(strings.TrimPrefix(path, "/v3/pay/transactions/out-trade-no/"))
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/v3/pay/transactions/out-trade-no/") && strings.HasSuffix(path, "/close"):
		no := strings.TrimSuffix(strings.TrimPrefix(path, "/v3/pay/transactions/out-trade-no/"), "/close")
		return s.closeOrder(no, body)
	case r.Method == http.MethodPost && path == "/v3/refund/domestic/refunds":
		return s.createRefund(body)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v3/refund/domestic/refunds/"):
		return s.queryRefund(strings.TrimPrefix(path, "/v3/refund/domestic/refunds/"))
	case r.Method == http.MethodGet && path == "/v3/certificates":
		return s.certificates()
	}
	return 0, nil, fail(http.StatusNotFound, "NOT_FOUND", "no such API in the simulator")
}

func decodeStrict(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fail(http.StatusBadRequest, "PARAM_ERROR", "body is not valid JSON: "+err.Error())
	}
	return nil
}

func (s *Simulator) createNative(body []byte) (int, any, *apiError) {
	var req struct {
		AppID       string  `json:"appid"`
		MchID       string  `json:"mchid"`
		Description string  `json:"description"`
		OutTradeNo  string  `json:"out_trade_no"`
		TimeExpire  *string `json:"time_expire"`
		Attach      string  `json:"attach"`
		NotifyURL   string  `json:"notify_url"`
		Amount      *struct {
			Total    *int64 `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return 0, nil, e
	}
	switch {
	case req.MchID != s.cfg.MchID:
		return 0, nil, fail(http.StatusBadRequest, "MCH_NOT_EXISTS", "mchid does not match the signer")
	case req.AppID != s.cfg.AppID:
		return 0, nil, fail(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid is not bound to mchid")
	case req.Description == "" || len(req.Description) > maxDescriptionBytes:
		return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "description must be 1..127 bytes")
	case !outTradeNoRe.MatchString(req.OutTradeNo):
		return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "out_trade_no must be 6..32 of [A-Za-z0-9_-|*]")
	case !strings.HasPrefix(req.NotifyURL, "https://") && !strings.HasPrefix(req.NotifyURL, "http://"):
		return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "notify_url must be an absolute URL")
	case req.Amount == nil || req.Amount.Total == nil || *req.Amount.Total <= 0:
		return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "amount.total must be a positive number of fen")
	case req.Amount.Currency != "" && req.Amount.Currency != "CNY":
		return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "currency must be CNY")
	}
	now := s.cfg.Clock()
	var expire time.Time
	if req.TimeExpire != nil {
		t, err := time.Parse(time.RFC3339, *req.TimeExpire)
		if err != nil {
			return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "time_expire must be RFC 3339")
		}
		if !t.After(now) {
			return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "time_expire is in the past")
		}
		expire = t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[req.OutTradeNo]; ok {
		switch o.state {
		case StateClosed:
			return 0, nil, fail(http.StatusBadRequest, "ORDER_CLOSED", "order closed")
		case StateSuccess, StateRefund:
			return 0, nil, fail(http.StatusBadRequest, "ORDERPAID", "order already paid")
		}
		if o.total != *req.Amount.Total || o.description != req.Description {
			return 0, nil, fail(http.StatusBadRequest, "OUT_TRADE_NO_USED", "out_trade_no used with other parameters")
		}
		return http.StatusOK, map[string]string{"code_url": o.codeURL}, nil
	}
	o := &order{
		appID: req.AppID, description: req.Description, outTradeNo: req.OutTradeNo, notifyURL: req.NotifyURL,
		attach: req.Attach, total: *req.Amount.Total, timeExpire: expire, created: now,
		codeURL: codeURLPrefix + randomString(16), state: StateNotPay,
	}
	s.orders[o.outTradeNo] = o
	return http.StatusOK, map[string]string{"code_url": o.codeURL}, nil
}

type txAmount struct {
	Total         int64  `json:"total"`
	PayerTotal    *int64 `json:"payer_total,omitempty"`
	Currency      string `json:"currency"`
	PayerCurrency string `json:"payer_currency"`
}

type payer struct {
	OpenID string `json:"openid"`
}

type transaction struct {
	AppID          string   `json:"appid"`
	MchID          string   `json:"mchid"`
	OutTradeNo     string   `json:"out_trade_no"`
	TransactionID  string   `json:"transaction_id,omitempty"`
	TradeType      string   `json:"trade_type,omitempty"`
	TradeState     string   `json:"trade_state"`
	TradeStateDesc string   `json:"trade_state_desc"`
	BankType       string   `json:"bank_type,omitempty"`
	Attach         string   `json:"attach"`
	SuccessTime    string   `json:"success_time,omitempty"`
	Payer          *payer   `json:"payer,omitempty"`
	Amount         txAmount `json:"amount"`
}

func (s *Simulator) transaction(o *order) transaction {
	t := transaction{
		AppID: o.appID, MchID: s.cfg.MchID, OutTradeNo: o.outTradeNo, TradeState: o.state,
		Attach: o.attach, Amount: txAmount{Total: o.total, Currency: "CNY", PayerCurrency: "CNY"},
	}
	switch o.state {
	case StateNotPay:
		t.TradeStateDesc = "订单未支付"
	case StateClosed:
		t.TradeStateDesc = "订单已关闭"
	case StateSuccess, StateRefund:
		t.TradeStateDesc = "支付成功"
		if o.state == StateRefund {
			t.TradeStateDesc = "转入退款"
		}
		t.TransactionID = o.transactionID
		t.TradeType = "NATIVE"
		t.BankType = "OTHERS"
		t.SuccessTime = o.successTime.Format(time.RFC3339)
		t.Payer = &payer{OpenID: "oSIM" + o.transactionID[len(o.transactionID)-8:]}
		pt := o.total
		t.Amount.PayerTotal = &pt
	}
	return t
}

func (s *Simulator) query(no string) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[no]
	if !ok {
		return 0, nil, fail(http.StatusNotFound, "ORDER_NOT_EXIST", "order does not exist")
	}
	return http.StatusOK, s.transaction(o), nil
}

func (s *Simulator) closeOrder(no string, body []byte) (int, any, *apiError) {
	var req struct {
		MchID string `json:"mchid"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return 0, nil, e
	}
	if req.MchID != s.cfg.MchID {
		return 0, nil, fail(http.StatusBadRequest, "MCH_NOT_EXISTS", "mchid does not match")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[no]
	if !ok {
		return 0, nil, fail(http.StatusNotFound, "ORDER_NOT_EXIST", "order does not exist")
	}
	if o.state == StateSuccess || o.state == StateRefund {
		return 0, nil, fail(http.StatusBadRequest, "ORDERPAID", "order already paid")
	}
	o.state = StateClosed
	return http.StatusNoContent, nil, nil
}

type refundAmount struct {
	Total            int64  `json:"total"`
	Refund           int64  `json:"refund"`
	PayerTotal       int64  `json:"payer_total"`
	PayerRefund      int64  `json:"payer_refund"`
	SettlementRefund int64  `json:"settlement_refund"`
	SettlementTotal  int64  `json:"settlement_total"`
	DiscountRefund   int64  `json:"discount_refund"`
	Currency         string `json:"currency"`
}

func refundJSON(r *refund) map[string]any {
	m := map[string]any{
		"refund_id": r.refundID, "out_refund_no": r.outRefundNo, "transaction_id": r.transactionID,
		"out_trade_no": r.outTradeNo, "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
		"create_time": r.created.Format(time.RFC3339), "status": r.status,
		"amount": refundAmount{Total: r.total, Refund: r.refund, PayerTotal: r.total, PayerRefund: r.refund,
			SettlementRefund: r.refund, SettlementTotal: r.total, Currency: "CNY"},
	}
	if !r.success.IsZero() {
		m["success_time"] = r.success.Format(time.RFC3339)
	}
	return m
}

func refundNotice(mchID string, r *refund) map[string]any {
	m := map[string]any{
		"mchid": mchID, "out_trade_no": r.outTradeNo, "transaction_id": r.transactionID,
		"out_refund_no": r.outRefundNo, "refund_id": r.refundID, "refund_status": r.status,
		"user_received_account": "支付用户零钱",
		"amount":                map[string]int64{"total": r.total, "refund": r.refund, "payer_total": r.total, "payer_refund": r.refund},
	}
	if !r.success.IsZero() {
		m["success_time"] = r.success.Format(time.RFC3339)
	}
	return m
}

func (s *Simulator) createRefund(body []byte) (int, any, *apiError) {
	var req struct {
		TransactionID string `json:"transaction_id"`
		OutTradeNo    string `json:"out_trade_no"`
		OutRefundNo   string `json:"out_refund_no"`
		Reason        string `json:"reason"`
		NotifyURL     string `json:"notify_url"`
		Amount        *struct {
			Refund   *int64 `json:"refund"`
			Total    *int64 `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
	}
	if e := decodeStrict(body, &req); e != nil {
		return 0, nil, e
	}
	if !outRefundRe.MatchString(req.OutRefundNo) {
		return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "out_refund_no must be 1..64 of [A-Za-z0-9_-|*@]")
	}
	if req.Amount == nil || req.Amount.Refund == nil || req.Amount.Total == nil || *req.Amount.Refund <= 0 || req.Amount.Currency != "CNY" {
		return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "amount.refund, amount.total and currency CNY are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.refunds[req.OutRefundNo]; ok {
		// WeChat answers a repeated out_refund_no with the existing refund.
		return http.StatusOK, refundJSON(r), nil
	}
	var o *order
	if req.OutTradeNo != "" {
		o = s.orders[req.OutTradeNo]
	} else {
		for _, c := range s.orders {
			if c.transactionID != "" && c.transactionID == req.TransactionID {
				o = c
			}
		}
	}
	if o == nil {
		return 0, nil, fail(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "order does not exist")
	}
	if o.state != StateSuccess && o.state != StateRefund {
		return 0, nil, fail(http.StatusBadRequest, "INVALID_REQUEST", "order is not paid")
	}
	if *req.Amount.Total != o.total {
		return 0, nil, fail(http.StatusBadRequest, "PARAM_ERROR", "amount.total differs from the order")
	}
	if o.refunded+*req.Amount.Refund > o.total {
		return 0, nil, fail(http.StatusBadRequest, "NOT_ENOUGH", "refund exceeds the amount left")
	}
	now := s.cfg.Clock()
	if now.Sub(o.successTime) > 365*24*time.Hour {
		return 0, nil, fail(http.StatusBadRequest, "INVALID_REQUEST", "order paid more than one year ago")
	}
	r := &refund{
		refundID: "5030" + randomDigits(6) + now.In(beijing).Format("20060102") + randomDigits(11), outRefundNo: req.OutRefundNo,
		outTradeNo: o.outTradeNo, transactionID: o.transactionID, notifyURL: req.NotifyURL,
		refund: *req.Amount.Refund, total: o.total, status: "PROCESSING", created: now,
	}
	o.refunded += r.refund
	o.state = StateRefund
	s.refunds[r.outRefundNo] = r
	return http.StatusOK, refundJSON(r), nil
}

func (s *Simulator) queryRefund(no string) (int, any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refunds[no]
	if !ok {
		return 0, nil, fail(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "refund does not exist")
	}
	return http.StatusOK, refundJSON(r), nil
}

func (s *Simulator) certificates() (int, any, *apiError) {
	nonce, ct, err := s.seal([]byte(s.certPEM), certificateAssoc)
	if err != nil {
		return 0, nil, fail(http.StatusInternalServerError, "SYSTEM_ERROR", "seal certificate")
	}
	return http.StatusOK, map[string]any{"data": []map[string]any{{
		"serial_no":      s.certSerial,
		"effective_time": s.cert.NotBefore.Format(time.RFC3339),
		"expire_time":    s.cert.NotAfter.Format(time.RFC3339),
		"encrypt_certificate": map[string]string{
			"algorithm": notifyAlgorithm, "nonce": nonce, "associated_data": certificateAssoc, "ciphertext": ct,
		},
	}}}, nil
}
