package wechatsim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/downloader"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/server/payment/wechatsim"
)

const (
	mchID    = "1900000109"
	appID    = "wxd678efh567hg6787"
	mchSer   = "3775B6A45ACD588826D15E583A95F5DD3B6AFE17"
	apiV3Key = "0123456789abcdef0123456789abcdef"
)

// rewrite sends the SDK's https://api.mch.weixin.qq.com requests to the simulator.
type rewrite struct {
	base *url.URL
	next http.RoundTripper
}

func (t rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, t.base.Host
	return t.next.RoundTrip(r)
}

type fixture struct {
	sim    *wechatsim.Simulator
	srv    *httptest.Server
	mchKey *rsa.PrivateKey
	http   *http.Client
	now    *fakeclock.Clock
}

func newFixture(t *testing.T, mode wechatsim.Mode, notifyTo *http.Client) *fixture {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	clk := fakeclock.New(time.Now())
	sim, err := wechatsim.New(wechatsim.Config{
		MchID: mchID, AppID: appID, MerchantCertSerial: mchSer, MerchantPublicKey: &key.PublicKey,
		APIv3Key: apiV3Key, Mode: mode, Clock: clk.Now, NotifyClient: notifyTo,
		MaxAttempts: 3, RetryBase: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	u, _ := url.Parse(srv.URL)
	return &fixture{sim: sim, srv: srv, mchKey: key, now: clk,
		http: &http.Client{Timeout: 5 * time.Second, Transport: rewrite{base: u, next: srv.Client().Transport}}}
}

func (f *fixture) client(t *testing.T, mode wechatsim.Mode) *core.Client {
	t.Helper()
	ctx := context.Background()
	var opts []core.ClientOption
	if mode == wechatsim.ModePublicKey {
		opts = append(opts, option.WithWechatPayPublicKeyAuthCipher(mchID, mchSer, f.mchKey, f.sim.PublicKeyID(), f.sim.PublicKey()))
	} else {
		// The SDK's own downloader fetches and decrypts the platform certificate.
		dl, err := core.NewClient(ctx, option.WithMerchantCredential(mchID, mchSer, f.mchKey), option.WithoutValidator(), option.WithHTTPClient(f.http))
		if err != nil {
			t.Fatal(err)
		}
		d, err := downloader.NewCertificateDownloaderWithClient(ctx, dl, apiV3Key)
		if err != nil {
			t.Fatalf("SDK downloader refused the simulator's certificates: %v", err)
		}
		if _, ok := d.Get(ctx, f.sim.CertificateSerial()); !ok {
			t.Fatalf("downloaded certificates lack serial %s", f.sim.CertificateSerial())
		}
		opts = append(opts, option.WithMerchantCredential(mchID, mchSer, f.mchKey),
			option.WithVerifier(verifiers.NewSHA256WithRSAVerifier(d)))
	}
	opts = append(opts, option.WithHTTPClient(f.http))
	c, err := core.NewClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSDKAcceptsSimulator(t *testing.T) {
	for _, mode := range []wechatsim.Mode{wechatsim.ModePublicKey, wechatsim.ModeCertificate} {
		t.Run(map[wechatsim.Mode]string{0: "public_key", 1: "certificate"}[mode], func(t *testing.T) {
			got := make(chan *http.Request, 4)
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				r2 := r.Clone(context.Background())
				r2.Body = io.NopCloser(strings.NewReader(string(body)))
				got <- r2
				w.WriteHeader(http.StatusNoContent)
			}))
			defer recv.Close()
			f := newFixture(t, mode, recv.Client())
			c := f.client(t, mode)
			ctx := context.Background()
			nat := native.NativeApiService{Client: c}
			exp := f.now.Now().Add(300 * time.Second)
			resp, _, err := nat.Prepay(ctx, native.PrepayRequest{
				Appid: core.String(appID), Mchid: core.String(mchID), Description: core.String("证书续期"),
				OutTradeNo: core.String("UKR000001"), TimeExpire: &exp, NotifyUrl: core.String(recv.URL + "/notify"),
				Amount: &native.Amount{Total: core.Int64(30000), Currency: core.String("CNY")},
			})
			if err != nil {
				t.Fatalf("prepay: %v", err)
			}
			if !strings.HasPrefix(*resp.CodeUrl, "weixin://wxpay/bizpayurl?pr=") {
				t.Fatalf("code_url %q", *resp.CodeUrl)
			}
			tx, _, err := nat.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("UKR000001"), Mchid: core.String(mchID)})
			if err != nil || *tx.TradeState != "NOTPAY" {
				t.Fatalf("query: %v %v", err, tx)
			}
			tid, err := f.sim.Pay("UKR000001")
			if err != nil {
				t.Fatal(err)
			}
			// The SDK's notify handler accepts the notification.
			var req *http.Request
			select {
			case req = <-got:
			case <-time.After(5 * time.Second):
				t.Fatal("no notification")
			}
			var verifier interface {
				Verify(ctx context.Context, serial, message, signature string) error
				GetSerial(ctx context.Context) (string, error)
			}
			if mode == wechatsim.ModePublicKey {
				verifier = verifiers.NewSHA256WithRSAPubkeyVerifier(f.sim.PublicKeyID(), *f.sim.PublicKey())
			} else {
				verifier = verifiers.NewSHA256WithRSAVerifier(core.NewCertificateMapWithList([]*x509.Certificate{f.sim.Certificate()}))
			}
			h, err := notify.NewRSANotifyHandler(apiV3Key, verifier)
			if err != nil {
				t.Fatal(err)
			}
			var ptx payments.Transaction
			n, err := h.ParseNotifyRequest(ctx, req, &ptx)
			if err != nil {
				t.Fatalf("SDK refused the notification: %v", err)
			}
			if n.EventType != "TRANSACTION.SUCCESS" || *ptx.TransactionId != tid || *ptx.Amount.Total != 30000 || *ptx.Mchid != mchID || *ptx.Appid != appID {
				t.Fatalf("notification %+v %+v", n, ptx)
			}
			// Close of a paid order is refused with ORDERPAID.
			_, err = nat.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String("UKR000001"), Mchid: core.String(mchID)})
			if !core.IsAPIError(err, "ORDERPAID") {
				t.Fatalf("close paid: %v", err)
			}
			// Refund and its notification.
			rs := refunddomestic.RefundsApiService{Client: c}
			rf, _, err := rs.Create(ctx, refunddomestic.CreateRequest{
				OutTradeNo: core.String("UKR000001"), OutRefundNo: core.String("RF000001"), NotifyUrl: core.String(recv.URL + "/notify"),
				Amount: &refunddomestic.AmountReq{Refund: core.Int64(30000), Total: core.Int64(30000), Currency: core.String("CNY")},
			})
			if err != nil || *rf.Status != refunddomestic.STATUS_PROCESSING {
				t.Fatalf("refund: %v %v", err, rf)
			}
			if err := f.sim.SettleRefund("RF000001"); err != nil {
				t.Fatal(err)
			}
			req = <-got
			content := map[string]any{}
			if n, err = h.ParseNotifyRequest(ctx, req, &content); err != nil || n.EventType != "REFUND.SUCCESS" || content["refund_status"] != "SUCCESS" {
				t.Fatalf("refund notification: %v %v %v", err, n, content)
			}
			rq, _, err := rs.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("RF000001")})
			if err != nil || *rq.Status != refunddomestic.STATUS_SUCCESS {
				t.Fatalf("refund query: %v %v", err, rq)
			}
		})
	}
}

func TestRefusesBadMerchantSignature(t *testing.T) {
	f := newFixture(t, wechatsim.ModePublicKey, nil)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := map[string]core.ClientOption{
		"forged key":   option.WithMerchantCredential(mchID, mchSer, other),
		"wrong serial": option.WithMerchantCredential(mchID, "0000", f.mchKey),
		"wrong mchid":  option.WithMerchantCredential("1900000999", mchSer, f.mchKey),
	}
	for name, cred := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := core.NewClient(ctx, cred, option.WithVerifier(verifiers.NewSHA256WithRSAPubkeyVerifier(f.sim.PublicKeyID(), *f.sim.PublicKey())), option.WithHTTPClient(f.http))
			if err != nil {
				t.Fatal(err)
			}
			nat := native.NativeApiService{Client: c}
			_, _, err = nat.Prepay(ctx, native.PrepayRequest{
				Appid: core.String(appID), Mchid: core.String(mchID), Description: core.String("x"),
				OutTradeNo: core.String("UKR000009"), NotifyUrl: core.String("https://example.invalid/n"),
				Amount: &native.Amount{Total: core.Int64(1)},
			})
			var ae *core.APIError
			if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Code != "SIGN_ERROR" {
				t.Fatalf("want 401 SIGN_ERROR, got %v", err)
			}
		})
	}
	// A tampered body under a valid header is refused too.
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v3/pay/transactions/out-trade-no/UKR000009?mchid="+mchID, nil)
	req.Header.Set("Authorization", `WECHATPAY2-SHA256-RSA2048 mchid="`+mchID+`",nonce_str="n",timestamp="`+
		strconv.FormatInt(time.Now().Unix(), 10)+`",serial_no="`+mchSer+`",signature="AAAA"`)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("forged signature: status %d", resp.StatusCode)
	}
}

func TestBadRequestsAndTimeExpire(t *testing.T) {
	f := newFixture(t, wechatsim.ModePublicKey, nil)
	c := f.client(t, wechatsim.ModePublicKey)
	ctx := context.Background()
	nat := native.NativeApiService{Client: c}
	exp := f.now.Now().Add(300 * time.Second)
	good := func() native.PrepayRequest {
		return native.PrepayRequest{
			Appid: core.String(appID), Mchid: core.String(mchID), Description: core.String("续期"),
			OutTradeNo: core.String("UKR000100"), TimeExpire: &exp, NotifyUrl: core.String("https://127.0.0.1:1/n"),
			Amount: &native.Amount{Total: core.Int64(100)},
		}
	}
	bad := map[string]func(r *native.PrepayRequest){
		"appid":        func(r *native.PrepayRequest) { r.Appid = core.String("wx0000") },
		"mchid":        func(r *native.PrepayRequest) { r.Mchid = core.String("1") },
		"description":  func(r *native.PrepayRequest) { r.Description = core.String("") },
		"out_trade_no": func(r *native.PrepayRequest) { r.OutTradeNo = core.String("a b") },
		"notify_url":   func(r *native.PrepayRequest) { r.NotifyUrl = core.String("notify") },
		"amount":       func(r *native.PrepayRequest) { r.Amount.Total = core.Int64(0) },
		"currency":     func(r *native.PrepayRequest) { r.Amount.Currency = core.String("USD") },
	}
	for name, mut := range bad {
		r := good()
		mut(&r)
		if _, _, err := nat.Prepay(ctx, r); err == nil {
			t.Errorf("%s: bad request accepted", name)
		}
	}
	if _, _, err := nat.Prepay(ctx, good()); err != nil {
		t.Fatal(err)
	}
	f.now.Advance(300 * time.Second)
	if _, err := f.sim.Pay("UKR000100"); !errors.Is(err, wechatsim.ErrOrderExpired) {
		t.Fatalf("pay at 300 s: %v", err)
	}
	if _, err := f.sim.Pay("nope"); !errors.Is(err, wechatsim.ErrOrderNotFound) {
		t.Fatalf("pay unknown: %v", err)
	}
	if _, err := nat.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String("UKR000100"), Mchid: core.String(mchID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.Pay("UKR000100"); !errors.Is(err, wechatsim.ErrOrderClosed) {
		t.Fatalf("pay closed: %v", err)
	}
	_, _, err := nat.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("UKR999999"), Mchid: core.String(mchID)})
	if !core.IsAPIError(err, "ORDER_NOT_EXIST") {
		t.Fatalf("query unknown: %v", err)
	}
	// The dev endpoint pays like the phone.
	exp = f.now.Now().Add(300 * time.Second)
	r := good()
	r.OutTradeNo = core.String("UKR000101")
	if _, _, err := nat.Prepay(ctx, r); err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Post(f.srv.URL+"/sim/pay?out_trade_no=UKR000101", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("dev pay: %v %v", err, resp)
	}
	resp.Body.Close()
	tx, _, err := nat.QueryOrderByOutTradeNo(ctx, native.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("UKR000101"), Mchid: core.String(mchID)})
	if err != nil || *tx.TradeState != "SUCCESS" {
		t.Fatalf("after dev pay: %v %v", err, tx)
	}
	b, _ := json.Marshal(tx)
	if !strings.Contains(string(b), `"success_time"`) {
		t.Fatalf("no success_time: %s", b)
	}
}

func TestNotificationRetriesAreBounded(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer recv.Close()
	f := newFixture(t, wechatsim.ModePublicKey, recv.Client())
	c := f.client(t, wechatsim.ModePublicKey)
	exp := f.now.Now().Add(300 * time.Second)
	nat := native.NativeApiService{Client: c}
	if _, _, err := nat.Prepay(context.Background(), native.PrepayRequest{
		Appid: core.String(appID), Mchid: core.String(mchID), Description: core.String("x"),
		OutTradeNo: core.String("UKR000200"), TimeExpire: &exp, NotifyUrl: core.String(recv.URL),
		Amount: &native.Amount{Total: core.Int64(1)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.Pay("UKR000200"); err != nil {
		t.Fatal(err)
	}
	f.sim.Wait()
	d := f.sim.Deliveries()
	if calls != 3 || len(d) != 3 || d[0].NotificationID != d[2].NotificationID || d[2].Status != 500 {
		t.Fatalf("want 3 attempts of one notification, got %d calls, %+v", calls, d)
	}
}

func TestRefundAndCloseBadRequests(t *testing.T) {
	f := newFixture(t, wechatsim.ModePublicKey, nil)
	c := f.client(t, wechatsim.ModePublicKey)
	ctx := context.Background()
	nat := native.NativeApiService{Client: c}
	rs := refunddomestic.RefundsApiService{Client: c}
	exp := f.now.Now().Add(300 * time.Second)
	for _, no := range []string{"UKR000300", "UKR000301"} {
		if _, _, err := nat.Prepay(ctx, native.PrepayRequest{
			Appid: core.String(appID), Mchid: core.String(mchID), Description: core.String("x"),
			OutTradeNo: core.String(no), TimeExpire: &exp, NotifyUrl: core.String("https://127.0.0.1:1/n"),
			Amount: &native.Amount{Total: core.Int64(500)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.sim.Pay("UKR000300"); err != nil {
		t.Fatal(err)
	}
	req := func(mut func(r *refunddomestic.CreateRequest)) refunddomestic.CreateRequest {
		r := refunddomestic.CreateRequest{OutTradeNo: core.String("UKR000300"), OutRefundNo: core.String("RF300"),
			Amount: &refunddomestic.AmountReq{Refund: core.Int64(500), Total: core.Int64(500), Currency: core.String("CNY")}}
		mut(&r)
		return r
	}
	for name, c := range map[string]struct {
		mut  func(r *refunddomestic.CreateRequest)
		code string
	}{
		"unpaid order":  {func(r *refunddomestic.CreateRequest) { r.OutTradeNo = core.String("UKR000301") }, "INVALID_REQUEST"},
		"unknown order": {func(r *refunddomestic.CreateRequest) { r.OutTradeNo = core.String("UKR999") }, "RESOURCE_NOT_EXISTS"},
		"wrong total":   {func(r *refunddomestic.CreateRequest) { r.Amount.Total = core.Int64(499) }, "PARAM_ERROR"},
		"too much":      {func(r *refunddomestic.CreateRequest) { r.Amount.Refund = core.Int64(501) }, "NOT_ENOUGH"},
		"zero":          {func(r *refunddomestic.CreateRequest) { r.Amount.Refund = core.Int64(0) }, "PARAM_ERROR"},
		"currency":      {func(r *refunddomestic.CreateRequest) { r.Amount.Currency = core.String("USD") }, "PARAM_ERROR"},
		"bad refund no": {func(r *refunddomestic.CreateRequest) { r.OutRefundNo = core.String("a b") }, "PARAM_ERROR"},
	} {
		if _, _, err := rs.Create(ctx, req(c.mut)); !core.IsAPIError(err, c.code) {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
	// A repeated out_refund_no gives the same refund, not a second one.
	r1, _, err := rs.Create(ctx, req(func(*refunddomestic.CreateRequest) {}))
	if err != nil {
		t.Fatal(err)
	}
	r2, _, err := rs.Create(ctx, req(func(*refunddomestic.CreateRequest) {}))
	if err != nil || *r2.RefundId != *r1.RefundId {
		t.Fatalf("repeated refund: %v %v %v", err, r1, r2)
	}
	if _, _, err := rs.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("RF404")}); !core.IsAPIError(err, "RESOURCE_NOT_EXISTS") {
		t.Fatalf("unknown refund: %v", err)
	}
	if _, err := nat.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String("UKR404"), Mchid: core.String(mchID)}); !core.IsAPIError(err, "ORDER_NOT_EXIST") {
		t.Fatalf("close unknown: %v", err)
	}
	if _, err := nat.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String("UKR000301"), Mchid: core.String("1")}); !core.IsAPIError(err, "MCH_NOT_EXISTS") {
		t.Fatalf("close with another mchid: %v", err)
	}
	if _, err := nat.CloseOrder(ctx, native.CloseOrderRequest{OutTradeNo: core.String("UKR000301"), Mchid: core.String(mchID)}); err != nil {
		t.Fatal(err)
	}
	// Reusing a closed out_trade_no is refused.
	if _, _, err := nat.Prepay(ctx, native.PrepayRequest{
		Appid: core.String(appID), Mchid: core.String(mchID), Description: core.String("x"),
		OutTradeNo: core.String("UKR000301"), TimeExpire: &exp, NotifyUrl: core.String("https://127.0.0.1:1/n"),
		Amount: &native.Amount{Total: core.Int64(500)},
	}); !core.IsAPIError(err, "ORDER_CLOSED") {
		t.Fatalf("reuse closed: %v", err)
	}
	if err := f.sim.SettleRefund("RF404"); err == nil {
		t.Fatal("settled an unknown refund")
	}
}

func TestTransportTimestampsFiveMinutesOff(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func(offset time.Duration) error {
		sim, err := wechatsim.New(wechatsim.Config{MchID: mchID, AppID: appID, MerchantCertSerial: mchSer, MerchantPublicKey: &key.PublicKey,
			APIv3Key: apiV3Key, WallClock: func() time.Time { return time.Now().Add(offset) }})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		srv := httptest.NewTLSServer(sim)
		defer srv.Close()
		u, _ := url.Parse(srv.URL)
		hc := &http.Client{Timeout: 5 * time.Second, Transport: rewrite{base: u, next: srv.Client().Transport}}
		c, err := core.NewClient(ctx, option.WithWechatPayPublicKeyAuthCipher(mchID, mchSer, key, sim.PublicKeyID(), sim.PublicKey()), option.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		nat := native.NativeApiService{Client: c}
		_, _, err = nat.Prepay(ctx, native.PrepayRequest{
			Appid: core.String(appID), Mchid: core.String(mchID), Description: core.String("x"),
			OutTradeNo: core.String("UKR000001"), NotifyUrl: core.String("https://127.0.0.1:1/n"),
			Amount: &native.Amount{Total: core.Int64(1)},
		})
		return err
	}
	// A simulator clock exactly 5 minutes slow still takes the SDK's
	// request (whole-second timestamps), but its answer, stamped 5 minutes
	// ago, is refused by the SDK's own validator.
	err = call(-5 * time.Minute)
	var ae *core.APIError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "expires") {
		t.Fatalf("answer stamped 5 minutes ago: %v", err)
	}
	// Further off, the simulator refuses the request, as WeChat does.
	err = call(-6 * time.Minute)
	if !errors.As(err, &ae) || ae.Code != "SIGN_ERROR" {
		t.Fatalf("request 6 minutes ahead of the simulator: %v", err)
	}
	if err := call(0); err != nil {
		t.Fatalf("in step: %v", err)
	}
}
