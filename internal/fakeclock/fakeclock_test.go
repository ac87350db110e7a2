package fakeclock_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

var start = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

func TestStandsStillUntilMoved(t *testing.T) {
	c := fakeclock.New(start)
	time.Sleep(time.Millisecond)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now moved by itself: %v", got)
	}
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("after Advance: %v", got)
	}
	later := start.AddDate(0, 1, 0)
	c.Set(later)
	if got := c.Now(); !got.Equal(later) {
		t.Fatalf("after Set: %v", got)
	}
}

func TestSleepMovesTimeAndIsRecorded(t *testing.T) {
	c := fakeclock.New(start)
	if err := c.Sleep(t.Context(), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Sleep(t.Context(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := c.Now(); !got.Equal(start.Add(3 * time.Second)) {
		t.Fatalf("after two sleeps: %v", got)
	}
	if got := c.Sleeps(); !slices.Equal(got, []time.Duration{time.Second, 2 * time.Second}) {
		t.Fatalf("Sleeps = %v", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on a cancelled context: %v", err)
	}
	if got := c.Now(); !got.Equal(start.Add(3 * time.Second)) {
		t.Fatalf("a refused sleep moved the clock: %v", got)
	}
}

// Run with -race: readers and writers on many goroutines.
func TestConcurrentUse(t *testing.T) {
	c := fakeclock.New(start)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Millisecond)
				_ = c.Now()
				_ = c.Sleep(context.Background(), time.Millisecond)
			}
		})
	}
	wg.Wait()
	if got := c.Now(); !got.Equal(start.Add(1600 * time.Millisecond)) {
		t.Fatalf("after 1600 moves of 1ms: %v", got.Sub(start))
	}
	if n := len(c.Sleeps()); n != 800 {
		t.Fatalf("%d sleeps recorded, want 800", n)
	}
}
