package payment_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

func TestDevSimulatorThroughTheRealSDKPath(t *testing.T) {
	if _, err := payment.StartDevSimulator(t.Context(), "0.0.0.0:0", nil); !errors.Is(err, payment.ErrInvalid) {
		t.Fatalf("non-loopback address: %v", err)
	}
	dev, err := payment.StartDevSimulator(t.Context(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	ctx := t.Context()
	exp := time.Now().Add(payment.QRWindow).Truncate(time.Second)
	code, err := dev.Provider.CreateQR(ctx, payment.QRRequest{OutTradeNo: "UKRDEV000001", Description: "dev", AmountFen: 1, ExpiresAt: exp, NotifyURL: "http://127.0.0.1:1/"})
	if err != nil || code == "" {
		t.Fatalf("create: %v %q", err, code)
	}
	// The dev endpoint pays like the phone, over TLS the default client does not trust.
	resp, err := http.Post(dev.URL+"/sim/pay?out_trade_no=UKRDEV000001", "", nil)
	if err == nil {
		resp.Body.Close()
		t.Fatal("the simulator's self-signed certificate was trusted by the default client")
	}
	resp, err = dev.Client.Post(dev.URL+"/sim/pay?out_trade_no=UKRDEV000001", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("dev pay endpoint: %v %v", err, resp)
	}
	resp.Body.Close()
	tx, err := dev.Provider.Query(ctx, "UKRDEV000001")
	if err != nil || tx.TradeState != payment.TradeSuccess || tx.TotalFen != 1 {
		t.Fatalf("query: %v %+v", err, tx)
	}
	// Alipay on the same port.
	if _, err := dev.AlipayProvider.CreateQR(ctx, payment.QRRequest{OutTradeNo: "UKRDEV000002", Description: "dev", AmountFen: 2, ExpiresAt: exp}); err != nil {
		t.Fatalf("alipay create: %v", err)
	}
	resp, err = dev.Client.Post(dev.URL+"/alipay/sim/pay?out_trade_no=UKRDEV000002", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("alipay dev pay endpoint: %v %v", err, resp)
	}
	resp.Body.Close()
	tx, err = dev.AlipayProvider.Query(ctx, "UKRDEV000002")
	if err != nil || tx.TradeState != payment.TradeSuccess || tx.TotalFen != 2 {
		t.Fatalf("alipay query: %v %+v", err, tx)
	}
}

func TestProviderOutageAndCrashLeftovers(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		start := e.clock.Now()
		// A crash between writing the order and hearing from WeChat.
		if _, err := e.db.Exec(`INSERT INTO payment_orders (out_trade_no, application_id, provider, amount_fen, description, created_at, expires_at, state)
			VALUES ('UKRCRASH0000001', 'A1', 'wechat', 30000, 'x', $1, $2, 'open')`, start.UnixMicro(), start.Add(300*time.Second).UnixMicro()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pay.NewQR(e.ctx, "A1", 1); !errors.Is(err, payment.ErrBusy) {
			t.Fatalf("while another QR is being made: %v", err)
		}
		e.clock.Set(start.Add(payment.QRCreateGrace))
		o, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil || o.OutTradeNo == "UKRCRASH0000001" {
			t.Fatalf("after the grace: %v %+v", err, o)
		}
		if old, _ := e.pay.Order(e.ctx, "UKRCRASH0000001"); old.State != payment.OrderClosed {
			t.Fatalf("leftover is %s", old.State)
		}
		// WeChat unreachable: the poll answers from the database, marked stale.
		e.simSrv.Close()
		st, err := e.pay.Status(e.ctx, "A1")
		if err != nil || !st.Stale || st.State != renewal.PaymentUnpaid || st.Order.OutTradeNo != o.OutTradeNo {
			t.Fatalf("status during outage: %v %+v", err, st)
		}
		e.clock.Set(o.ExpiresAt)
		if _, err := e.pay.ExpireDue(e.ctx); err == nil {
			t.Fatal("sweep during outage reported no error")
		}
		if got, _ := e.pay.Order(e.ctx, o.OutTradeNo); got.State != payment.OrderOpen {
			t.Fatalf("order closed without asking WeChat: %s", got.State)
		}
	})
}

func TestSweepClosesExpiredOrders(t *testing.T) {
	e := newEnv(t, dbCases[0], envOpts{})
	e.addApp("A1")
	o, err := e.pay.NewQR(e.ctx, "A1", 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { e.pay.Sweep(ctx, 0, func(err error) { t.Error(err) }); close(done) }()
	e.clock.Set(o.ExpiresAt)
	e.waitFor("closed by the sweeper", func() bool { got, _ := e.pay.Order(e.ctx, o.OutTradeNo); return got.State == payment.OrderClosed })
	cancel()
	<-done
}
