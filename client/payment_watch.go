package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// PaymentState is where one QR payment attempt stands.
type PaymentState string

// Payment states the watcher knows. Pending is the only one that is not final.
const (
	PaymentPending   PaymentState = "pending"   // QR shown, not paid yet (未支付)
	PaymentPaid      PaymentState = "paid"      // 已支付
	PaymentExpired   PaymentState = "expired"   // the window is over: ask for a new QR
	PaymentCancelled PaymentState = "cancelled" // the application or order was given up
)

// Final reports whether s ends the watch.
func (s PaymentState) Final() bool {
	return s == PaymentPaid || s == PaymentExpired || s == PaymentCancelled
}

// PaymentPoll is one answer of the service about a payment attempt, in the
// watcher's terms (the service's own answer is renewal.PaymentStatus).
type PaymentPoll struct {
	State PaymentState
	// ExpiresAt is the service's end of the QR window (its clock).
	ExpiresAt time.Time
	// ServerTime is the answer's Date header (zero if absent); with the
	// local time of the answer it corrects the countdown for clock skew.
	ServerTime time.Time
}

// FetchPaymentPoll asks the service once. It is the watcher's only tie to
// the payment routes, so any transport (the Client, a test) can feed it.
type FetchPaymentPoll func(ctx context.Context) (PaymentPoll, error)

// ServerDate reads an answer's Date header (zero time if absent or bad).
func ServerDate(h http.Header) time.Time {
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t
}

// Countdown is the time left of a QR window by the server's clock.
type Countdown struct {
	ExpiresAt time.Time     // the server's expiry
	Offset    time.Duration // server clock minus local clock
}

// NewCountdown derives the offset from an answer: serverTime is its Date
// header, sent and received the local times around the request. The Date
// header has whole seconds, so the offset is good to about a second; a
// zero serverTime trusts the local clock.
func NewCountdown(expiresAt, serverTime, sent, received time.Time) Countdown {
	c := Countdown{ExpiresAt: expiresAt}
	if !serverTime.IsZero() && !sent.IsZero() && !received.Before(sent) {
		mid := sent.Add(received.Sub(sent) / 2)
		// Date truncates to the second: its true value is up to 1 s later.
		c.Offset = serverTime.Add(500 * time.Millisecond).Sub(mid)
	}
	return c
}

// Remaining is the time left at local time now (never negative).
func (c Countdown) Remaining(now time.Time) time.Duration {
	d := c.ExpiresAt.Sub(now.Add(c.Offset))
	if d < 0 {
		return 0
	}
	return d
}

// Limits of the payment watcher.
const (
	DefaultPollMin      = time.Second
	DefaultPollMax      = 5 * time.Second
	DefaultPollErrors   = 5               // consecutive failed polls before giving up
	DefaultPaymentGrace = 2 * time.Minute // polls after the window closes, for a last-second payment
	MaxPollInterval     = time.Minute
)

// PaymentUpdate is what the watcher reports after each poll.
type PaymentUpdate struct {
	Poll      PaymentPoll
	Remaining time.Duration // countdown by the server's clock
	Err       error         // a failed poll (the watch goes on)
}

// PaymentWatcher polls a payment until it is paid, expired or cancelled.
type PaymentWatcher struct {
	Fetch FetchPaymentPoll
	Clock Clock // default the wall clock
	// PollMin and PollMax bound the interval, which grows by half after
	// each unchanged answer and is cut short near the window's end.
	PollMin, PollMax time.Duration
	// MaxErrors consecutive failed polls end the watch with the last error.
	MaxErrors int
	// Grace is how long polling goes on after the countdown reaches zero
	// while the service still says pending (a payment at the last second
	// counts; the service closes the order). Then ErrPaymentUndecided.
	Grace time.Duration
	// OnUpdate, if set, is called after every poll (from Watch's goroutine).
	OnUpdate func(PaymentUpdate)
}

// ErrPaymentUndecided: the window closed long ago and the service still
// says pending.
var ErrPaymentUndecided = errors.New("client: payment still pending after its window; check again later")

// Watch polls until a final state and returns it.
func (w *PaymentWatcher) Watch(ctx context.Context) (PaymentPoll, error) {
	if w.Fetch == nil {
		return PaymentPoll{}, errors.New("client: payment watcher without a fetch function")
	}
	clk := w.Clock
	if clk == nil {
		clk = realClock{}
	}
	lo, hi := w.PollMin, w.PollMax
	if lo <= 0 {
		lo = DefaultPollMin
	}
	if hi <= 0 {
		hi = DefaultPollMax
	}
	if hi > MaxPollInterval {
		hi = MaxPollInterval
	}
	if lo > hi {
		lo = hi
	}
	maxErr := w.MaxErrors
	if maxErr <= 0 {
		maxErr = DefaultPollErrors
	}
	grace := w.Grace
	if grace <= 0 {
		grace = DefaultPaymentGrace
	}
	interval, errs := lo, 0
	var last PaymentPoll
	var cd Countdown
	for {
		sent := clk.Now()
		st, err := w.Fetch(ctx)
		received := clk.Now()
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		wait := interval
		if err != nil {
			errs++
			if w.OnUpdate != nil {
				w.OnUpdate(PaymentUpdate{Poll: last, Remaining: cd.Remaining(received), Err: err})
			}
			if errs >= maxErr {
				return last, fmt.Errorf("client: payment status: %d polls failed: %w", errs, err)
			}
			interval = min(interval*2, hi)
		} else {
			errs = 0
			if st.State != last.State || !st.ExpiresAt.Equal(last.ExpiresAt) {
				interval = lo // something moved: look again soon
			} else {
				interval = min(interval+interval/2, hi)
			}
			last = st
			cd = NewCountdown(st.ExpiresAt, st.ServerTime, sent, received)
			rem := cd.Remaining(received)
			if w.OnUpdate != nil {
				w.OnUpdate(PaymentUpdate{Poll: st, Remaining: rem})
			}
			if st.State.Final() {
				return st, nil
			}
			switch {
			case rem > 0 && rem < interval:
				wait = max(rem, lo) // be there when the window ends
			case rem == 0:
				if over := received.Add(cd.Offset).Sub(st.ExpiresAt); over > grace {
					return st, ErrPaymentUndecided
				}
				wait = lo
			default:
				wait = interval
			}
		}
		if err := clk.Sleep(ctx, wait); err != nil {
			return last, err
		}
	}
}
