package payment_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/payment/wechatsim"
)

func TestQRExpiresAt300sIsClosedAndReplaced(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		start := e.clock.Now()
		o, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		if o.AmountFen != 300_00 || !strings.HasPrefix(o.CodeURL, "weixin://wxpay/bizpayurl?pr=") || o.State != payment.OrderOpen {
			t.Fatalf("order %+v", o)
		}
		if got := o.ExpiresAt.Sub(o.CreatedAt); got != 300*time.Second || !o.CreatedAt.Equal(start) {
			t.Fatalf("window %v from %v, want exactly 300 s from %v", got, o.CreatedAt, start)
		}
		// Asking again within the window gives the same QR.
		e.clock.Set(start.Add(299 * time.Second))
		again, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil || again.OutTradeNo != o.OutTradeNo {
			t.Fatalf("second ask within window: %v %+v", err, again)
		}
		if n, err := e.pay.ExpireDue(e.ctx); err != nil || n != 0 {
			t.Fatalf("expire at 299 s: %d %v", n, err)
		}
		e.clock.Set(start.Add(300 * time.Second))
		if n, err := e.pay.ExpireDue(e.ctx); err != nil || n != 1 {
			t.Fatalf("expire at 300 s: %d %v", n, err)
		}
		got, err := e.pay.Order(e.ctx, o.OutTradeNo)
		if err != nil || got.State != payment.OrderClosed {
			t.Fatalf("after expiry: %v %+v", err, got)
		}
		tx, err := e.prov.Query(e.ctx, o.OutTradeNo)
		if err != nil || tx.TradeState != payment.TradeClosed {
			t.Fatalf("provider side: %v %+v", err, tx)
		}
		if e.auditCount("payment.qr_closed") != 1 {
			t.Fatal("close not audited")
		}
		// A new QR is a new attempt.
		n, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil || n.OutTradeNo == o.OutTradeNo || n.State != payment.OrderOpen {
			t.Fatalf("new QR: %v %+v", err, n)
		}
		if _, err := e.sim.Pay(o.OutTradeNo); !errors.Is(err, wechatsim.ErrOrderClosed) {
			t.Fatalf("paying the closed QR: %v", err)
		}
		if st, credits := e.app("A1"); st != "unpaid" || credits != 0 {
			t.Fatalf("app %s %d", st, credits)
		}
	})
}

func TestPaymentAt299sNotificationArrivesLate(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		start := e.clock.Now()
		o, err := e.pay.NewQR(e.ctx, "A1", 2)
		if err != nil {
			t.Fatal(err)
		}
		e.sim.HoldNotifications(true)
		e.clock.Set(start.Add(299 * time.Second))
		if _, err := e.sim.Pay(o.OutTradeNo); err != nil {
			t.Fatalf("pay at 299 s: %v", err)
		}
		// The notification arrives after the window.
		e.clock.Set(start.Add(330 * time.Second))
		if e.sim.ReleaseNotifications() != 1 {
			t.Fatal("no held notification")
		}
		e.waitFor("credit", func() bool { _, c := e.app("A1"); return c == 1 })
		e.sim.Wait()
		got, _ := e.pay.Order(e.ctx, o.OutTradeNo)
		if got.State != payment.OrderPaid || !got.PaidAt.Equal(start.Add(299*time.Second)) || got.TransactionID == "" {
			t.Fatalf("order %+v", got)
		}
		if n, err := e.pay.ExpireDue(e.ctx); err != nil || n != 0 {
			t.Fatalf("sweep after pay: %d %v", n, err)
		}
		if st, c := e.app("A1"); st != "paid" || c != 1 {
			t.Fatalf("app %s %d", st, c)
		}
		if _, err := e.pay.NewQR(e.ctx, "A1", 2); !errors.Is(err, payment.ErrAlreadyPaid) {
			t.Fatalf("new QR after pay: %v", err)
		}
	})
}

func TestPaidFoundWhenClosingAt301s(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		start := e.clock.Now()
		o, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		e.sim.HoldNotifications(true)
		e.clock.Set(start.Add(299 * time.Second))
		if _, err := e.sim.Pay(o.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(start.Add(301 * time.Second))
		if n, err := e.pay.ExpireDue(e.ctx); err != nil || n != 1 {
			t.Fatalf("sweep at 301 s: %d %v", n, err)
		}
		got, _ := e.pay.Order(e.ctx, o.OutTradeNo)
		if got.State != payment.OrderPaid {
			t.Fatalf("order found paid at close is %s, want paid", got.State)
		}
		if tx, _ := e.prov.Query(e.ctx, o.OutTradeNo); tx.TradeState != payment.TradeSuccess {
			t.Fatalf("provider order %s", tx.TradeState)
		}
		// The late notification then changes nothing.
		e.sim.ReleaseNotifications()
		e.sim.Wait()
		if st, c := e.app("A1"); st != "paid" || c != 1 {
			t.Fatalf("app %s credits %d", st, c)
		}
		if e.auditCount("notification.duplicate") != 1 {
			t.Fatal("late duplicate not audited")
		}
	})
}

func TestPaymentAt301sFailsAndANewQRIsPaid(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		start := e.clock.Now()
		o, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Set(start.Add(301 * time.Second))
		if _, err := e.sim.Pay(o.OutTradeNo); !errors.Is(err, wechatsim.ErrOrderExpired) {
			t.Fatalf("pay at 301 s: %v", err)
		}
		// The client polls: the order is expired on the spot.
		st, err := e.pay.Status(e.ctx, "A1")
		if err != nil || st.State != renewal.PaymentUnpaid || st.Order.State != payment.OrderClosed {
			t.Fatalf("status: %v %+v", err, st)
		}
		n, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		if !n.CreatedAt.Equal(start.Add(301 * time.Second)) {
			t.Fatalf("new attempt created %v", n.CreatedAt)
		}
		if _, err := e.sim.Pay(n.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		e.waitFor("credit", func() bool { _, c := e.app("A1"); return c == 1 })
	})
}

func TestStatusQueriesWhenNotificationNeverComes(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		o, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		e.sim.HoldNotifications(true) // never released
		st, err := e.pay.Status(e.ctx, "A1")
		if err != nil || st.State != renewal.PaymentUnpaid || st.Order.OutTradeNo != o.OutTradeNo {
			t.Fatalf("before pay: %v %+v", err, st)
		}
		if _, err := e.sim.Pay(o.OutTradeNo); err != nil {
			t.Fatal(err)
		}
		// Polls within StatusQueryInterval answer from the database.
		e.clock.Set(e.clock.Now().Add(payment.StatusQueryInterval - time.Second))
		if st, err = e.pay.Status(e.ctx, "A1"); err != nil || st.State != renewal.PaymentUnpaid {
			t.Fatalf("throttled poll: %v %+v", err, st)
		}
		e.clock.Set(e.clock.Now().Add(time.Second))
		st, err = e.pay.Status(e.ctx, "A1")
		if err != nil || st.State != renewal.PaymentPaid {
			t.Fatalf("after pay: %v %+v", err, st)
		}
		if _, err := e.pay.Status(e.ctx, "A1"); err != nil {
			t.Fatal(err)
		}
		if s, c := e.app("A1"); s != "paid" || c != 1 {
			t.Fatalf("app %s %d", s, c)
		}
	})
}

// notification builds a genuinely signed notification for the service.
func (e *env) notification(id string, tx map[string]any, at time.Time) *http.Request {
	e.t.Helper()
	b, _ := json.Marshal(tx)
	r, err := e.sim.NewNotification(e.recv.URL+"/v1/payments/notify/wechat", id, "TRANSACTION.SUCCESS", b, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func paidTx(outTradeNo string, total int64) map[string]any {
	return map[string]any{
		"appid": testAppID, "mchid": testMchID, "out_trade_no": outTradeNo, "transaction_id": "4200000000000000001",
		"trade_type": "NATIVE", "trade_state": "SUCCESS", "success_time": time.Now().Format(time.RFC3339),
		"amount": map[string]any{"total": total, "currency": "CNY"},
	}
}

func send(t *testing.T, r *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBadNotificationsAreRefusedAndLogged(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		o, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		now := e.clock.Now()
		// A second simulator is a forger: same protocol, another platform key.
		forger, err := wechatsim.New(wechatsim.Config{MchID: testMchID, AppID: testAppID, MerchantCertSerial: testMchSer,
			MerchantPublicKey: &merchantKey().PublicKey, APIv3Key: testAPIKey})
		if err != nil {
			t.Fatal(err)
		}
		forged, _ := forger.NewNotification(e.recv.URL+"/v1/payments/notify/wechat", "N-forged", "TRANSACTION.SUCCESS", mustJSON(paidTx(o.OutTradeNo, 300_00)), now)
		forged.Header.Set("Wechatpay-Serial", e.sim.PublicKeyID()) // claims to be WeChat's key
		tampered := e.notification("N-tampered", paidTx(o.OutTradeNo, 1), now)
		body, _ := io.ReadAll(tampered.Body)
		tampered.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte(`"N-tampered"`), []byte(`"N-tamperex"`), 1)))
		tampered.ContentLength = int64(len(body))
		wrongMch := paidTx(o.OutTradeNo, 300_00)
		wrongMch["mchid"] = "1900000999"
		wrongApp := paidTx(o.OutTradeNo, 300_00)
		wrongApp["appid"] = "wx0000000000000000"
		notPaid := paidTx(o.OutTradeNo, 300_00)
		notPaid["trade_state"] = "NOTPAY"
		noAmount := paidTx(o.OutTradeNo, 300_00)
		delete(noAmount, "amount")
		garbage, _ := http.NewRequest(http.MethodPost, e.recv.URL+"/v1/payments/notify/wechat", strings.NewReader("{"))
		// Every refusal is counted; the audit log gets one row a minute per
		// source and reason (and per notification id, once a signed one was
		// read): "logged" is the rows so far.
		cases := []struct {
			name   string
			req    *http.Request
			status int
			logged int
		}{
			{"forged signature", forged, 401, 1},
			{"tampered body", tampered, 401, 1},
			{"no signature", garbage, 401, 1},
			{"wrong amount", e.notification("N-amount", paidTx(o.OutTradeNo, 1), now), 400, 2},
			{"wrong merchant", e.notification("N-mch", wrongMch, now), 400, 3},
			{"wrong app", e.notification("N-app", wrongApp, now), 400, 3},
			{"unknown order", e.notification("N-unknown", paidTx("UKR00000000000000NOPE", 300_00), now), 400, 4},
			{"not success", e.notification("N-notpay", notPaid, now), 400, 5},
			{"no amount", e.notification("N-noamount", noAmount, now), 400, 6},
			{"timestamp skew past", e.notification("N-old", paidTx(o.OutTradeNo, 300_00), now.Add(-5*time.Minute)), 401, 7},
			{"timestamp skew future", e.notification("N-future", paidTx(o.OutTradeNo, 300_00), now.Add(6*time.Minute)), 401, 7},
		}
		for i, c := range cases {
			status, body := send(t, c.req)
			if status != c.status || !strings.Contains(body, `"code":"FAIL"`) {
				t.Errorf("%s: %d %s, want %d with FAIL", c.name, status, body, c.status)
			}
			if got := e.auditCount("notification.refused"); got != c.logged {
				t.Errorf("%s: %d refusals logged, want %d", c.name, got, c.logged)
			}
			if got := refusalTotal(e.pay); got != int64(i+1) {
				t.Errorf("%s: %d refusals counted, want %d", c.name, got, i+1)
			}
		}
		if s, c := e.app("A1"); s != "unpaid" || c != 0 {
			t.Fatalf("credited by a bad notification: %s %d", s, c)
		}
		if got, _ := e.pay.Order(e.ctx, o.OutTradeNo); got.State != payment.OrderOpen {
			t.Fatalf("order %s", got.State)
		}
		// A good one is applied; its replay changes nothing and is logged.
		good := e.notification("N-good", paidTx(o.OutTradeNo, 300_00), now)
		replay := e.notification("N-good", paidTx(o.OutTradeNo, 300_00), now.Add(time.Minute))
		if s, b := send(t, good); s != 204 || b != "" {
			t.Fatalf("good: %d %q", s, b)
		}
		e.clock.Set(now.Add(time.Minute))
		if s, _ := send(t, replay); s != 204 {
			t.Fatalf("replay: %d", s)
		}
		if s, c := e.app("A1"); s != "paid" || c != 1 {
			t.Fatalf("app %s %d", s, c)
		}
		if e.auditCount("notification.replayed") != 1 || e.auditCount("payment.credited") != 1 {
			t.Fatal("replay or credit not audited")
		}
		// An unknown provider segment is not found.
		if r, err := http.Post(e.recv.URL+"/v1/payments/notify/paypal", "application/json", strings.NewReader("{}")); err != nil || r.StatusCode != 404 {
			t.Fatalf("unknown provider: %v %v", err, r)
		}
		// GET is not a notification.
		if r, err := http.Get(e.recv.URL + "/v1/payments/notify/wechat"); err != nil || r.StatusCode != 405 {
			t.Fatalf("GET: %v %v", err, r)
		}
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestThousandConcurrentCopiesCreditOnce(t *testing.T) {
	forEach(t, concurrencyCases, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		o, err := e.pay.NewQR(e.ctx, "A1", 3)
		if err != nil {
			t.Fatal(err)
		}
		req := e.notification("N-copy", paidTx(o.OutTradeNo, 780_00), e.clock.Now())
		body, _ := io.ReadAll(req.Body)
		const copies = 1000
		client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 100, MaxIdleConnsPerHost: 100}, Timeout: 60 * time.Second}
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		start := make(chan struct{})
		for range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, _ := http.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(body))
				r.Header = req.Header.Clone()
				<-start
				resp, err := client.Do(r)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					statuses[0]++
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[resp.StatusCode]++
			}()
		}
		close(start)
		wg.Wait()
		if statuses[204] != copies {
			t.Fatalf("statuses %v, want %d × 204", statuses, copies)
		}
		if s, c := e.app("A1"); s != "paid" || c != 1 {
			t.Fatalf("app %s credited %d times", s, c)
		}
		// One replay row a window, the rest counted into the next one: a
		// replayed notification cannot grow the audit log by a row each.
		if e.auditCount("payment.credited") != 1 || e.auditCount("notification.replayed") != 1 {
			t.Fatalf("audit: %d credited, %d replayed", e.auditCount("payment.credited"), e.auditCount("notification.replayed"))
		}
		e.clock.Advance(payment.RefusalWindow)
		if err := e.pay.FlushRefusals(e.ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.auditCount("notification.replayed"); n != 2 {
			t.Fatalf("after the window: %d replay rows, want 2 (the first and the count of %d more)", n, copies-2)
		}
	})
}

func TestBadQRRequests(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		for name, c := range map[string]struct {
			app   string
			years int
			want  error
		}{
			"empty application":    {"", 1, payment.ErrInvalid},
			"long application":     {strings.Repeat("a", 65), 1, payment.ErrInvalid},
			"space in application": {"a b", 1, payment.ErrInvalid},
			"zero years":           {"A1", 0, payment.ErrNoPrice},
			"four years":           {"A1", 4, payment.ErrNoPrice},
		} {
			if _, err := e.pay.NewQR(e.ctx, c.app, c.years); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", name, err, c.want)
			}
		}
		var n int
		if err := e.db.QueryRow(`SELECT COUNT(*) FROM payment_orders`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("orders after bad requests: %d %v", n, err)
		}
		if _, err := e.pay.Status(e.ctx, ""); !errors.Is(err, payment.ErrInvalid) {
			t.Fatalf("status of empty id: %v", err)
		}
		if st, err := e.pay.Status(e.ctx, "nobody"); err != nil || st.State != renewal.PaymentUnpaid {
			t.Fatalf("status of unknown app: %v %+v", err, st)
		}
	})
}

func TestCertificateModeEndToEnd(t *testing.T) {
	e := newEnv(t, dbCases[0], envOpts{mode: wechatsim.ModeCertificate})
	e.addApp("A1")
	o, err := e.pay.NewQR(e.ctx, "A1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.Pay(o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	e.waitFor("credit", func() bool { _, c := e.app("A1"); return c == 1 })
	if err := e.prov.RefreshCertificates(e.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNewWeChatRefusesBadConfig(t *testing.T) {
	k := merchantKey()
	good := payment.WeChatConfig{MchID: testMchID, AppID: testAppID, MerchantCertSerial: testMchSer, MerchantKey: k,
		APIv3Key: testAPIKey, PublicKeyID: "PUB_KEY_ID_1", PublicKey: &k.PublicKey, Endpoint: "https://127.0.0.1:1"}
	for name, mut := range map[string]func(c *payment.WeChatConfig){
		"mchid":       func(c *payment.WeChatConfig) { c.MchID = "" },
		"appid":       func(c *payment.WeChatConfig) { c.AppID = "" },
		"serial":      func(c *payment.WeChatConfig) { c.MerchantCertSerial = "" },
		"key":         func(c *payment.WeChatConfig) { c.MerchantKey = nil },
		"apiv3 key":   func(c *payment.WeChatConfig) { c.APIv3Key = "short" },
		"half pubkey": func(c *payment.WeChatConfig) { c.PublicKey = nil },
		"endpoint":    func(c *payment.WeChatConfig) { c.Endpoint = "ftp://x" },
	} {
		c := good
		mut(&c)
		if _, err := payment.NewWeChat(t.Context(), c); !errors.Is(err, payment.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := payment.NewWeChat(t.Context(), good); err != nil {
		t.Fatalf("good config: %v", err)
	}
}

func TestWeChatRefusesAnswersItCannotVerify(t *testing.T) {
	e := newEnv(t, dbCases[0], envOpts{})
	e.addApp("A1")
	o, err := e.pay.NewQR(e.ctx, "A1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.Pay(o.OutTradeNo); err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// A provider that trusts another WeChat Pay key (a man in the middle's
	// view) must not believe the answer "SUCCESS".
	spoofed, err := payment.NewWeChat(e.ctx, payment.WeChatConfig{
		MchID: testMchID, AppID: testAppID, MerchantCertSerial: testMchSer, MerchantKey: merchantKey(), APIv3Key: testAPIKey,
		PublicKeyID: e.sim.PublicKeyID(), PublicKey: &other.PublicKey, Endpoint: e.simSrv.URL, HTTPClient: e.simSrv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if tx, err := spoofed.Query(e.ctx, o.OutTradeNo); err == nil {
		t.Fatalf("unverifiable answer accepted: %+v", tx)
	}
}

// refusalTotal is the number of refusals p counted.
func refusalTotal(p *payment.Payments) int64 {
	var n int64
	for _, c := range p.RefusalCounts() {
		n += c.N
	}
	return n
}
