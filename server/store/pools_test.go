package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Reads have connections of their own: with every writer connection held
// by a transaction, reads are still served.
func TestReadsDoNotWaitForWriters(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			writers := 2
			if b.name == "sqlite" {
				writers = 1
			}
			s, _ := b.open(t, WithPools(2, writers))
			f := seed(t, s, newClock())
			if got := s.w.Stats().MaxOpenConnections; got != writers {
				t.Fatalf("%d writer connections, want %d", got, writers)
			}
			if got := s.r.Stats().MaxOpenConnections; got != 2 {
				t.Fatalf("%d reader connections, want 2", got)
			}
			release := make(chan struct{})
			var held, wg sync.WaitGroup
			held.Add(writers)
			for range writers {
				wg.Go(func() {
					_ = s.Write(ctx, func(tx *Tx) error {
						held.Done()
						<-release
						return nil
					})
				})
			}
			held.Wait()
			// Only a read that waits for a writer would hit this deadline.
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			for range 5 {
				if _, err := s.Certificate(rctx, AllScope(), f.certA.Serial); err != nil {
					t.Fatalf("read while the writers are busy: %v", err)
				}
			}
			close(release)
			wg.Wait()
		})
	}
}

// Pool sizes out of range are refused, naming them.
func TestWithPoolsRefusesBadSizes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "renewd.db")
	for _, p := range [][2]int{{-1, 0}, {0, -1}, {MaxPoolConns + 1, 0}, {0, 2}} {
		s, err := OpenSQLite(ctx, path, WithPools(p[0], p[1]))
		if err == nil {
			s.Close()
			t.Errorf("WithPools(%d, %d) accepted on SQLite", p[0], p[1])
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("WithPools(%d, %d): %v, want ErrInvalid", p[0], p[1], err)
		}
	}
	s, err := OpenSQLite(ctx, path, WithPools(3, 1))
	must(t, err)
	defer s.Close()
	if s.r.Stats().MaxOpenConnections != 3 || s.w.Stats().MaxOpenConnections != 1 {
		t.Errorf("pools %d/%d, want 3/1", s.r.Stats().MaxOpenConnections, s.w.Stats().MaxOpenConnections)
	}
}

// Writers waiting for their turn get it in the order they came; one whose
// context ends stops waiting.
func TestGateIsFirstComeFirstServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := make(gate, 1)
		must(t, g.enter(context.Background()))
		var mu sync.Mutex
		var order []int
		for i := range 6 {
			go func() {
				if err := g.enter(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				g.leave()
			}()
			synctest.Wait() // i waits before i+1 comes
		}
		cctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- g.enter(cctx) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled wait: %v", err)
		}
		g.leave()
		synctest.Wait()
		for i, got := range order {
			if got != i {
				t.Fatalf("turns in the order %v", order)
			}
		}
		if len(order) != 6 {
			t.Fatalf("%d turns, want 6", len(order))
		}
	})
}
