package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// replicas runs fn against both backends with two stores on one database,
// as two replicas of the service see it, on one clock.
func replicas(t *testing.T, fn func(t *testing.T, a, b *Store, clk *fakeclock.Clock)) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			clk := newClock()
			a, reopen := be.open(t, WithClock(clk.Now))
			fn(t, a, reopen(), clk)
		})
	}
}

// A bucket drawn on by two replicas holds its burst for both together,
// refills at its rate, and a replica whose clock is behind neither
// refills it nor moves its stamp back.
func TestTokenBucketsShared(t *testing.T) {
	replicas(t, func(t *testing.T, a, b *Store, clk *fakeclock.Clock) {
		bk := Bucket{Limiter: "password", Rate: 0.5, Burst: 3} // one token every 2 s
		take := func(s *Store, key string) (bool, time.Duration) {
			t.Helper()
			ok, wait, err := s.TakeToken(ctx, bk, key)
			must(t, err)
			return ok, wait
		}
		for i, s := range []*Store{a, b, a} {
			if ok, _ := take(s, "k"); !ok {
				t.Fatalf("take %d of the burst of 3 refused", i+1)
			}
		}
		if ok, wait := take(b, "k"); ok || wait != 2*time.Second {
			t.Fatalf("fourth take: %v, wait %v; want refused, 2 s", ok, wait)
		}
		if ok, wait, err := a.PeekToken(ctx, bk, "k"); err != nil || ok || wait != 2*time.Second {
			t.Fatalf("peek of an empty bucket: %v %v %v", ok, wait, err)
		}
		if ok, _ := take(a, "other"); !ok {
			t.Fatal("another key shares the bucket")
		}
		clk.Advance(500 * time.Millisecond)
		if ok, wait := take(a, "k"); ok || wait != 1500*time.Millisecond {
			t.Fatalf("after 0.5 s: %v, wait %v; want refused, 1.5 s", ok, wait)
		}
		// A replica 10 s behind: no refill, and the stamp stays.
		behind := func() time.Time { return clk.Now().Add(-10 * time.Second) }
		old := b.now
		b.now = behind
		if ok, _ := take(b, "k"); ok {
			t.Fatal("a replica whose clock is behind found a token")
		}
		b.now = old
		clk.Advance(1500 * time.Millisecond)
		if ok, _, _ := b.PeekToken(ctx, bk, "k"); !ok {
			t.Fatal("no token 2 s after the last")
		}
		if ok, _ := take(b, "k"); !ok {
			t.Fatal("refilled token refused")
		}
		if ok, _ := take(a, "k"); ok {
			t.Fatal("two tokens in 2 s")
		}

		// Concurrent takes on both replicas: the burst exactly.
		slow := Bucket{Limiter: "ip", Rate: 1e-9, Burst: 10}
		var granted atomic.Int64
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := a
				if i%2 == 1 {
					s = b
				}
				ok, _, err := s.TakeToken(ctx, slow, "busy")
				if err != nil {
					t.Error(err)
				}
				if ok {
					granted.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := granted.Load(); n != 10 {
			t.Fatalf("%d of 40 concurrent takes granted from a burst of 10", n)
		}

		// Full buckets are forgotten by the cleanup; a drained one stays.
		clk.Advance(10 * time.Second)
		n, err := a.cleanBuckets(ctx, clk.Now())
		must(t, err)
		if n != 2 { // "k" and "other" are full again; "busy" is not
			t.Fatalf("cleanup deleted %d buckets, want 2", n)
		}
		if ok, _, err := a.TakeToken(ctx, slow, "busy"); err != nil || ok {
			t.Fatal("the cleanup forgot a drained bucket")
		}
	})
}

var testIdem = IdemLimits{TTL: 24 * time.Hour, StaleAfter: 10 * time.Minute, PerUser: 5}

// An idempotency key begun on one replica is running for the other, its
// answer is the other's too, and only the owner's answer counts.
func TestIdempotencyKeysShared(t *testing.T) {
	replicas(t, func(t *testing.T, a, b *Store, clk *fakeclock.Clock) {
		k := IdemKey{User: "u1", Key: "create-1", Hash: []byte("hash-1")}
		begin := func(s *Store, k IdemKey, owner string) (IdemState, *IdemAnswer) {
			t.Helper()
			st, ans, err := s.BeginIdempotent(ctx, k, owner, testIdem)
			must(t, err)
			return st, ans
		}
		if st, _ := begin(a, k, "A1"); st != IdemLeader {
			t.Fatalf("first: %v", st)
		}
		if st, _ := begin(b, k, "B1"); st != IdemRunning {
			t.Fatalf("while running, on the other replica: %v", st)
		}
		other := k
		other.Hash = []byte("hash-2")
		if st, _ := begin(b, other, "B2"); st != IdemMismatch {
			t.Fatalf("another request with the key: %v", st)
		}
		if known, err := b.IdempotentKnown(ctx, "u1", "create-1", testIdem.TTL); err != nil || !known {
			t.Fatalf("running key not known: %v %v", known, err)
		}
		// Not the owner: nothing is kept.
		must(t, b.FinishIdempotent(ctx, "u1", "create-1", "B1", &IdemAnswer{Status: 500}))
		must(t, a.FinishIdempotent(ctx, "u1", "create-1", "A1", &IdemAnswer{Status: 201, Header: []byte(`{"Etag":["\"v1\""]}`), Body: []byte(`{"id":"x"}`)}))
		st, ans := begin(b, k, "B3")
		if st != IdemDone || ans.Status != 201 || string(ans.Body) != `{"id":"x"}` || string(ans.Header) != `{"Etag":["\"v1\""]}` {
			t.Fatalf("retry on the other replica: %v %+v", st, ans)
		}

		// A failure is forgotten: the retry runs.
		f := IdemKey{User: "u1", Key: "fails", Hash: []byte("h")}
		begin(a, f, "A2")
		must(t, a.FinishIdempotent(ctx, "u1", "fails", "A2", nil))
		if st, _ := begin(b, f, "B4"); st != IdemLeader {
			t.Fatalf("retry of a failure: %v", st)
		}
		// A request whose replica died is run again after StaleAfter; the
		// dead owner's late answer is not kept.
		clk.Advance(testIdem.StaleAfter)
		if st, _ := begin(a, f, "A3"); st != IdemLeader {
			t.Fatalf("stale running key: %v", st)
		}
		must(t, b.FinishIdempotent(ctx, "u1", "fails", "B4", &IdemAnswer{Status: 200}))
		if st, _ := begin(b, f, "B5"); st != IdemRunning {
			t.Fatalf("after the old owner's answer: %v, want running", st)
		}

		// One user's flood keeps PerUser keys, the newest; others' stay.
		for i := range 50 {
			fk := IdemKey{User: "flood", Key: fmt.Sprint(i), Hash: []byte("h")}
			s := []*Store{a, b}[i%2]
			if st, _ := begin(s, fk, fmt.Sprint("F", i)); st != IdemLeader {
				t.Fatalf("flood %d: %v", i, st)
			}
			must(t, s.FinishIdempotent(ctx, "flood", fk.Key, fmt.Sprint("F", i), &IdemAnswer{Status: 200, Body: make([]byte, 100)}))
		}
		known := func(user, key string) bool {
			ok, err := a.IdempotentKnown(ctx, user, key, testIdem.TTL)
			must(t, err)
			return ok
		}
		var n int
		must(t, a.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM idempotency_keys WHERE user_id = 'flood'`).Scan(&n))
		if n != testIdem.PerUser || !known("flood", "49") || known("flood", "44") || !known("u1", "create-1") {
			t.Fatalf("flood: %d keys kept (want %d, the newest), victim's kept: %v", n, testIdem.PerUser, known("u1", "create-1"))
		}

		// The cleanup: the bound in all, then the bytes, then the TTL.
		_, err := a.cleanIdempotency(ctx, clk.Now(), testIdem.TTL, 4, 1<<20)
		must(t, err)
		must(t, a.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM idempotency_keys`).Scan(&n))
		if n != 4 || !known("u1", "fails") {
			t.Fatalf("after the cleanup to 4 keys: %d kept, running kept: %v", n, known("u1", "fails"))
		}
		_, err = a.cleanIdempotency(ctx, clk.Now(), testIdem.TTL, 4, 150)
		must(t, err)
		var size int64
		must(t, a.w.QueryRowContext(ctx, `SELECT COALESCE(SUM(LENGTH(body)), 0) FROM idempotency_keys`).Scan(&size))
		if size > 150 {
			t.Fatalf("%d bytes of answers kept, bound 150", size)
		}
		clk.Advance(testIdem.TTL)
		if known("u1", "fails") {
			t.Fatal("a key known after its TTL")
		}
		_, err = a.cleanIdempotency(ctx, clk.Now(), testIdem.TTL, 4, 1<<20)
		must(t, err)
		must(t, a.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM idempotency_keys`).Scan(&n))
		if n != 0 {
			t.Fatalf("%d keys left after the TTL", n)
		}
	})
}

// Collapsed audit events counted by two replicas: one row a window per key,
// the count of the rest written once, and the keys beyond the bound counted
// per action.
func TestCollapsedAuditShared(t *testing.T) {
	replicas(t, func(t *testing.T, a, b *Store, clk *fakeclock.Clock) {
		rows := func(action string) []renewal.AuditEntry {
			t.Helper()
			es, err := a.ListAudit(ctx, renewal.AuditQuery{PageSize: 1000})
			must(t, err)
			var out []renewal.AuditEntry // the newest first
			for _, e := range slices.Backward(es) {
				if e.Action == action {
					out = append(out, e)
				}
			}
			return out
		}
		suppressed := func(e renewal.AuditEntry) int64 {
			var m struct{ Suppressed int64 }
			must(t, json.Unmarshal(e.After, &m))
			return m.Suppressed
		}
		k := CollapseKey{Action: "counter.session_refused", Target: "counter", Source: "10.0.0.1", Reason: "bad_signature"}
		ch := Change{Actor: "anonymous", IP: "10.0.0.1", Action: k.Action}
		var wg sync.WaitGroup
		var written atomic.Int64
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, err := []*Store{a, b}[i%2].AuditCollapsed(ctx, k, time.Minute, 10, ch, map[string]any{"fingerprint": "f"})
				if err != nil {
					t.Error(err)
				}
				if w {
					written.Add(1)
				}
			}()
		}
		wg.Wait()
		if written.Load() != 1 || len(rows(k.Action)) != 1 {
			t.Fatalf("30 events in one window on two replicas: %d written, %d rows", written.Load(), len(rows(k.Action)))
		}
		must(t, b.FlushCollapsedAudit(ctx, 10)) // within the window: nothing
		clk.Advance(time.Minute)
		must(t, a.FlushCollapsedAudit(ctx, 10))
		must(t, b.FlushCollapsedAudit(ctx, 10))
		rs := rows(k.Action)
		if len(rs) != 2 || suppressed(rs[0]) != 29 || rs[0].IP != "10.0.0.1" {
			t.Fatalf("after the window: %d rows, the last carrying %s", len(rs), rs[0].After)
		}
		// The next event within the flush row's window is counted, and
		// written with the key's next row.
		if w, err := b.AuditCollapsed(ctx, k, time.Minute, 10, ch, nil); err != nil || w {
			t.Fatalf("within the flush row's window: %v %v", w, err)
		}
		clk.Advance(time.Minute)
		if w, err := a.AuditCollapsed(ctx, k, time.Minute, 10, ch, nil); err != nil || !w {
			t.Fatalf("after it: %v %v", w, err)
		}
		if rs := rows(k.Action); len(rs) != 3 || suppressed(rs[0]) != 1 {
			t.Fatalf("the next row carries %s", rs[0].After)
		}
		// Quiet keys are forgotten.
		clk.Advance(time.Minute)
		must(t, a.FlushCollapsedAudit(ctx, 10))
		var n int
		must(t, a.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_collapse`).Scan(&n))
		if n != 0 {
			t.Fatalf("%d quiet keys kept", n)
		}

		// Beyond 3 keys, new sources are counted per action.
		for i := range 8 {
			k := CollapseKey{Action: "invoice.download", Target: "application/x", Source: fmt.Sprint("10.1.0.", i)}
			if _, err := []*Store{a, b}[i%2].AuditCollapsed(ctx, k, time.Hour, 3, Change{Actor: "invoice_link", Action: k.Action}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if rs := rows("invoice.download"); len(rs) != 3 {
			t.Fatalf("%d rows of 8 sources, 3 tracked", len(rs))
		}
		must(t, b.FlushCollapsedAudit(ctx, 3))
		rs = rows("invoice.download")
		if len(rs) != 4 || suppressed(rs[0]) != 5 || rs[0].Target != "invoice" || rs[0].Actor != "system" {
			t.Fatalf("overflow row: %d rows, %+v", len(rs), rs[0])
		}
		verifyOK(t, a)
	})
}

// The SMS caps and tries hold for concurrent requests on two replicas:
// each counts what the others added.
func TestSMSLimitsUnderConcurrency(t *testing.T) {
	replicas(t, func(t *testing.T, a, b *Store, clk *fakeclock.Clock) {
		lim := SMSLimits{ResendAfter: 0, PerNumberPerIP: 10, PerNumberPerDay: 20, PerIPPerDay: 20, DayStart: clk.Now().Add(-time.Hour)}
		var ok atomic.Int64
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := []*Store{a, b}[i%2].CreateSMSCode(ctx, SMSCode{Mobile: "13800138000", Purpose: "login",
					CodeHash: fmt.Sprint("h", i), IP: "10.0.0.1", TTL: 5 * time.Minute}, lim)
				var le *LimitError
				switch {
				case err == nil:
					ok.Add(1)
				case !errors.As(err, &le):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := ok.Load(); n != 10 {
			t.Fatalf("%d codes sent of a cap of 10 per (number, source)", n)
		}
		// 20 wrong tries at once from the source that asked: 5 counted, the
		// rest refused before they are compared.
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := []*Store{a, b}[i%2].ConsumeSMSCode(ctx, "13800138000", "login", "wrong", "10.0.0.1", 5)
				if !errors.Is(err, ErrMismatch) && !errors.Is(err, ErrTooManyTries) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		var tries int
		must(t, a.w.QueryRowContext(ctx, `SELECT MAX(tries) FROM sms_codes WHERE used_at IS NULL`).Scan(&tries))
		if tries != 5 {
			t.Fatalf("the live code counted %d wrong tries, bound 5", tries)
		}
	})
}
