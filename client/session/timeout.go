package session

import (
	"context"
	"fmt"
	"time"
)

// guard runs calls that cannot be cancelled (go-keyring, TPM transports)
// under a timeout. A call that overruns is abandoned; it keeps the guard's
// single slot until it returns, so later calls fail fast with ErrTimeout
// instead of piling up goroutines behind a hung keyring or TPM.
type guard struct {
	what    string
	timeout time.Duration
	slot    chan struct{}
}

func newGuard(what string, timeout time.Duration) *guard {
	return &guard{what: what, timeout: timeout, slot: make(chan struct{}, 1)}
}

func (g *guard) do(ctx context.Context, fn func() error) error {
	select {
	case g.slot <- struct{}{}:
	default:
		return fmt.Errorf("%w: %s still busy with an earlier call that did not answer", ErrTimeout, g.what)
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := fn()
		<-g.slot // free before answering, so the caller's next call finds it free
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%w: %s did not answer within %v", ErrTimeout, g.what, g.timeout)
		}
		return fmt.Errorf("session: %s: %w", g.what, ctx.Err())
	}
}
