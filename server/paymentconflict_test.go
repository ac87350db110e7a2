package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

// A payment whose transaction id the provider already gave another order
// (the dev simulator did after a restart) is credited; GET .../payment
// answers 200 for both applications, the sweeper has nothing to retry, and
// /metrics counts the conflict for an alert.
func TestRepeatedTransactionIDKeepsThePaymentAnswering(t *testing.T) {
	e := newEnv(t, envOptions{})
	ct := e.smsSignIn(clerkMobile).AccessToken
	reviewer := e.passwordSignIn("reviewer", reviewerPassword).AccessToken
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	e.addHolder("c1", issuer.ECDSA, e.Org, start.AddDate(0, 0, 40))
	e.addHolder("c2", issuer.ECDSA, e.Org, start.AddDate(0, 0, 40))
	pay := func(holder, transactionID string) (renewal.Application, string) {
		t.Helper()
		a := e.approved(ct, reviewer, holder)
		var q renewal.PaymentQR
		e.ok(http.StatusOK, &q, "POST", "/v1/applications/"+a.ID+"/payment/qr", ct, renewal.PaymentQRRequest{})
		before := len(e.PaySim.Sim.Deliveries())
		id, err := e.PaySim.Sim.PayAs(q.Order.OutTradeNo, transactionID)
		if err != nil {
			t.Fatal(err)
		}
		// The notification's first delivery must be acknowledged (a refused
		// one is retried for hours).
		for deadline := time.Now().Add(10 * time.Second); len(e.PaySim.Sim.Deliveries()) == before; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no notification delivered")
			}
		}
		if d := e.PaySim.Sim.Deliveries()[before]; d.Status != http.StatusNoContent {
			t.Fatalf("notification of %s refused: %+v", a.ID, d)
		}
		return a, id
	}
	a1, id := pay("c1", "")
	a2, _ := pay("c2", id)
	for _, a := range []renewal.Application{a1, a2} {
		var st renewal.PaymentStatus
		e.ok(http.StatusOK, &st, "GET", "/v1/applications/"+a.ID+"/payment", ct, nil)
		if st.State != renewal.PaymentPaid || st.Order == nil {
			t.Fatalf("payment of %s: %+v", a.ID, st)
		}
	}
	e.Clock.Advance(10 * time.Minute)
	if n, err := e.Payments.ExpireDue(t.Context()); err != nil || n != 0 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if acts := e.auditActions(admin, a2.ID); count(acts, "payment.transaction_id_conflict") != 1 || count(acts, "payment.credited") != 1 {
		t.Fatalf("audit of %s: %v", a2.ID, acts)
	}
	m := e.ok(http.StatusOK, nil, "GET", "/metrics", "", nil)
	if !strings.Contains(string(m.body), "\nrenewd_payment_transaction_id_conflicts_total 1\n") {
		t.Fatalf("metrics lack the conflict:\n%s", m.body)
	}
}
