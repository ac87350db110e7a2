package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// BenchmarkNotifications measures WeChat Pay payment notifications applied
// per second by the whole service: POST /v1/payments/notify/wechat over
// loopback HTTP, each genuinely signed and encrypted by the simulator,
// verified, decrypted, checked and applied in one transaction with the real
// store (order → paid, the application through the states table at a new
// version, two hash-chained audit entries under the chain-head lock), by 8
// concurrent senders. Run by hand:
//
//	go test -run '^$' -bench Notifications -benchtime 1000x ./server/
//	UKEY_TEST_PG_DSN=... go test -run '^$' -bench Notifications/postgres -benchtime 1000x ./server/
func BenchmarkNotifications(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) { notificationBench(b, db == "postgres") })
	}
}

func notificationBench(b *testing.B, postgres bool) {
	e := newEnv(b, envOptions{postgres: postgres, noValidate: true, cfg: func(c *server.Config) {
		c.Limits.NotifyBurst = 1 << 30 // the test clock stands still: no refill
	}})
	ctx := context.Background()
	clerk, err := e.Store.UserByMobile(ctx, clerkMobile)
	if err != nil {
		b.Fatal(err)
	}
	h := e.holders["rsa"]
	approved := renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending}
	type note struct {
		header http.Header
		body   []byte
	}
	notes := make([]note, b.N)
	ids := make([]string, b.N)
	for i := range b.N {
		serial := fmt.Sprintf("%s%06x", h.Serial[:20], i)
		rec := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "张三", Issuer: "CN=x",
			OrganisationID: e.Org.ID, NotBefore: h.Cert.NotBefore, NotAfter: h.Cert.NotAfter, KeyType: renewal.KeyRSA}, PublicKey: []byte{0}, DER: h.Cert.Raw}
		a := &renewal.Application{OrganisationID: e.Org.ID, CreatedBy: clerk.ID, CertSerial: serial, Form: validForm(e.Org, 1),
			State: approved, PriceFen: 30000}
		err := e.Store.Write(ctx, func(tx *store.Tx) error {
			if err := tx.PutCertificate(ctx, rec, store.Change{Actor: "bench", Action: "seed"}); err != nil {
				return err
			}
			return tx.CreateApplication(ctx, a, store.Change{Actor: "bench", Action: "seed"})
		})
		if err != nil {
			b.Fatal(err)
		}
		// A real QR order, made through the SDK at the simulator.
		o, err := e.Payments.NewQR(ctx, a.ID, 1)
		if err != nil {
			b.Fatal(err)
		}
		plain, _ := json.Marshal(map[string]any{
			"appid": payment.DevAppID, "mchid": payment.DevMchID, "out_trade_no": o.OutTradeNo,
			"transaction_id": fmt.Sprintf("42000000002026%06d", i), "trade_type": "NATIVE", "trade_state": "SUCCESS",
			"success_time": e.Clock.Now().Format(time.RFC3339), "amount": map[string]any{"total": o.AmountFen, "currency": "CNY"},
		})
		r, err := e.PaySim.Sim.NewNotification(e.URL+"/v1/payments/notify/wechat", fmt.Sprintf("BENCH-%06d", i), "TRANSACTION.SUCCESS", plain, e.Clock.Now())
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		notes[i], ids[i] = note{r.Header, body}, a.ID
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients}, Timeout: 30 * time.Second}
	lat := make([]time.Duration, b.N)
	next := make(chan int, loadClients)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	b.ResetTimer()
	start := time.Now()
	for range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r, _ := http.NewRequest(http.MethodPost, e.URL+"/v1/payments/notify/wechat", bytes.NewReader(notes[i].body))
				r.Header = notes[i].header.Clone()
				t0 := time.Now()
				res, err := client.Do(r)
				lat[i] = time.Since(t0)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusNoContent {
						err = fmt.Errorf("notification %d: status %d", i, res.StatusCode)
					}
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
				}
			}
		}()
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	for _, id := range ids {
		a, err := e.Store.Application(ctx, store.AllScope(), id)
		if err != nil || a.Payment != renewal.PaymentPaid || a.Version != 2 {
			b.Fatalf("application %s after its notification: %+v, %v", id, a, err)
		}
	}
	if v, err := e.Store.VerifyAudit(ctx); err != nil || !v.OK {
		b.Fatalf("audit chain: %+v %v", v, err)
	}
	reportLatency(b, lat, el, "notes/s")
}
