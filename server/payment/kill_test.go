package payment_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/crashtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// TestMain lets the test binary act as the notification receiver of
// TestKillWhileApplyingNotification when started with UKEY_PAY_CHILD=1.
func TestMain(m *testing.M) { crashtest.Main(m, "UKEY_PAY_CHILD", childMain) }

// childMain is the notification receiver on the real tables; the blocking
// child stops inside the transaction after the order row moved to paid.
func childMain(ctx context.Context, c *crashtest.Child) error {
	driver := "sqlite"
	if payment.Dialect(c.Env("DIALECT")) == payment.DialectPostgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, c.Env("DSN"))
	if err != nil {
		return err
	}
	defer db.Close()
	prov, err := c.Provider(ctx)
	if err != nil {
		return err
	}
	us, _ := strconv.ParseInt(c.Env("NOW"), 10, 64)
	now := time.UnixMicro(us)
	pay, err := payment.New(db, payment.Config{
		Provider: prov, Applications: c.Blocking(appTable{}), Audit: auditTable{},
		Prices: renewal.DefaultPolicy(), NotifyURL: "http://unused.invalid/", Clock: func() time.Time { return now },
	})
	if err != nil {
		return err
	}
	return c.Serve(pay.NotifyHandler())
}

func TestKillWhileApplyingNotification(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		rc := crashtest.Listen(t, "UKEY_PAY_CHILD")
		e := newEnv(t, dbc, envOpts{maxAttempts: 40, notifyURL: rc.NotifyURL("/v1/payments/notify")})
		e.addApp("A1")
		o, err := e.pay.NewQR(e.ctx, "A1", 1)
		if err != nil {
			t.Fatal(err)
		}
		rc.WeChat = crashtest.WeChat{MchID: testMchID, AppID: testAppID, MerchantCertSerial: testMchSer, APIv3Key: testAPIKey,
			MerchantKey: merchantKey(), PublicKeyID: e.sim.PublicKeyID(), PublicKey: e.sim.PublicKey(),
			SimURL: e.simSrv.URL, SimCert: e.simSrv.Certificate()}
		rc.Env = map[string]string{"DIALECT": string(dbc.dialect), "DSN": e.dsn,
			"NOW": strconv.FormatInt(e.clock.Now().UnixMicro(), 10)}
		rc.KillWhileApplying(func() {
			if _, err := e.sim.Pay(o.OutTradeNo); err != nil {
				t.Fatal(err)
			}
		})
		// Killed inside the transaction: nothing of it may remain.
		if s, c := e.app("A1"); s != "unpaid" || c != 0 {
			t.Fatalf("after the kill: app %s credits %d", s, c)
		}
		rc.Start()
		e.waitFor("credit after restart", func() bool { _, c := e.app("A1"); return c == 1 })
		e.sim.Wait()
		if s, c := e.app("A1"); s != "paid" || c != 1 {
			t.Fatalf("app %s credits %d", s, c)
		}
		got2, _ := e.pay.Order(e.ctx, o.OutTradeNo)
		if got2.State != payment.OrderPaid {
			t.Fatalf("order %s", got2.State)
		}
		var notes int
		if err := e.db.QueryRow(`SELECT COUNT(*) FROM payment_notifications`).Scan(&notes); err != nil || notes != 1 {
			t.Fatalf("notifications recorded %d %v", notes, err)
		}
		d := e.sim.Deliveries()
		if len(d) < 2 || d[0].Status == 204 || d[len(d)-1].Status != 204 {
			var s []string
			for _, x := range d {
				s = append(s, fmt.Sprintf("%d/%v", x.Status, x.Err))
			}
			t.Fatalf("deliveries %s", strings.Join(s, " "))
		}
		if e.auditCount("payment.credited") != 1 {
			t.Fatal("credit audited more or less than once")
		}
	})
}
