package payment_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// actorAudit writes events to the test audit table and keeps, per kind,
// "application actor" of each.
type actorAudit struct {
	auditTable
	mu     sync.Mutex
	actors map[string][]string
}

func (a *actorAudit) Record(ctx context.Context, q payment.Execer, e payment.AuditEvent) error {
	a.mu.Lock()
	a.actors[e.Kind] = append(a.actors[e.Kind], e.ApplicationID+" "+e.Actor)
	a.mu.Unlock()
	return a.auditTable.Record(ctx, q, e)
}

func (a *actorAudit) of(kind string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.actors[kind])
}

// Refund rows and audit entries keep the words they always had for who
// asked: "staff:<actor>" for a reviewer and an admin alike, "clerk:<actor>"
// for the clerk.
func TestRefundStoresWhoAskedAsBefore(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbc dbCase) {
		e := newEnv(t, dbc, envOpts{})
		audit := &actorAudit{actors: map[string][]string{}}
		pay, err := payment.New(e.db, payment.Config{Provider: e.prov, Applications: appTable{}, Audit: audit,
			Prices: renewal.DefaultPolicy(), NotifyURL: e.recv.URL + "/v1/payments/notify", Clock: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			id    string
			role  renewal.Role
			actor string
			want  string
		}{
			{"REVIEWER", renewal.RoleReviewer, "r1", "staff:r1"},
			{"ADMIN", renewal.RoleAdmin, "a1", "staff:a1"},
			{"CLERK", renewal.RoleClerk, "c1", "clerk:c1"},
		}
		var wantAudit []string
		for _, c := range cases {
			e.paid(c.id)
			if _, err := pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: c.id, Role: c.role, Actor: c.actor, Reason: "重复申请"}); err != nil {
				t.Fatalf("%s cancels: %v", c.role, err)
			}
			var by string
			if err := e.db.QueryRowContext(e.ctx, `SELECT requested_by FROM payment_refunds WHERE application_id = $1`, c.id).Scan(&by); err != nil {
				t.Fatal(err)
			}
			if by != c.want {
				t.Errorf("refund by a %s stored requested_by %q, want %q", c.role, by, c.want)
			}
			wantAudit = append(wantAudit, c.id+" "+c.want)
		}
		if got := audit.of("refund.requested"); !slices.Equal(got, wantAudit) {
			t.Errorf("refund.requested actors %q, want %q", got, wantAudit)
		}
		// A refused one is audited with the same words.
		e.paid("OLD")
		e.clock.Set(e.clock.Now().Add(payment.DefaultStaffRefundLimit + 1))
		for _, c := range cases[:2] {
			if _, err := pay.Cancel(e.ctx, payment.CancelRequest{ApplicationID: "OLD", Role: c.role, Actor: c.actor, Reason: "too old"}); !errors.Is(err, payment.ErrCancelWindow) {
				t.Fatalf("%s after the refund limit: %v", c.role, err)
			}
		}
		if got, want := audit.of("refund.refused"), []string{"OLD staff:r1", "OLD staff:a1"}; !slices.Equal(got, want) {
			t.Errorf("refund.refused actors %q, want %q", got, want)
		}
	})
}
