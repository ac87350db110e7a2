package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// newClock is the tests' injected clock, moved by hand.
func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
}

// backend opens a fresh, empty store.
type backend struct {
	name string
	open func(t testing.TB, opts ...Option) (*Store, func() *Store)
}

// backends are the two real databases every store test runs against.
func backends() []backend {
	return []backend{
		{"sqlite", func(t testing.TB, opts ...Option) (*Store, func() *Store) {
			path := filepath.Join(t.TempDir(), "renewd.db")
			reopen := func() *Store {
				s, err := OpenSQLite(context.Background(), path, opts...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return reopen(), reopen
		}},
		{"postgres", func(t testing.TB, opts ...Option) (*Store, func() *Store) {
			dsn := pgtest.Schema(t, "t_")
			reopen := func() *Store {
				s, err := OpenPostgres(context.Background(), dsn, opts...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return reopen(), reopen
		}},
	}
}

// each runs fn against both backends with a fresh store and clock.
func each(t *testing.T, fn func(t *testing.T, s *Store, clk *fakeclock.Clock)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			s, _ := b.open(t, WithClock(clk.Now))
			fn(t, s, clk)
		})
	}
}

var ctx = context.Background()

// fixture is two organisations, a clerk and a certificate each, and a reviewer.
type fixture struct {
	orgA, orgB     *Organisation
	clerkA, clerkB *User
	reviewer       *User
	certA, certB   *CertificateRecord
}

func sys(action string) Change { return Change{Actor: "system", Action: action, IP: "127.0.0.1"} }

func seed(t *testing.T, s *Store, clk *fakeclock.Clock) *fixture {
	t.Helper()
	f := &fixture{
		orgA: &Organisation{Name: "深圳市测试科技有限公司", CreditCode: "91350100M000100Y43"},
		orgB: &Organisation{Name: "Example Trading Co.", CreditCode: "914403001922038216"},
	}
	must(t, s.CreateOrganisation(ctx, f.orgA, sys("organisation.create")))
	must(t, s.CreateOrganisation(ctx, f.orgB, sys("organisation.create")))
	f.clerkA = &User{Role: renewal.RoleClerk, Name: "张三", Mobile: "13800138000", OrganisationID: f.orgA.ID}
	f.clerkB = &User{Role: renewal.RoleClerk, Name: "Li Si", Account: "lisi", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", OrganisationID: f.orgB.ID}
	f.reviewer = &User{Role: renewal.RoleReviewer, Name: "审核员", Account: "reviewer"}
	for _, u := range []*User{f.clerkA, f.clerkB, f.reviewer} {
		must(t, s.CreateUser(ctx, u, sys("user.create")))
	}
	mk := func(serial, org string) *CertificateRecord {
		c := &CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "holder " + serial, Issuer: "Test CA",
			OrganisationID: org, NotBefore: clk.Now().AddDate(-1, 0, 0), NotAfter: clk.Now().AddDate(0, 0, 20), KeyType: renewal.KeyECDSA},
			PublicKey: []byte{0x30, 1, 2}, DER: []byte{0x30, 3, 4}}
		must(t, s.PutCertificate(ctx, c, sys("certificate.import")))
		return c
	}
	f.certA, f.certB = mk("0a1b", f.orgA.ID), mk("0b2c", f.orgB.ID)
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func form(org *Organisation) renewal.ApplicationForm {
	return renewal.ApplicationForm{
		Years:               1,
		Organisation:        renewal.Organisation{Name: org.Name, CreditCode: org.CreditCode},
		LegalRepresentative: renewal.Person{Name: "张三", IDNumber: "11010519491231002X", Mobile: "13800138000"},
		Bank:                renewal.BankAccount{AccountName: org.Name, BankName: "招商银行", AccountNumber: "755912345610001"},
		Invoice:             renewal.Invoice{Kind: renewal.InvoiceNone},
		Pickup:              renewal.Pickup{Method: renewal.PickupOnSite},
	}
}

func newApp(t *testing.T, s *Store, org *Organisation, clerk *User, serial string) *renewal.Application {
	t.Helper()
	a := &renewal.Application{OrganisationID: org.ID, CreatedBy: clerk.ID, CertSerial: serial, Form: form(org),
		State: renewal.InitialState(renewal.DefaultPolicy()), PriceFen: 300_00}
	must(t, s.CreateApplication(ctx, a, Change{Actor: clerk.ID, Action: "application.create", IP: "10.0.0.1"}))
	return a
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func verifyOK(t *testing.T, s *Store) renewal.AuditVerification {
	t.Helper()
	v, err := s.VerifyAudit(ctx)
	must(t, err)
	if !v.OK {
		t.Fatalf("audit chain does not verify: %+v", v)
	}
	return v
}

func TestMigrationsAreIdempotent(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			s, reopen := b.open(t)
			must(t, s.AppendAudit(ctx, sys("test"), "x", nil, map[string]int{"a": 1}))
			s.Close()
			s2 := reopen()
			if v := verifyOK(t, s2); v.Entries != 1 {
				t.Errorf("entries after reopen: %d", v.Entries)
			}
			if s2.Dialect() == "" || s2.Ping(ctx) != nil {
				t.Error("dialect/ping")
			}
		})
	}
}

func TestAccounts(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		u, err := s.UserByMobile(ctx, "13800138000")
		must(t, err)
		if u.ID != f.clerkA.ID || u.OrganisationID != f.orgA.ID || u.Role != renewal.RoleClerk || !u.CreatedAt.Equal(clk.Now()) {
			t.Errorf("by mobile: %+v", u)
		}
		u, err = s.UserByAccount(ctx, "lisi")
		must(t, err)
		if u.PasswordHash != f.clerkB.PasswordHash {
			t.Errorf("password hash did not round-trip")
		}
		_, err = s.UserByMobile(ctx, "13900000000")
		wantErr(t, err, ErrNotFound)
		wantErr(t, s.CreateOrganisation(ctx, &Organisation{Name: "dup", CreditCode: f.orgA.CreditCode}, sys("x")), ErrConflict)
		wantErr(t, s.CreateUser(ctx, &User{Role: renewal.RoleClerk, Name: "dup", Mobile: "13800138000", OrganisationID: f.orgA.ID}, sys("x")), ErrConflict)
		wantErr(t, s.CreateUser(ctx, &User{Role: renewal.RoleClerk, Name: "ghost", Mobile: "13700000000", OrganisationID: "nope"}, sys("x")), ErrReference)
		if err := s.CreateUser(ctx, &User{Role: renewal.RoleClerk, Name: "no org", Mobile: "13700000001"}, sys("x")); err == nil {
			t.Error("clerk without organisation accepted")
		}
		if err := s.CreateUser(ctx, &User{Role: renewal.RoleReviewer, Name: "no login"}, sys("x")); err == nil {
			t.Error("user without mobile or account accepted")
		}
		wantErr(t, s.CreateUser(ctx, &User{Role: "god", Name: "x", Account: "x"}, sys("x")), ErrInvalid)
		if err := s.CreateUser(ctx, &User{Role: renewal.RoleClerk, Name: "x", Account: "y", OrganisationID: f.orgA.ID}, Change{}); err == nil {
			t.Error("change without actor accepted")
		}
		if _, err := s.UserByAccount(ctx, "y"); !errors.Is(err, ErrNotFound) {
			t.Errorf("user of a refused change was kept: %v", err)
		}
		must(t, s.SetPassword(ctx, f.reviewer.ID, "$argon2id$new", sys("user.password")))
		wantErr(t, s.SetPassword(ctx, "nobody", "x", sys("user.password")), ErrNotFound)
		o, err := s.OrganisationByCreditCode(ctx, f.orgB.CreditCode)
		must(t, err)
		if o.ID != f.orgB.ID || o.Name != f.orgB.Name {
			t.Errorf("organisation: %+v", o)
		}
		// The audit log never holds a password hash.
		var buf strings.Builder
		must(t, s.ExportAuditJSON(ctx, &buf, AuditRange{}))
		if strings.Contains(buf.String(), "argon2id") || strings.Contains(buf.String(), "13800138000") {
			t.Errorf("audit log holds a secret or a full mobile number")
		}
		verifyOK(t, s)
	})
}

func TestApplicationLifecycle(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		if a.Version != 1 || a.ID == "" {
			t.Fatalf("created: %+v", a)
		}
		sc := OrgScope(f.orgA.ID)
		got, err := s.Application(ctx, sc, a.ID)
		must(t, err)
		if got.Form != a.Form || got.State != a.State || !got.CreatedAt.Equal(clk.Now()) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, a)
		}
		// A second open application for the same certificate is refused.
		dup := &renewal.Application{OrganisationID: f.orgA.ID, CreatedBy: f.clerkA.ID, CertSerial: f.certA.Serial, Form: form(f.orgA), State: renewal.InitialState(renewal.DefaultPolicy())}
		wantErr(t, s.CreateApplication(ctx, dup, sys("application.create")), ErrConflict)
		// Unknown certificate.
		bad := &renewal.Application{OrganisationID: f.orgA.ID, CreatedBy: f.clerkA.ID, CertSerial: "ffff", Form: form(f.orgA), State: renewal.InitialState(renewal.DefaultPolicy())}
		wantErr(t, s.CreateApplication(ctx, bad, sys("application.create")), ErrReference)

		clk.Advance(time.Minute)
		ch := Change{Actor: f.clerkA.ID, Action: "application.submit", IP: "10.0.0.1"}
		up, err := s.UpdateApplication(ctx, sc, a.ID, 1, ch, func(a *renewal.Application) error {
			n, err := renewal.Apply(a.State, renewal.DefaultPolicy(), renewal.RoleClerk, renewal.ActionSubmit)
			a.State, a.Comment = n, "请审核"
			now := clk.Now()
			a.SubmittedAt = &now
			a.ID = "hijack" // fn may not change identity
			return err
		})
		must(t, err)
		if up.Version != 2 || up.Status != renewal.StatusPendingReview || up.ID != a.ID || !up.UpdatedAt.Equal(clk.Now()) {
			t.Errorf("updated: %+v", up)
		}
		// Stale version: refused, nothing changed, fn never runs.
		ran := false
		_, err = s.UpdateApplication(ctx, sc, a.ID, 1, ch, func(a *renewal.Application) error { ran = true; a.Comment = "lost"; return nil })
		wantErr(t, err, ErrStaleVersion)
		if ran {
			t.Error("fn ran on a stale version")
		}
		// fn's error aborts: nothing saved.
		_, err = s.UpdateApplication(ctx, sc, a.ID, 2, ch, func(a *renewal.Application) error {
			a.Comment = "half"
			_, err := renewal.Apply(a.State, renewal.DefaultPolicy(), renewal.RoleClerk, renewal.ActionEdit)
			return err
		})
		if renewal.CodeOf(err) != renewal.CodeActionNotAllowed {
			t.Fatalf("edit while pending: %v", err)
		}
		got, err = s.Application(ctx, sc, a.ID)
		must(t, err)
		if got.Version != 2 || got.Comment != "请审核" || got.SubmittedAt == nil {
			t.Errorf("after refused changes: %+v", got)
		}
		// Delete: stale refused, check refuses, right version deletes.
		wantErr(t, s.DeleteApplication(ctx, sc, a.ID, 1, ch, nil), ErrStaleVersion)
		notAllowed := func(a *renewal.Application) error {
			_, err := renewal.Apply(a.State, renewal.DefaultPolicy(), renewal.RoleClerk, renewal.ActionDelete)
			return err
		}
		if err := s.DeleteApplication(ctx, sc, a.ID, 2, ch, notAllowed); renewal.CodeOf(err) != renewal.CodeActionNotAllowed {
			t.Fatalf("delete while pending: %v", err)
		}
		// Cancelled, the certificate may get a new application.
		_, err = s.UpdateApplication(ctx, sc, a.ID, 2, ch, func(a *renewal.Application) error { a.Status = renewal.StatusCancelled; return nil })
		must(t, err)
		b := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		last, err := s.LastApplication(ctx, sc, f.orgA.ID)
		must(t, err)
		if last.ID != b.ID {
			t.Errorf("last application %s, want %s", last.ID, b.ID)
		}
		open, err := s.OpenApplicationFor(ctx, sc, f.certA.Serial)
		must(t, err)
		if open.ID != b.ID {
			t.Errorf("open application %s, want %s", open.ID, b.ID)
		}
		must(t, s.DeleteApplication(ctx, sc, b.ID, 1, ch, notAllowed))
		_, err = s.Application(ctx, sc, b.ID)
		wantErr(t, err, ErrNotFound)
		_, err = s.OpenApplicationFor(ctx, sc, f.certA.Serial)
		wantErr(t, err, ErrNotFound)
		// Values no code should write are refused, and nothing changes.
		for name, spoil := range map[string]func(*renewal.Application){
			"status":    func(a *renewal.Application) { a.Status = "lost" },
			"payment":   func(a *renewal.Application) { a.Payment = "maybe" },
			"finverify": func(a *renewal.Application) { a.FinVerify = "" },
			"price":     func(a *renewal.Application) { a.PriceFen = -1 },
			"comment":   func(a *renewal.Application) { a.Comment = strings.Repeat("x", 4*renewal.MaxCommentRunes+1) },
			"reason":    func(a *renewal.Application) { a.ReviewReason = strings.Repeat("x", 4*renewal.MaxReasonRunes+1) },
		} {
			_, err := s.UpdateApplication(ctx, sc, a.ID, 3, ch, func(a *renewal.Application) error { spoil(a); return nil })
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrLimit) {
				t.Errorf("update with bad %s: %v", name, err)
			}
			c := &renewal.Application{OrganisationID: f.orgA.ID, CreatedBy: f.clerkA.ID, CertSerial: f.certA.Serial, Form: form(f.orgA),
				State: renewal.InitialState(renewal.DefaultPolicy())}
			spoil(c)
			if err := s.CreateApplication(ctx, c, ch); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrLimit) {
				t.Errorf("create with bad %s: %v", name, err)
			}
		}
		// Every change above is in the log with before and after.
		entries, err := s.ListAudit(ctx, renewal.AuditQuery{Target: "application/" + a.ID, PageSize: 100})
		must(t, err)
		if len(entries) != 3 || entries[1].Before == nil || entries[1].After == nil || entries[1].Actor != f.clerkA.ID || entries[1].IP != "10.0.0.1" {
			t.Errorf("audit of application: %d entries: %+v", len(entries), entries)
		}
		verifyOK(t, s)
	})
}

func TestOrganisationScoping(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		newApp(t, s, f.orgB, f.clerkB, f.certB.Serial)
		ch := Change{Actor: f.clerkB.ID, Action: "probe"}
		for name, sc := range map[string]Scope{"other organisation": OrgScope(f.orgB.ID), "zero scope": {}} {
			t.Run(name, func(t *testing.T) {
				_, err := s.Application(ctx, sc, a.ID)
				wantErr(t, err, ErrNotFound)
				_, err = s.UpdateApplication(ctx, sc, a.ID, 1, ch, func(*renewal.Application) error { return nil })
				wantErr(t, err, ErrNotFound)
				wantErr(t, s.DeleteApplication(ctx, sc, a.ID, 1, ch, nil), ErrNotFound)
				_, err = s.Documents(ctx, sc, a.ID)
				wantErr(t, err, ErrNotFound)
				wantErr(t, s.AddDocument(ctx, sc, &renewal.Document{ApplicationID: a.ID, Kind: renewal.DocOther, Name: "x", ContentType: renewal.ContentPDF}, []byte("%PDF-"), ch), ErrNotFound)
				_, err = s.Issuance(ctx, sc, a.ID)
				wantErr(t, err, ErrNotFound)
				_, err = s.AddChallenge(ctx, sc, a.ID, []byte("n"), time.Minute)
				wantErr(t, err, ErrNotFound)
				_, err = s.Certificate(ctx, sc, f.certA.Serial)
				wantErr(t, err, ErrNotFound)
				_, err = s.LastApplication(ctx, sc, f.orgA.ID)
				wantErr(t, err, ErrNotFound)
				_, err = s.OpenApplicationFor(ctx, sc, f.certA.Serial)
				wantErr(t, err, ErrNotFound)
				_, err = s.LatestFinVerifyAttempt(ctx, sc, a.ID)
				wantErr(t, err, ErrNotFound)
				list, _, err := s.ListApplications(ctx, sc, renewal.ListApplicationsRequest{OrganisationID: f.orgA.ID})
				must(t, err)
				if len(list) != 0 {
					t.Errorf("listed another organisation's applications: %d", len(list))
				}
				certs, err := s.Certificates(ctx, sc, f.orgA.ID)
				must(t, err)
				if len(certs) != 0 {
					t.Errorf("listed another organisation's certificates")
				}
			})
		}
		list, _, err := s.ListApplications(ctx, OrgScope(f.orgB.ID), renewal.ListApplicationsRequest{})
		must(t, err)
		if len(list) != 1 || list[0].OrganisationID != f.orgB.ID {
			t.Errorf("own list: %d", len(list))
		}
		list, _, err = s.ListApplications(ctx, AllScope(), renewal.ListApplicationsRequest{})
		must(t, err)
		if len(list) != 2 {
			t.Errorf("staff list: %d", len(list))
		}
		if _, err := s.Application(ctx, AllScope(), a.ID); err != nil {
			t.Errorf("staff get: %v", err)
		}
	})
}

func TestListFiltersAndPages(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		want := map[string]bool{}
		for i := 0; i < 25; i++ {
			org, clerk := f.orgA, f.clerkA
			if i%5 == 0 {
				org, clerk = f.orgB, f.clerkB
			}
			serial := fmt.Sprintf("c%03x", i)
			c := &CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "h", Issuer: "i", OrganisationID: org.ID,
				NotBefore: clk.Now(), NotAfter: clk.Now(), KeyType: renewal.KeyRSA}, PublicKey: []byte{1}, DER: []byte{2}}
			must(t, s.PutCertificate(ctx, c, sys("certificate.import")))
			a := newApp(t, s, org, clerk, serial)
			if i%3 == 0 {
				_, err := s.UpdateApplication(ctx, AllScope(), a.ID, 1, sys("x"), func(a *renewal.Application) error {
					a.Status = renewal.StatusPendingReview
					return nil
				})
				must(t, err)
			}
			want[a.ID] = true
			if i%2 == 0 {
				clk.Advance(time.Second) // some share a created_at: the id breaks the tie
			}
		}
		// Pages of 7 cover everything once, newest first.
		seen := map[string]bool{}
		var prev *renewal.Application
		tok := ""
		pages := 0
		for {
			req := renewal.ListApplicationsRequest{PageSize: 7, PageToken: tok}
			must(t, req.Validate())
			page, next, err := s.ListApplications(ctx, AllScope(), req)
			must(t, err)
			pages++
			for _, a := range page {
				if seen[a.ID] {
					t.Fatalf("%s listed twice", a.ID)
				}
				seen[a.ID] = true
				if prev != nil && (a.CreatedAt.After(prev.CreatedAt) || (a.CreatedAt.Equal(prev.CreatedAt) && a.ID > prev.ID)) {
					t.Fatalf("out of order: %s after %s", a.ID, prev.ID)
				}
				prev = a
			}
			if next == "" {
				break
			}
			tok = next
		}
		if len(seen) != 25 || pages != 4 {
			t.Errorf("listed %d in %d pages, want 25 in 4", len(seen), pages)
		}
		count := func(sc Scope, req renewal.ListApplicationsRequest) int {
			t.Helper()
			req.PageSize = 100
			page, next, err := s.ListApplications(ctx, sc, req)
			must(t, err)
			if next != "" {
				t.Errorf("unexpected next page")
			}
			return len(page)
		}
		for _, c := range []struct {
			name string
			sc   Scope
			req  renewal.ListApplicationsRequest
			want int
		}{
			{"pending", AllScope(), renewal.ListApplicationsRequest{Status: []renewal.Status{renewal.StatusPendingReview}}, 9},
			{"pending or editing", AllScope(), renewal.ListApplicationsRequest{Status: []renewal.Status{renewal.StatusPendingReview, renewal.StatusEditing}}, 25},
			{"org A", OrgScope(f.orgA.ID), renewal.ListApplicationsRequest{}, 20},
			{"org B pending", OrgScope(f.orgB.ID), renewal.ListApplicationsRequest{Status: []renewal.Status{renewal.StatusPendingReview}}, 2},
			{"staff filter org B", AllScope(), renewal.ListApplicationsRequest{OrganisationID: f.orgB.ID}, 5},
			{"chinese name", AllScope(), renewal.ListApplicationsRequest{Query: "测试科技"}, 20},
			{"case-insensitive", AllScope(), renewal.ListApplicationsRequest{Query: "example TRADING"}, 5},
			{"credit code", AllScope(), renewal.ListApplicationsRequest{Query: "M000100Y"}, 20},
			{"like wildcards are literal", AllScope(), renewal.ListApplicationsRequest{Query: "%"}, 0},
			{"serial", AllScope(), renewal.ListApplicationsRequest{CertSerial: "c005"}, 1},
			{"unpaid", AllScope(), renewal.ListApplicationsRequest{Payment: []renewal.Payment{renewal.PaymentUnpaid}}, 25},
			{"paid", AllScope(), renewal.ListApplicationsRequest{Payment: []renewal.Payment{renewal.PaymentPaid}}, 0},
			{"finverify pending", AllScope(), renewal.ListApplicationsRequest{FinVerify: []renewal.FinVerify{renewal.FinVerifyPending}}, 25},
		} {
			if got := count(c.sc, c.req); got != c.want {
				t.Errorf("%s: %d, want %d", c.name, got, c.want)
			}
		}
		for _, tok := range []string{"!!", "bm90LWEtdG9rZW4", encodePageToken(1, "")} {
			_, _, err := s.ListApplications(ctx, AllScope(), renewal.ListApplicationsRequest{PageToken: tok})
			wantErr(t, err, ErrPageToken)
		}
	})
}

func TestWriteIsAllOrNothing(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		boom := errors.New("boom")
		err := s.Write(ctx, func(tx *Tx) error {
			must(t, tx.CreateOrganisation(ctx, &Organisation{Name: "half", CreditCode: "91110000802100433B"}, sys("x")))
			return boom
		})
		wantErr(t, err, boom)
		_, err = s.OrganisationByCreditCode(ctx, "91110000802100433B")
		wantErr(t, err, ErrNotFound)
		if seq, _, err := s.AuditHead(ctx); err != nil || seq != 0 {
			t.Errorf("audit head after rollback: %d %v", seq, err)
		}
		err = s.Read(ctx, func(tx *Tx) error { return tx.Audit(sys("x"), "t", nil, nil) })
		if err == nil {
			t.Error("audit in a read transaction accepted")
		}
	})
}

func TestOpenByName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "数据 dir")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "renewd #1.db")
	s, err := Open(ctx, "sqlite", path)
	must(t, err)
	must(t, s.AppendAudit(ctx, sys("x"), "t", nil, nil))
	must(t, s.Close())
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the path asked for: %v", err)
	}
	if _, err := Open(ctx, "mysql", "x"); err == nil {
		t.Error("unknown dialect accepted")
	}
	if _, err := Open(ctx, "postgres", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"); err == nil {
		t.Error("unreachable PostgreSQL opened")
	}
}

// A module with its own tables moves an application in its own transaction.
func TestJoinForeignTransaction(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		if _, err := s.DB().Exec(`CREATE TABLE module_orders (id TEXT PRIMARY KEY, application_id TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		pay := func(order string, commit bool) {
			t.Helper()
			sqlTx, err := s.DB().BeginTx(ctx, nil)
			must(t, err)
			if _, err := sqlTx.Exec(`INSERT INTO module_orders (id, application_id) VALUES ($1, $2)`, order, a.ID); err != nil {
				t.Fatal(err)
			}
			err = s.Join(ctx, sqlTx, func(tx *Tx) error {
				cur, err := tx.Application(ctx, AllScope(), a.ID)
				if err != nil {
					return err
				}
				_, err = tx.UpdateApplication(ctx, AllScope(), a.ID, cur.Version, sys("application.mark_paid"), func(a *renewal.Application) error {
					a.Payment = renewal.PaymentPaid
					return nil
				})
				return err
			})
			must(t, err)
			if commit {
				must(t, sqlTx.Commit())
			} else {
				must(t, sqlTx.Rollback())
			}
		}
		head0, _, err := s.AuditHead(ctx)
		must(t, err)
		pay("o1", false)
		got, err := s.Application(ctx, AllScope(), a.ID)
		must(t, err)
		if head, _, _ := s.AuditHead(ctx); head != head0 || got.Payment != renewal.PaymentUnpaid || got.Version != 1 {
			t.Fatalf("rolled-back join left traces: head %d→%d, %s v%d", head0, head, got.Payment, got.Version)
		}
		pay("o2", true)
		got, err = s.Application(ctx, AllScope(), a.ID)
		must(t, err)
		var n int
		must(t, s.DB().QueryRow(`SELECT COUNT(*) FROM module_orders`).Scan(&n))
		if head, _, _ := s.AuditHead(ctx); head != head0+1 || got.Payment != renewal.PaymentPaid || got.Version != 2 || n != 1 {
			t.Fatalf("committed join: head %d→%d, %s v%d, %d orders", head0, head, got.Payment, got.Version, n)
		}
		verifyOK(t, s)
	})
}
