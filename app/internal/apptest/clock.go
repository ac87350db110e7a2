package apptest

import (
	"context"
	"sync"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

// StepClock is the client's clock in a test: a fakeclock.Clock whose time
// moves only when the test says, with two changes fakeclock lacks for a
// payment watcher that polls. Sleep yields for a moment of real time without
// moving the clock, so the watcher polls while the test decides what time it
// is (fakeclock's Sleep jumps ahead at once). Advance moves time only while a
// watcher sleeps, never in the middle of a request, as a real clock does not
// jump minutes while an answer is on its way.
type StepClock struct {
	*fakeclock.Clock
	mu       sync.Mutex
	sleeping int
}

// NewStepClock returns a clock that reads t until it is moved.
func NewStepClock(t time.Time) *StepClock { return &StepClock{Clock: fakeclock.New(t)} }

func (c *StepClock) Advance(d time.Duration) {
	for i := 0; ; i++ {
		c.mu.Lock()
		if c.sleeping > 0 || i > 5000 {
			c.Clock.Advance(d)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
	}
}

func (c *StepClock) Sleep(ctx context.Context, _ time.Duration) error {
	c.mu.Lock()
	c.sleeping++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sleeping--
		c.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Millisecond):
		return nil
	}
}
