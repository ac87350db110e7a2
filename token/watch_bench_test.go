//go:build unix

package token

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
)

// Figures for docs/benchmarks/token-read.md; run by hand:
//
//	go test -run '^$' -bench Watch -benchtime 10x ./token/

// BenchmarkWatchRemovalLatency: time from a token's directory disappearing
// (SoftHSM2's stand-in for pulling the token out) to the Removed event,
// with the default 100 ms interval and a removal debounce of 2 polls.
func BenchmarkWatchRemovalLatency(b *testing.B) {
	env := softhsmtest.New(b)
	m, err := OpenModule(env.Module)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		env.InitToken(b, "lat", "12345678", "1111")
		if err := m.Reload(context.Background()); err != nil {
			b.Fatal(err)
		}
		total += watchUntil(b, m, WatchOptions{}, Removed, func() {
			dirs, _ := filepath.Glob(filepath.Join(env.TokenDir, "*"))
			for _, d := range dirs {
				os.RemoveAll(d)
			}
		})
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/removal")
}

// BenchmarkWatchInsertLatency: time from softhsm2-util finishing a new
// token to the Inserted event, polling every 100 ms and re-initialising the
// module every 100 ms (SoftHSM2 needs it; modules of USB tokens do not).
func BenchmarkWatchInsertLatency(b *testing.B) {
	env := softhsmtest.New(b)
	m, err := OpenModule(env.Module)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		total += watchUntil(b, m, WatchOptions{ReloadEvery: 100 * time.Millisecond}, Inserted, func() {
			env.InitToken(b, "ins", "12345678", "1111")
		})
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/insertion")
}

// watchUntil starts a watch, waits for the first poll, runs act and
// returns the time from act's end to the first event of kind want.
func watchUntil(b *testing.B, m *Module, opts WatchOptions, want EventKind, act func()) time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 64)
	polled := make(chan struct{})
	opts.Now = time.Now
	done := make(chan error, 1)
	go func() {
		first := true
		done <- m.Watch(ctx, opts, func(e Event) {
			events <- e
			if first && e.Kind == Present {
				first = false
				close(polled)
			}
		})
	}()
	select {
	case <-polled:
	case <-time.After(5 * time.Second): // no token present yet is fine
	}
	act()
	start := time.Now()
	for {
		select {
		case e := <-events:
			if e.Kind == want {
				d := time.Since(start)
				cancel()
				<-done
				return d
			}
		case <-time.After(30 * time.Second):
			b.Fatalf("no %s event", want)
		}
	}
}

// BenchmarkWatchIdleCPU: CPU time the watcher uses over one second with two
// tokens present and nothing happening, as a percentage of one core.
func BenchmarkWatchIdleCPU(b *testing.B) {
	for _, reload := range []time.Duration{0, time.Second, 100 * time.Millisecond} {
		b.Run("reload-"+reload.String(), func(b *testing.B) {
			env := softhsmtest.New(b)
			env.InitToken(b, "a", "12345678", "1111")
			env.InitToken(b, "b", "12345678", "1111")
			m, err := OpenModule(env.Module)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			var cpu, wall time.Duration
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				c0, w0 := cpuTime(), time.Now()
				if err := m.Watch(ctx, WatchOptions{ReloadEvery: reload}, func(Event) {}); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
				wall += time.Since(w0)
				cancel()
			}
			b.ReportMetric(100*float64(cpu)/float64(wall), "%cpu")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
