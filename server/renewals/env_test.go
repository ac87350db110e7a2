package renewals_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The service is tested without HTTP, on both real databases.

var start = renewdtest.Start

// holder is a token's key and the certificate the CA issued for it.
type holder = renewdtest.Holder

type env struct {
	*renewdtest.Renewd
	t      *testing.T
	svc    *renewals.Service
	counts map[string]int
	// invoices issues e-invoices: the development issuer, or a refusal
	// while told to fail.
	invoices *renewdtest.FlakyIssuer
	// callers
	clerk, otherClerk, reviewer, admin renewals.Caller
}

// dialects runs fn once on SQLite and once on PostgreSQL.
func dialects(t *testing.T, fn func(t *testing.T, e *env)) { eachDialect(t, false, fn) }

// dialectsPaying is dialects with the payment module, against the WeChat
// Pay and Alipay simulators on a loopback port.
func dialectsPaying(t *testing.T, fn func(t *testing.T, e *env)) { eachDialect(t, true, fn) }

func eachDialect(t *testing.T, payments bool, fn func(t *testing.T, e *env)) {
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "sqlite", true: "postgres"}[pg]
		t.Run(name, func(t *testing.T) { fn(t, newEnv(t, pg, payments)) })
	}
}

func newEnv(t *testing.T, postgres, payments bool) *env {
	t.Helper()
	r := renewdtest.New(t, renewdtest.Options{Postgres: postgres, Payments: payments, NoServer: true})
	e := &env{Renewd: r, t: t, counts: map[string]int{}}
	caller := func(u *store.User, ip string) renewals.Caller {
		return renewals.Caller{User: renewal.User{ID: u.ID, Role: u.Role, OrganisationID: u.OrganisationID}, IP: ip}
	}
	e.clerk = caller(r.Clerk, "192.0.2.1")
	e.otherClerk = caller(r.OtherClerk, "192.0.2.2")
	e.reviewer = caller(r.Reviewer, "192.0.2.3")
	e.admin = caller(r.Admin, "192.0.2.4")
	e.invoices = renewdtest.NewFlakyIssuer()
	e.invoices.Dev.Now = r.Clock.Now
	var mu sync.Mutex
	e.svc = renewals.New(renewals.Deps{Store: r.Store, Policy: renewal.DefaultPolicy(), Issuer: r.CA, Bank: r.Bank,
		Pepper: renewdtest.Pepper, Now: r.Clock.Now, Payments: r.Payments,
		Count:        func(ev string) { mu.Lock(); e.counts[ev]++; mu.Unlock() },
		ChallengeTTL: 5 * time.Minute, MaxTransfers: 3,
		Invoices: e.invoices, InvoiceStuckAfter: 10 * time.Minute, InvoiceIssueTimeout: 30 * time.Second})
	return e
}

// draft creates an application with a complete form for a fresh
// certificate of the clerk's organisation.
func (e *env) draft() *renewal.Application {
	a, _ := e.draftWithHolder()
	return a
}

func (e *env) draftWithHolder() (*renewal.Application, *holder) {
	e.t.Helper()
	h := e.AddHolder(issuer.ECDSA, e.Org, start.AddDate(0, 0, 30))
	f := validForm(e.Org)
	a, err := e.svc.Create(e.t.Context(), e.clerk, renewal.CreateApplicationRequest{CertSerial: h.Serial, Form: &f})
	if err != nil {
		e.t.Fatal(err)
	}
	return a, h
}

// arrange puts application a straight into state, as the steps before
// would leave it (a test's shortcut; the audit log says so).
func (e *env) arrange(a *renewal.Application, state renewal.State) *renewal.Application {
	e.t.Helper()
	a, err := e.Store.UpdateApplication(e.t.Context(), store.AllScope(), a.ID, a.Version, store.Change{Actor: "system", Action: "test.arrange"},
		func(a *renewal.Application) error {
			a.State = state
			return nil
		})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// actions lists the audit log's actions on target, in order.
func (e *env) actions(target string) []string {
	e.t.Helper()
	q := renewal.AuditQuery{Target: target}
	if err := q.Validate(); err != nil {
		e.t.Fatal(err)
	}
	entries, err := e.Store.ListAudit(e.t.Context(), q)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Action)
	}
	return out
}

func validForm(org *store.Organisation) renewal.ApplicationForm {
	f := renewdtest.ValidForm(org, 1)
	f.Invoice = renewal.Invoice{Kind: renewal.InvoiceNone}
	return f
}

// wantCode fails unless err is the contract's code.
func wantCode(t *testing.T, err error, code renewal.Code) {
	t.Helper()
	var re *renewal.Error
	if !errors.As(err, &re) || re.Code != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
}
