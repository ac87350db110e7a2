package session

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestGuardBackToBackCallsNeverSeeABusySlot(t *testing.T) {
	g := newGuard("test", time.Minute)
	for i := 0; i < 200000; i++ {
		if err := g.do(context.Background(), func() error { return nil }); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// In a synctest bubble the guard's timeout passes as soon as every
// goroutine waits, and synctest.Wait lets the abandoned call finish.
func TestGuardAbandonsAHungCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGuard("test", 20*time.Millisecond)
		release := make(chan struct{})
		want := errors.New("from fn")
		if err := g.do(context.Background(), func() error { <-release; return nil }); !errors.Is(err, ErrTimeout) {
			t.Fatalf("hung call = %v, want ErrTimeout", err)
		}
		ran := false
		if err := g.do(context.Background(), func() error { ran = true; return nil }); !errors.Is(err, ErrTimeout) || ran {
			t.Fatalf("call while the hung one runs = %v (ran %v), want ErrTimeout without running", err, ran)
		}
		close(release)
		synctest.Wait() // the abandoned goroutine has returned and freed the slot
		if err := g.do(context.Background(), func() error { return want }); err != want {
			t.Fatalf("call after release = %v, want fn's own error", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := g.do(ctx, func() error { time.Sleep(10 * time.Millisecond); return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call = %v, want context.Canceled", err)
		}
		time.Sleep(time.Second) // no time at all: the cancelled call's fn ends before the bubble does
	})
}
