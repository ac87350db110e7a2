package workstation

import (
	"context"
	"testing"
	"time"
)

func TestBackToBackCallsNeverSeeABusySlot(t *testing.T) {
	k := newKey(nil, Options{Timeout: time.Minute})
	for i := 0; i < 200000; i++ {
		if err := k.do(context.Background(), func() error { return nil }); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}
