package alipaysim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smartwalle/alipay/v3"

	"github.com/ukeyrenew/ukeyrenew/server/payment/alipaysim"
)

const appID, sellerID = "2021000000000001", "2088000000000001"

func newClient(t *testing.T, srv *httptest.Server, key *rsa.PrivateKey, alipayPub *rsa.PublicKey, loc *time.Location) *alipay.Client {
	t.Helper()
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	c, err := alipay.New(appID, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), true,
		alipay.WithProductionGateway(srv.URL+"/gateway.do"), alipay.WithHTTPClient(srv.Client()), alipay.WithTimeLocation(loc))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(alipayPub)
	if err := c.LoadAliPayPublicKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGatewayAgainstTheClientLibrary(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := alipaysim.New(alipaysim.Config{AppID: appID, AppPublicKey: &key.PublicKey, SellerID: sellerID})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewTLSServer(sim)
	defer srv.Close()
	cst := time.FixedZone("CST", 8*3600)
	c := newClient(t, srv, key, sim.PublicKey(), cst)
	ctx := context.Background()

	p := alipay.TradePreCreate{}
	p.OutTradeNo, p.Subject, p.TotalAmount = "UKR0001", "续期", "300.00"
	p.TimeExpire = time.Now().Add(300 * time.Second).In(cst).Format("2006-01-02 15:04:05")
	rsp, err := c.TradePreCreate(ctx, p)
	if err != nil || rsp.IsFailure() || rsp.QRCode == "" {
		t.Fatalf("precreate: %v %+v", err, rsp)
	}
	q, err := c.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "UKR0001"})
	if err != nil || q.SubCode != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("query before scan: %v %+v", err, q)
	}
	if _, err := sim.Pay("UKR0001"); err != nil {
		t.Fatal(err)
	}
	q, err = c.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "UKR0001"})
	if err != nil || q.TradeStatus != alipay.TradeStatusSuccess || q.TotalAmount != "300.00" || q.SendPayDate == "" {
		t.Fatalf("query after pay: %v %+v", err, q)
	}
	bad := map[string]alipay.TradePreCreate{}
	for name, mut := range map[string]func(p *alipay.TradePreCreate){
		"amount zero":   func(p *alipay.TradePreCreate) { p.TotalAmount = "0.00" },
		"amount format": func(p *alipay.TradePreCreate) { p.TotalAmount = "1.234" },
		"no subject":    func(p *alipay.TradePreCreate) { p.Subject = "" },
		"out_trade_no":  func(p *alipay.TradePreCreate) { p.OutTradeNo = "a-b" },
		"time_expire":   func(p *alipay.TradePreCreate) { p.TimeExpire = "tomorrow" },
	} {
		q := p
		q.OutTradeNo = "UKR0002"
		mut(&q)
		bad[name] = q
	}
	for name, q := range bad {
		r, err := c.TradePreCreate(ctx, q)
		if err != nil || r.Code != "40002" {
			t.Errorf("%s: %v %+v", name, err, r)
		}
	}
	// A client that stamps UTC as if it were Beijing time is 8 h off.
	skewed := newClient(t, srv, key, sim.PublicKey(), time.UTC)
	r, err := skewed.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "UKR0001"})
	if err != nil || r.SubCode != "isv.invalid-timestamp" {
		t.Fatalf("skewed timestamp: %v %+v", err, r)
	}
	// Refund twice with one out_request_no moves the money once.
	for i, want := range []string{"Y", "N"} {
		rf, err := c.TradeRefund(ctx, alipay.TradeRefund{OutTradeNo: "UKR0001", RefundAmount: "300.00", OutRequestNo: "RF1"})
		if err != nil || rf.IsFailure() || rf.FundChange != want {
			t.Fatalf("refund %d: %v %+v", i, err, rf)
		}
	}
	rf, err := c.TradeRefund(ctx, alipay.TradeRefund{OutTradeNo: "UKR0001", RefundAmount: "0.01", OutRequestNo: "RF2"})
	if err != nil || rf.SubCode != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" {
		t.Fatalf("over-refund: %v %+v", err, rf)
	}
	rq, err := c.TradeFastPayRefundQuery(ctx, alipay.TradeFastPayRefundQuery{OutTradeNo: "UKR0001", OutRequestNo: "RF1"})
	if err != nil || rq.RefundStatus != "REFUND_SUCCESS" || rq.RefundAmount != "300.00" {
		t.Fatalf("refund query: %v %+v", err, rq)
	}
	rq, err = c.TradeFastPayRefundQuery(ctx, alipay.TradeFastPayRefundQuery{OutTradeNo: "UKR0001", OutRequestNo: "RF9"})
	if err != nil || rq.IsFailure() || rq.RefundStatus != "" {
		t.Fatalf("unknown refund query: %v %+v", err, rq)
	}
	// Another app's key is refused.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged := newClient(t, srv, other, sim.PublicKey(), cst)
	if r, err := forged.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "UKR0001"}); err != nil || r.SubCode != "isv.invalid-signature" {
		t.Fatalf("forged request: %v %+v", err, r)
	}
}
