package payment_test

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/payment/alipaysim"
	"github.com/ukeyrenew/ukeyrenew/server/payment/wechatsim"
)

// payAndWait pays the application's new QR at the WeChat Pay simulator
// (as transactionID, or a new id) and waits until the notification credited it.
func (e *env) payAndWait(app, transactionID string) payment.Order {
	e.t.Helper()
	o, err := e.pay.NewQR(e.ctx, app, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.sim.PayAs(o.OutTradeNo, transactionID); err != nil {
		e.t.Fatal(err)
	}
	e.sim.Wait()
	got, err := e.pay.Order(e.ctx, o.OutTradeNo)
	if err != nil || got.State != payment.OrderPaid {
		e.t.Fatalf("after paying %s: %v %+v; deliveries %+v", app, err, got, e.sim.Deliveries())
	}
	return got
}

var transactionIDRe = regexp.MustCompile(`^4200[0-9]{6}[0-9]{8}[0-9]{10}$`)

// The dev simulators numbered their transactions from 1 at every start: a
// restart on the same day gave the next payment an id an earlier order held,
// and the service's unique transaction_id refused it for ever.
func TestSimulatorRestartedSameDayPaysWithoutCollision(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.addApp("A1")
		first := e.payAndWait("A1", "")
		// Restart: new simulator and service over the same database, same day.
		r := newEnv(t, dbc, envOpts{restart: e})
		r.addApp("A2")
		second := r.payAndWait("A2", "")
		for _, o := range []payment.Order{first, second} {
			if !transactionIDRe.MatchString(o.TransactionID) || o.TransactionIDConflict != "" {
				t.Errorf("order %s: transaction id %q (conflict %q), want 28 digits 4200…", o.OutTradeNo, o.TransactionID, o.TransactionIDConflict)
			}
		}
		if date := e.clock.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102"); first.TransactionID[10:18] != date {
			t.Errorf("transaction id %s lacks the date %s", first.TransactionID, date)
		}
		if first.TransactionID == second.TransactionID {
			t.Fatalf("the restarted simulator repeated %s", first.TransactionID)
		}
		if s, c := r.app("A2"); s != "paid" || c != 1 || r.pay.TransactionIDConflicts() != 0 {
			t.Fatalf("A2 %s %d, conflicts %d", s, c, r.pay.TransactionIDConflicts())
		}
	})
	// Many ids of simulators started one after the other: none repeats.
	clock := newClock()
	seen := map[string]bool{}
	for range 2000 {
		id := wechatsim.NewTransactionID(clock.Now())
		no := alipaysim.NewTradeNo(clock.Now())
		if seen[id] || seen[no] || !transactionIDRe.MatchString(id) || !regexp.MustCompile(`^[0-9]{8}22[0-9]{18}$`).MatchString(no) {
			t.Fatalf("id %s / trade_no %s repeated or malformed", id, no)
		}
		seen[id], seen[no] = true, true
	}
}

// lockedBuffer is a log sink safe for the notification goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A provider that gives a payment the transaction id of another order
// (through its notification, or its answer to a query) does not wedge the
// order: it is credited once with the id left out and the id kept apart,
// the status answers, the sweeper has nothing to retry, the notification
// is acknowledged, and the conflict is audited, logged and counted.
func TestRepeatedTransactionIDDoesNotWedgeTheOrder(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		var logs lockedBuffer
		e := newEnv(t, dbc, envOpts{log: slog.New(slog.NewJSONHandler(&logs, nil))})
		for _, id := range []string{"A1", "A2", "A3"} {
			e.addApp(id)
		}
		first := e.payAndWait("A1", "")

		// Through the notification.
		second := e.payAndWait("A2", first.TransactionID)
		if second.TransactionID != "" || second.TransactionIDConflict != first.TransactionID {
			t.Fatalf("order credited with a repeated id: %+v", second)
		}
		if d := e.sim.Deliveries(); d[len(d)-1].Status != 204 || len(d) != 2 {
			t.Fatalf("the notification was not acknowledged once: %+v", d)
		}
		if n := e.pay.TransactionIDConflicts(); n != 1 {
			t.Fatalf("conflicts counted: %d", n)
		}

		// Through the status poll's query, the notification held back.
		o3, err := e.pay.NewQR(e.ctx, "A3", 1)
		if err != nil {
			t.Fatal(err)
		}
		e.sim.HoldNotifications(true)
		if _, err := e.sim.PayAs(o3.OutTradeNo, first.TransactionID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(payment.StatusQueryInterval)
		st, err := e.pay.Status(e.ctx, "A3")
		if err != nil || st.State != renewal.PaymentPaid || st.Stale || st.Order.TransactionIDConflict != first.TransactionID {
			t.Fatalf("status of the order with a repeated id: %v %+v", err, st)
		}
		// The held notification then arrives: acknowledged, nothing more.
		e.sim.HoldNotifications(false)
		e.sim.ReleaseNotifications()
		e.sim.Wait()
		if d := e.sim.Deliveries(); d[len(d)-1].Status != 204 {
			t.Fatalf("the late notification was refused: %+v", d[len(d)-1])
		}
		if n := e.pay.TransactionIDConflicts(); n != 2 {
			t.Fatalf("conflicts counted: %d, want 2", n)
		}

		// Everything stays answerable; the sweeper finds nothing to retry.
		e.clock.Advance(payment.QRWindow)
		if n, err := e.pay.ExpireDue(e.ctx); err != nil || n != 0 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		for _, app := range []string{"A1", "A2", "A3"} {
			if st, err := e.pay.Status(e.ctx, app); err != nil || st.State != renewal.PaymentPaid {
				t.Errorf("status %s: %v %+v", app, err, st)
			}
			if s, c := e.app(app); s != "paid" || c != 1 {
				t.Errorf("application %s: %s, credited %d times", app, s, c)
			}
		}
		if got, _ := e.pay.Order(e.ctx, first.OutTradeNo); got.TransactionID != first.TransactionID || got.TransactionIDConflict != "" {
			t.Errorf("the first order changed: %+v", got)
		}
		if n := e.auditCount("payment.transaction_id_conflict"); n != 2 {
			t.Errorf("%d conflicts audited", n)
		}
		for _, d := range e.auditDetails("payment.transaction_id_conflict") {
			if !strings.Contains(d, first.TransactionID) || !strings.Contains(d, first.OutTradeNo) {
				t.Errorf("audit detail does not name the id and the other order: %s", d)
			}
		}
		if n := strings.Count(logs.String(), `"level":"ERROR","msg":"payment: the provider gave a transaction id another order already has`); n != 2 {
			t.Errorf("%d errors logged:\n%s", n, logs.String())
		}
		// A refund of such an order goes by out_trade_no, as every refund.
		if _, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "A2", Role: renewal.RoleAdmin, Actor: "admin", Reason: "重复付款"}); err != nil {
			t.Errorf("refund of the order credited without its id: %v", err)
		}
	})
}
