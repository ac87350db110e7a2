package payment_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/payment/alipaysim"
	"github.com/ukeyrenew/ukeyrenew/server/payment/wechatsim"
)

func TestAlipayPayRefundAndReplays(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{alipay: true})
		e.addApp("A1")
		o, err := e.pay.NewQRWith(e.ctx, "A1", 2, "alipay")
		if err != nil {
			t.Fatal(err)
		}
		if o.Provider != "alipay" || o.AmountFen != 550_00 || !strings.HasPrefix(o.CodeURL, "https://qr.alipay.com/") {
			t.Fatalf("order %+v", o)
		}
		// Unscanned: no trade at Alipay yet, the poll says unpaid.
		if st, err := e.pay.Status(e.ctx, "A1"); err != nil || st.Stale || st.State != "unpaid" {
			t.Fatalf("status before scan: %v %+v", err, st)
		}
		if _, err := e.ali.Pay(o.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		e.waitFor("credit", func() bool { _, c := e.app("A1"); return c == 1 })
		e.ali.Wait()
		d := e.ali.Deliveries()
		if len(d) != 1 || d[0].Body != "success" || d[0].Status != 200 {
			t.Fatalf("deliveries %+v", d)
		}
		// The same notification again: "success", nothing credited.
		v := url.Values{"notify_id": {d[0].NotifyID}, "app_id": {testAliAppID}, "seller_id": {testSellerID}, "out_trade_no": {o.OutTradeNo},
			"trade_no": {"2026X"}, "trade_status": {"TRADE_SUCCESS"}, "total_amount": {"550.00"}, "gmt_payment": {"2026-11-23 22:00:00"}}
		req, _ := e.ali.NewNotification(e.recv.URL+"/v1/payments/notify/alipay", v)
		if s, b := send(t, req); s != 200 || b != "success" {
			t.Fatalf("replay: %d %q", s, b)
		}
		if _, c := e.app("A1"); c != 1 {
			t.Fatalf("credits %d", c)
		}
		// Cancel: Alipay refunds synchronously; its TRADE_CLOSED notice is a no-op.
		rf, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "A1", Role: renewal.RoleClerk, Actor: "u1", Reason: "不需要了"})
		if err != nil || rf.State != payment.RefundStateSuccess {
			t.Fatalf("cancel: %v %+v", err, rf)
		}
		if s, _ := e.app("A1"); s != "refunded" {
			t.Fatalf("app %s", s)
		}
		e.ali.Wait()
		if d := e.ali.Deliveries(); len(d) != 2 || d[1].Body != "success" {
			t.Fatalf("refund notice deliveries %+v", d)
		}
		if e.auditCount("refund.success") != 1 || e.auditCount("payment.credited") != 1 {
			t.Fatal("audit counts")
		}
		tx, err := e.aliPr.Query(e.ctx, o.OutTradeNo)
		if err != nil || tx.TradeState != payment.TradeRefund {
			t.Fatalf("alipay side: %v %+v", err, tx)
		}
	})
}

func TestAlipayExpiryAndClose(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{alipay: true})
		e.addApp("A1")
		start := e.clock.Now()
		o, err := e.pay.NewQRWith(e.ctx, "A1", 1, "alipay")
		if err != nil {
			t.Fatal(err)
		}
		// Scanned but not paid at 299 s: the trade exists; closed at 300 s.
		e.clock.Set(start.Add(299 * time.Second))
		if err := e.ali.Scan(o.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(start.Add(300 * time.Second))
		if n, err := e.pay.ExpireDue(e.ctx); err != nil || n != 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		if got, _ := e.pay.Order(e.ctx, o.OutTradeNo); got.State != payment.OrderClosed {
			t.Fatalf("order %s", got.State)
		}
		if tx, err := e.aliPr.Query(e.ctx, o.OutTradeNo); err != nil || tx.TradeState != payment.TradeClosed {
			t.Fatalf("alipay side: %v %+v", err, tx)
		}
		// A new, unscanned attempt expires without a trade at Alipay.
		n, err := e.pay.NewQRWith(e.ctx, "A1", 1, "alipay")
		if err != nil || n.OutTradeNo == o.OutTradeNo {
			t.Fatalf("new attempt: %v %+v", err, n)
		}
		e.clock.Set(n.ExpiresAt.Add(time.Second))
		if _, err := e.pay.ExpireDue(e.ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ali.Pay(n.OutTradeNo); !errors.Is(err, alipaysim.ErrExpired) {
			t.Fatalf("pay at 301 s: %v", err)
		}
		// Close of a paid trade says so.
		e.clock.Set(e.clock.Now().Add(time.Second))
		m, err := e.pay.NewQRWith(e.ctx, "A1", 1, "alipay")
		if err != nil {
			t.Fatal(err)
		}
		e.ali.Scan(m.OutTradeNo)
		if err := e.aliPr.Close(e.ctx, m.OutTradeNo); err != nil {
			t.Fatalf("close scanned: %v", err)
		}
		if _, err := e.ali.Pay(m.OutTradeNo); !errors.Is(err, alipaysim.ErrClosed) {
			t.Fatalf("pay closed: %v", err)
		}
	})
}

func TestSwitchingProviderClosesTheLiveQR(t *testing.T) {
	e := newEnv(t, dbCases[0], envOpts{alipay: true})
	e.addApp("A1")
	w, err := e.pay.NewQR(e.ctx, "A1", 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.pay.NewQRWith(e.ctx, "A1", 1, "alipay")
	if err != nil || a.Provider != "alipay" {
		t.Fatalf("switch: %v %+v", err, a)
	}
	if _, err := e.sim.Pay(w.OutTradeNo); !errors.Is(err, wechatsim.ErrOrderClosed) {
		t.Fatalf("the WeChat QR is still payable: %v", err)
	}
	if _, err := e.pay.NewQRWith(e.ctx, "A1", 1, "paypal"); !errors.Is(err, payment.ErrInvalid) {
		t.Fatalf("unknown provider: %v", err)
	}
}

func TestAlipayBadNotificationsAndSignatures(t *testing.T) {
	e := newEnv(t, dbCases[0], envOpts{alipay: true})
	e.addApp("A1")
	o, err := e.pay.NewQRWith(e.ctx, "A1", 1, "alipay")
	if err != nil {
		t.Fatal(err)
	}
	base := func() url.Values {
		return url.Values{"notify_id": {"nid-1"}, "app_id": {testAliAppID}, "seller_id": {testSellerID}, "out_trade_no": {o.OutTradeNo},
			"trade_no": {"2026X"}, "trade_status": {"TRADE_SUCCESS"}, "total_amount": {"300.00"}, "gmt_payment": {"2026-11-23 22:00:00"}}
	}
	forger, err := alipaysim.New(alipaysim.Config{AppID: testAliAppID, AppPublicKey: &merchantKey().PublicKey, SellerID: testSellerID})
	if err != nil {
		t.Fatal(err)
	}
	notifyURL := e.recv.URL + "/v1/payments/notify/alipay"
	mk := func(s *alipaysim.Simulator, mut func(v url.Values)) *http.Request {
		v := base()
		mut(v)
		r, err := s.NewNotification(notifyURL, v)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	unsigned, _ := http.NewRequest(http.MethodPost, notifyURL, strings.NewReader(base().Encode()))
	unsigned.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for name, c := range map[string]struct {
		req    *http.Request
		status int
	}{
		"forged":        {mk(forger, func(url.Values) {}), 401},
		"unsigned":      {unsigned, 401},
		"wrong seller":  {mk(e.ali, func(v url.Values) { v.Set("seller_id", "2088999999999999") }), 400},
		"wrong app":     {mk(e.ali, func(v url.Values) { v.Set("app_id", "2021999999999999") }), 400},
		"wrong amount":  {mk(e.ali, func(v url.Values) { v.Set("total_amount", "0.01") }), 400},
		"bad amount":    {mk(e.ali, func(v url.Values) { v.Set("total_amount", "3e2") }), 400},
		"unknown order": {mk(e.ali, func(v url.Values) { v.Set("out_trade_no", "UKRNOPE") }), 400},
	} {
		resp, err := http.DefaultClient.Do(c.req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || string(b) != "fail" {
			t.Errorf("%s: %d %q, want %d fail", name, resp.StatusCode, b, c.status)
		}
	}
	// Seven refused; logged once per reason (bad_signature, wrong_merchant,
	// bad_notification) and per signed notification's refusal (2).
	if got, n := e.auditCount("notification.refused"), refusalTotal(e.pay); got != 5 || n != 7 {
		t.Fatalf("%d refusals logged, %d counted, want 5 and 7", got, n)
	}
	if _, c := e.app("A1"); c != 0 {
		t.Fatal("credited by a bad notification")
	}
	// A status notice that moves no money is acknowledged and ignored.
	// Alipay's notices carry no time: one captured could be replayed for
	// ever, so its replays are logged once a minute.
	waiting := func(v url.Values) { v.Set("trade_status", "WAIT_BUYER_PAY"); v.Del("gmt_payment") }
	for range 5 {
		if s, b := send(t, mk(e.ali, waiting)); s != 200 || b != "success" {
			t.Fatalf("WAIT_BUYER_PAY notice: %d %q", s, b)
		}
	}
	if got := e.auditCount("notification.ignored"); got != 1 {
		t.Fatalf("5 replays of an ignored notice: %d rows, want 1", got)
	}
	e.clock.Advance(payment.RefusalWindow)
	if err := e.pay.FlushRefusals(e.ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.auditCount("notification.ignored"); got != 2 {
		t.Fatalf("after the window: %d rows, want 2 (the count of the 4 replays)", got)
	}
	// Requests signed with another application key are refused by the gateway.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := payment.NewAlipay(payment.AlipayConfig{AppID: testAliAppID, SellerID: testSellerID, PrivateKey: other,
		AlipayPublicKey: e.ali.PublicKey(), Gateway: e.aliSrv.URL + "/gateway.do", HTTPClient: e.aliSrv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.CreateQR(e.ctx, payment.QRRequest{OutTradeNo: "UKRX1", Description: "x", AmountFen: 1, ExpiresAt: e.clock.Now().Add(time.Minute)}); !errors.Is(err, payment.ErrRejected) {
		t.Fatalf("forged request: %v", err)
	}
	// Answers signed by someone else are refused by the client.
	spoof, err := payment.NewAlipay(payment.AlipayConfig{AppID: testAliAppID, SellerID: testSellerID, PrivateKey: merchantKey(),
		AlipayPublicKey: &other.PublicKey, Gateway: e.aliSrv.URL + "/gateway.do", HTTPClient: e.aliSrv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spoof.Query(e.ctx, o.OutTradeNo); err == nil {
		t.Fatal("an answer with a wrong signature was accepted")
	}
	for name, c := range map[string]payment.AlipayConfig{
		"app id":  {SellerID: testSellerID, PrivateKey: other, AlipayPublicKey: &other.PublicKey},
		"seller":  {AppID: testAliAppID, PrivateKey: other, AlipayPublicKey: &other.PublicKey},
		"key":     {AppID: testAliAppID, SellerID: testSellerID, AlipayPublicKey: &other.PublicKey},
		"pubkey":  {AppID: testAliAppID, SellerID: testSellerID, PrivateKey: other},
		"gateway": {AppID: testAliAppID, SellerID: testSellerID, PrivateKey: other, AlipayPublicKey: &other.PublicKey, Gateway: "gateway.do"},
	} {
		if _, err := payment.NewAlipay(c); !errors.Is(err, payment.ErrInvalid) {
			t.Errorf("config without %s: %v", name, err)
		}
	}
}
