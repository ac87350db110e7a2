package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

// payService is a scripted payment status source on the test clock: the
// server's clock runs skew ahead of the client's; the QR expires 300 s
// after start by the server's clock; paidAt (server time, zero: never)
// is when the clerk pays.
type payService struct {
	clk     *fakeclock.Clock
	skew    time.Duration
	expires time.Time
	paidAt  time.Time
	failN   int // the first failN polls fail
	polls   int
	rtt     time.Duration // each poll takes this long
}

func (p *payService) fetch(ctx context.Context) (client.PaymentPoll, error) {
	p.polls++
	if p.rtt > 0 {
		_ = p.clk.Sleep(ctx, p.rtt)
	}
	if p.polls <= p.failN {
		return client.PaymentPoll{}, errors.New("connection reset")
	}
	now := p.clk.Now().Add(p.skew)
	st := client.PaymentPoll{State: client.PaymentPending, ExpiresAt: p.expires, ServerTime: now.Truncate(time.Second)}
	switch {
	case !p.paidAt.IsZero() && !now.Before(p.paidAt):
		st.State = client.PaymentPaid
	case now.After(p.expires.Add(10 * time.Second)): // the service closes the order a little after
		st.State = client.PaymentExpired
	}
	return st, nil
}

func TestPaymentWatcherCountdownUsesServerClock(t *testing.T) {
	for _, skew := range []time.Duration{0, 7 * time.Minute, -3 * time.Minute} {
		clk := fakeclock.New(start)
		svc := &payService{clk: clk, skew: skew, expires: start.Add(skew).Add(300 * time.Second), rtt: 40 * time.Millisecond}
		var updates []client.PaymentUpdate
		w := &client.PaymentWatcher{Fetch: svc.fetch, Clock: clk, OnUpdate: func(u client.PaymentUpdate) { updates = append(updates, u) }}
		st, err := w.Watch(t.Context())
		if err != nil || st.State != client.PaymentExpired {
			t.Fatalf("skew %v: %+v, %v", skew, st, err)
		}
		// The first countdown is 300 s less the poll, whatever the local clock says.
		if got := updates[0].Remaining; got < 298*time.Second || got > 300*time.Second {
			t.Fatalf("skew %v: first countdown %v", skew, got)
		}
		// The countdown reaches zero at the server's expiry, within the Date header's second.
		for _, u := range updates {
			serverNow := u.Poll.ServerTime
			want := u.Poll.ExpiresAt.Sub(serverNow)
			if d := u.Remaining - max(want, 0); d < -1500*time.Millisecond || d > 1500*time.Millisecond {
				t.Fatalf("skew %v: remaining %v, server says %v", skew, u.Remaining, want)
			}
		}
		// Polls back off while nothing changes but never sleep past the window's end.
		for _, s := range clk.Sleeps() {
			if s > client.DefaultPollMax {
				t.Fatalf("slept %v", s)
			}
		}
		if svc.polls > 120 {
			t.Fatalf("skew %v: %d polls for a 300 s window", skew, svc.polls)
		}
	}
}

func TestPaymentWatcherPaidAtLastSecond(t *testing.T) {
	clk := fakeclock.New(start)
	exp := start.Add(300 * time.Second)
	svc := &payService{clk: clk, expires: exp, paidAt: exp.Add(-200 * time.Millisecond)}
	st, err := (&client.PaymentWatcher{Fetch: svc.fetch, Clock: clk}).Watch(t.Context())
	if err != nil || st.State != client.PaymentPaid {
		t.Fatalf("%+v, %v", st, err)
	}
	// Seen promptly: the watcher was polling when the window ended.
	if late := clk.Now().Sub(svc.paidAt); late > 2*time.Second {
		t.Fatalf("paid seen %v late", late)
	}
}

func TestPaymentWatcherErrors(t *testing.T) {
	clk := fakeclock.New(start)
	svc := &payService{clk: clk, expires: start.Add(300 * time.Second), paidAt: start.Add(30 * time.Second), failN: 3}
	var failed int
	w := &client.PaymentWatcher{Fetch: svc.fetch, Clock: clk, OnUpdate: func(u client.PaymentUpdate) {
		if u.Err != nil {
			failed++
		}
	}}
	st, err := w.Watch(t.Context())
	if err != nil || st.State != client.PaymentPaid || failed != 3 {
		t.Fatalf("%+v, %v, %d failures reported", st, err, failed)
	}
	if sl := clk.Sleeps(); sl[0] != time.Second || sl[1] != 2*time.Second || sl[2] != 4*time.Second {
		t.Fatalf("error backoff %v", sl[:3])
	}
	// Too many failures in a row end the watch with the cause.
	clk = fakeclock.New(start)
	svc = &payService{clk: clk, expires: start.Add(300 * time.Second), failN: 100}
	_, err = (&client.PaymentWatcher{Fetch: svc.fetch, Clock: clk, MaxErrors: 4}).Watch(t.Context())
	if err == nil || svc.polls != 4 {
		t.Fatalf("%v after %d polls", err, svc.polls)
	}
	// A service that never decides: the watcher stops after the grace.
	clk = fakeclock.New(start)
	never := func(ctx context.Context) (client.PaymentPoll, error) {
		return client.PaymentPoll{State: client.PaymentPending, ExpiresAt: start.Add(300 * time.Second)}, nil
	}
	_, err = (&client.PaymentWatcher{Fetch: never, Clock: clk, Grace: time.Minute}).Watch(t.Context())
	if !errors.Is(err, client.ErrPaymentUndecided) || clk.Now().Sub(start) < 360*time.Second || clk.Now().Sub(start) > 370*time.Second {
		t.Fatalf("%v at %v", err, clk.Now().Sub(start))
	}
	// Cancelled: returns at once.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := (&client.PaymentWatcher{Fetch: never, Clock: clk}).Watch(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := (&client.PaymentWatcher{}).Watch(t.Context()); err == nil {
		t.Fatal("a watcher without fetch ran")
	}
}

func TestCountdownAndServerDate(t *testing.T) {
	h := http.Header{"Date": {"Mon, 23 Nov 2026 04:10:00 GMT"}}
	srv := client.ServerDate(h)
	if !srv.Equal(time.Date(2026, 11, 23, 4, 10, 0, 0, time.UTC)) {
		t.Fatalf("date %v", srv)
	}
	if !client.ServerDate(http.Header{"Date": {"yesterday"}}).IsZero() {
		t.Fatal("a bad Date parsed")
	}
	// Local clock 10 minutes slow: the countdown is still the server's.
	local := srv.Add(-10 * time.Minute)
	cd := client.NewCountdown(srv.Add(300*time.Second), srv, local, local.Add(100*time.Millisecond))
	if r := cd.Remaining(local.Add(100 * time.Millisecond)); r < 298*time.Second || r > 300*time.Second {
		t.Fatalf("remaining %v", r)
	}
	if r := cd.Remaining(local.Add(time.Hour)); r != 0 {
		t.Fatalf("after the window: %v", r)
	}
	// No Date header: the local clock is all there is.
	cd = client.NewCountdown(local.Add(300*time.Second), time.Time{}, local, local)
	if r := cd.Remaining(local); r != 300*time.Second {
		t.Fatalf("without a Date: %v", r)
	}
}
