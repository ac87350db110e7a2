package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	approved := renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending}
	type note struct {
		header http.Header
		body   []byte
	}
	notes := make([]note, b.N)
	ids := e.seedApplications(b, b.N, clerk.ID, approved)
	for i, id := range ids {
		// A real QR order, made through the SDK at the simulator.
		o, err := e.Payments.NewQR(ctx, id, 1)
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
		notes[i] = note{r.Header, body}
	}
	runLoad(b, "notes/s", func(i int) error {
		r, _ := http.NewRequest(http.MethodPost, e.URL+"/v1/payments/notify/wechat", bytes.NewReader(notes[i].body))
		r.Header = notes[i].header.Clone()
		return send(r, http.StatusNoContent)
	})
	for _, id := range ids {
		a, err := e.Store.Application(ctx, store.AllScope(), id)
		if err != nil || a.Payment != renewal.PaymentPaid || a.Version != 2 {
			b.Fatalf("application %s after its notification: %+v, %v", id, a, err)
		}
	}
	if v, err := e.Store.VerifyAudit(ctx); err != nil || !v.OK {
		b.Fatalf("audit chain: %+v %v", v, err)
	}
}
