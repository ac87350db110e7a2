//go:build startprofile

// Start-up profiling, built only with `go build -tags startprofile`: with
// UKEY_CPUPROFILE=FILE the client writes a CPU profile of its first
// UKEY_PROFILE_MS milliseconds (default 1000) for `go tool pprof -top`, and
// with UKEY_TRACE=FILE an execution trace of the same span for
// `go tool trace` (which goroutine ran when, on which of the two cores).
// Nothing of this is in the client that ships.

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"time"
)

func init() {
	ms, err := strconv.Atoi(os.Getenv("UKEY_PROFILE_MS"))
	if err != nil || ms <= 0 || ms > 60_000 {
		ms = 1000
	}
	var stops []func()
	if p := os.Getenv("UKEY_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			stops = append(stops, func() { pprof.StopCPUProfile(); _ = f.Close() })
		} else {
			fmt.Fprintln(os.Stderr, "ukeyrenew: cpu profile:", err)
		}
	}
	if p := os.Getenv("UKEY_TRACE"); p != "" {
		f, err := os.Create(p)
		if err == nil && trace.Start(f) == nil {
			stops = append(stops, func() { trace.Stop(); _ = f.Close() })
		} else {
			fmt.Fprintln(os.Stderr, "ukeyrenew: trace:", err)
		}
	}
	if len(stops) > 0 {
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
			for _, stop := range stops {
				stop()
			}
		})
	}
}
