// Package fakeclock is the time of a test: it stands still until the test
// moves it (Advance, Set), and a Sleep returns at once having moved it, so
// backoffs, countdowns and expiries run in microseconds. It is safe for
// concurrent use, since the code under test reads it from its own goroutines.
//
// Its Now fits every injected clock of the project (store.WithClock,
// server.Deps.Now, payment.Config.Clock, the simulators); with Sleep it is
// also a client.Clock. A test that must wait on real timers (time.After,
// time.Ticker) inside the code under test wants testing/synctest instead.
package fakeclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake clock. The zero value is not usable: make one with New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// New returns a clock that reads start until it is moved.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d (backwards if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Sleep returns ctx's error if it is done, else advances the clock by d at
// once and records d (see Sleeps).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return nil
}

// Sleeps returns the durations passed to Sleep, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
