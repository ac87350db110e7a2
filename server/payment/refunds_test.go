package payment_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// paid makes application id paid at the current clock and returns its order.
func (e *env) paid(id string) payment.Order {
	e.t.Helper()
	e.addApp(id)
	o, err := e.pay.NewQR(e.ctx, id, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.sim.Pay(o.OutTradeNo); err != nil {
		e.t.Fatal(err)
	}
	e.waitFor("credit", func() bool { _, c := e.app(id); return c == 1 })
	e.sim.Wait()
	return o
}

func TestCancelRefundsAndRefundNotificationCompletesIt(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		o := e.paid("A1")
		e.clock.Set(e.clock.Now().Add(7*24*time.Hour - time.Second))
		rf, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "A1", Role: renewal.RoleClerk, Actor: "u1", Reason: "不再需要"})
		if err != nil {
			t.Fatalf("cancel within 7 days: %v", err)
		}
		if rf.State != payment.RefundStateProcessing || rf.AmountFen != 300_00 || rf.OutTradeNo != o.OutTradeNo || rf.RefundID == "" {
			t.Fatalf("refund %+v", rf)
		}
		if s, _ := e.app("A1"); s != string(renewal.PaymentRefunding) {
			t.Fatalf("app %s, want refunding", s)
		}
		// A second cancel is refused: the order is already refunding.
		if _, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "A1", Role: renewal.RoleAdmin, Actor: "s1", Reason: "again"}); !errors.Is(err, payment.ErrNotPaid) {
			t.Fatalf("second cancel: %v", err)
		}
		if err := e.sim.SettleRefund(rf.OutRefundNo); err != nil {
			t.Fatal(err)
		}
		e.waitFor("refunded", func() bool { s, _ := e.app("A1"); return s == string(renewal.PaymentRefunded) })
		e.sim.Wait()
		st, err := e.pay.Status(e.ctx, "A1")
		if err != nil || st.State != renewal.PaymentRefunded || st.Order.State != payment.OrderRefunded {
			t.Fatalf("status %v %+v", err, st)
		}
		rs, err := e.pay.Refunds(e.ctx, "A1")
		if err != nil || len(rs) != 1 || rs[0].State != payment.RefundStateSuccess {
			t.Fatalf("refunds %v %+v", err, rs)
		}
		if e.auditCount("refund.requested") != 1 || e.auditCount("refund.success") != 1 {
			t.Fatal("refund not audited")
		}
		if _, c := e.app("A1"); c != 1 {
			t.Fatalf("credits %d", c)
		}
	})
}

func TestRefundWithoutNotificationIsQueried(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.paid("A1")
		e.sim.HoldNotifications(true)
		rf, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "A1", Role: renewal.RoleClerk, Actor: "u1", Reason: "changed mind"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.sim.SettleRefund(rf.OutRefundNo); err != nil {
			t.Fatal(err)
		}
		st, err := e.pay.Status(e.ctx, "A1")
		if err != nil || st.State != renewal.PaymentRefunded {
			t.Fatalf("status %v %+v", err, st)
		}
		// The late notification then changes nothing.
		e.sim.HoldNotifications(false)
		e.sim.ReleaseNotifications()
		e.sim.Wait()
		if n := e.auditCount("refund.success"); n != 1 {
			t.Fatalf("refund.success logged %d times", n)
		}
	})
}

func TestRefundRefusedAfter7DaysOrAfterIssuance(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.paid("LATE")
		e.paid("ISSUED")
		if _, err := e.db.Exec(`UPDATE test_applications SET issued = 1 WHERE id = 'ISSUED'`); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(e.clock.Now().Add(7*24*time.Hour + time.Second))
		if _, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "LATE", Role: renewal.RoleClerk, Actor: "u1", Reason: "late"}); !errors.Is(err, payment.ErrCancelWindow) {
			t.Fatalf("clerk after 7 days: %v", err)
		}
		for _, role := range []renewal.Role{renewal.RoleClerk, renewal.RoleAdmin} {
			if _, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "ISSUED", Role: role, Actor: "x", Reason: "issued"}); !errors.Is(err, payment.ErrIssued) {
				t.Fatalf("%s after issuance: %v", role, err)
			}
		}
		for _, id := range []string{"LATE", "ISSUED"} {
			if s, _ := e.app(id); s != "paid" {
				t.Fatalf("%s is %s after a refused cancel", id, s)
			}
		}
		if n := e.auditCount("refund.refused"); n != 3 {
			t.Fatalf("%d refusals logged, want 3", n)
		}
		if d := e.auditDetails("refund.refused"); !strings.Contains(d[0], "clerks may cancel within") {
			t.Fatalf("refusal detail %q", d[0])
		}
		// Staff may cancel the application not completed within the window.
		if _, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "LATE", Role: renewal.RoleAdmin, Actor: "s1", Reason: "not completed in time"}); err != nil {
			t.Fatalf("staff cancel after the clerk window: %v", err)
		}
		if s, _ := e.app("LATE"); s != "refunding" {
			t.Fatalf("LATE is %s", s)
		}
		// ... but not after the refund limit.
		e.paid("OLD")
		e.clock.Set(e.clock.Now().Add(payment.DefaultStaffRefundLimit + time.Second))
		if _, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "OLD", Role: renewal.RoleReviewer, Actor: "s1", Reason: "too old"}); !errors.Is(err, payment.ErrCancelWindow) {
			t.Fatalf("staff after a year: %v", err)
		}
	})
}

func TestBadCancelRequests(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.paid("A1")
		good := payment.CancelRequest{ApplicationID: "A1", Role: renewal.RoleClerk, Actor: "u1", Reason: "r"}
		for name, mut := range map[string]func(r *payment.CancelRequest){
			"no application": func(r *payment.CancelRequest) { r.ApplicationID = "" },
			"system role":    func(r *payment.CancelRequest) { r.Role = renewal.RoleSystem },
			"stored word":    func(r *payment.CancelRequest) { r.Role = "staff" },
			"no actor":       func(r *payment.CancelRequest) { r.Actor = "" },
			"long actor":     func(r *payment.CancelRequest) { r.Actor = strings.Repeat("a", 129) },
			"no reason":      func(r *payment.CancelRequest) { r.Reason = "  " },
			"long reason":    func(r *payment.CancelRequest) { r.Reason = strings.Repeat("退", 81) },
			"unpaid":         func(r *payment.CancelRequest) { r.ApplicationID = "NOPE" },
		} {
			r := good
			mut(&r)
			if _, err := e.pay.Cancel(e.ctx, r); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		if s, _ := e.app("A1"); s != "paid" {
			t.Fatalf("A1 is %s", s)
		}
		var n int
		if err := e.db.QueryRow(`SELECT COUNT(*) FROM payment_refunds`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("refund rows after bad requests: %d %v", n, err)
		}
	})
}

func TestAbnormalRefundGoesBackToPaid(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		e.paid("A1")
		rf, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "A1", Role: renewal.RoleAdmin, Actor: "s1", Reason: "duplicate"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.sim.FailRefund(rf.OutRefundNo); err != nil {
			t.Fatal(err)
		}
		e.waitFor("refund failed", func() bool { s, _ := e.app("A1"); return s == "paid" })
		e.sim.Wait()
		rs, err := e.pay.Refunds(e.ctx, "A1")
		if err != nil || len(rs) != 1 || rs[0].State != payment.RefundStateFailed {
			t.Fatalf("refunds %v %+v", err, rs)
		}
		if e.auditCount("refund.failed") != 1 {
			t.Fatal("failed refund not audited")
		}
		// Staff can try again: a new refund number for the same order.
		rf2, err := e.pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "A1", Role: renewal.RoleAdmin, Actor: "s1", Reason: "retry"})
		if err != nil || rf2.OutRefundNo == rf.OutRefundNo {
			t.Fatalf("second try: %v %+v", err, rf2)
		}
		if err := e.sim.SettleRefund(rf2.OutRefundNo); err != nil {
			t.Fatal(err)
		}
		e.waitFor("refunded", func() bool { s, _ := e.app("A1"); return s == "refunded" })
	})
}
