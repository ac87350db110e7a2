package session

import (
	"context"
	"errors"
	"testing"
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

func TestGuardAbandonsAHungCall(t *testing.T) {
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
	// Once the hung call returns, the slot is free again (polled: the
	// abandoned goroutine frees it on its own schedule).
	var err error
	for i := 0; i < 5000; i++ {
		if err = g.do(context.Background(), func() error { return want }); !errors.Is(err, ErrTimeout) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != want {
		t.Fatalf("call after release = %v, want fn's own error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.do(ctx, func() error { time.Sleep(10 * time.Millisecond); return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call = %v, want context.Canceled", err)
	}
}
