package server

import (
	"fmt"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiterBurstRefillAndWait(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := newLimiter(c.now, 0.5, 3, 100) // one token every 2 s
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait != 2*time.Second {
		t.Fatalf("past the burst: %v, wait %v; want refused, 2s", ok, wait)
	}
	// Another key has its own bucket.
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("a second key shares the first one's bucket")
	}
	c.advance(500 * time.Millisecond)
	if ok, wait := l.peek("a"); ok || wait != 1500*time.Millisecond {
		t.Fatalf("peek after 0.5 s: %v, wait %v; want refused, 1.5s", ok, wait)
	}
	if ok, wait := l.allow("a"); ok || wait != 1500*time.Millisecond {
		t.Fatalf("after 0.5 s: %v, wait %v; want refused, 1.5s", ok, wait)
	}
	c.advance(1500 * time.Millisecond)
	if ok, _ := l.peek("a"); !ok {
		t.Fatal("peek refuses a refilled token")
	}
	// peek took nothing: the token is still there, and then gone.
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("a refilled token refused")
	}
	if ok, _ := l.allow("a"); ok {
		t.Fatal("a second token given after one refill")
	}
	// A long rest fills the bucket to the burst, not beyond.
	c.advance(time.Hour)
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d after a rest refused", i+1)
		}
	}
	if ok, _ := l.allow("a"); ok {
		t.Fatal("a rest gave more than the burst")
	}
	// peek of an unknown key allows.
	if ok, wait := l.peek("never"); !ok || wait != 0 {
		t.Fatalf("peek of an unknown key: %v %v", ok, wait)
	}
}

func TestLimiterKeysAreBoundedAndSwept(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := newLimiter(c.now, 1, 2, 3)
	for i := range 3 {
		l.allow(fmt.Sprint("k", i))
	}
	// All three buckets are busy: a fourth key is refused (fail closed).
	if ok, wait := l.allow("k3"); ok || wait != time.Second {
		t.Fatalf("a key past maxKeys: %v, wait %v; want refused, 1s", ok, wait)
	}
	// Once the buckets are full again they are dropped and the new key fits.
	c.advance(time.Second)
	if ok, _ := l.allow("k3"); !ok {
		t.Fatal("new key refused although the old buckets are full again")
	}
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets kept, want 1 (the full ones dropped)", n)
	}
	// The periodic sweep drops full buckets too, but not the busy ones.
	l.allow("busy")
	l.allow("busy")
	c.advance(2 * time.Minute)
	l.allow("busy") // takes one of two refilled tokens; k3 is full
	if _, ok := l.buckets["k3"]; ok {
		t.Fatal("the sweep kept a full bucket")
	}
	if _, ok := l.buckets["busy"]; !ok {
		t.Fatal("the sweep dropped a bucket in use")
	}
}

func TestLimiterOff(t *testing.T) {
	var nilLimiter *limiter
	off := newLimiter(time.Now, 0, 0, 0)
	for _, l := range []*limiter{nilLimiter, off} {
		for range 10 {
			if ok, wait := l.allow("x"); !ok || wait != 0 {
				t.Fatalf("a limiter without a rate refused: %v", wait)
			}
		}
		if ok, _ := l.peek("x"); !ok {
			t.Fatal("a limiter without a rate refused a peek")
		}
	}
}

func TestSourceOf(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.7":              "203.0.113.7",
		"::ffff:203.0.113.7":       "203.0.113.7",
		"2001:db8:1:2::1":          "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9":     "2001:db8:1:2::/64",
		"fe80::1%eth0":             "fe80::/64",
		"not an address":           "not an address",
		"2001:db8:1:3:aaaa:bbbb::": "2001:db8:1:3::/64",
	} {
		if got := sourceOf(ip); got != want {
			t.Errorf("sourceOf(%q) = %q, want %q", ip, got, want)
		}
	}
}

// BenchmarkMemoryLimiter is a take from an in-memory bucket, to set
// against a take from the store's (BenchmarkSharedTakeToken in
// server/store): 200 sources, on 8 goroutines.
func BenchmarkMemoryLimiter(b *testing.B) {
	l := newLimiter(time.Now, 1e6, 1e6, 100_000)
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprint("10.0.0.", i)
	}
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if ok, _ := l.allow(keys[i%len(keys)]); !ok {
				b.Error("refused")
			}
			i++
		}
	})
}
