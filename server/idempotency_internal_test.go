package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// One user's keys cannot push another's out of the cache, answers are
// bounded in bytes, and a request still running is never forgotten.
func TestIdempotencyCacheIsFairAndBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newIdemCache(func() time.Time { return now })
	c.maxKeys, c.perUser, c.maxBytes = 50, 5, 20_000
	var sum [32]byte
	run := func(user, key string, body int) *idemEntry {
		t.Helper()
		ck := user + "\x00" + key
		e, leader := c.begin(user, ck, sum)
		if !leader {
			t.Fatalf("%s %s: not the leader", user, key)
		}
		e.body = make([]byte, body)
		c.finish(ck, e, true)
		return e
	}
	knows := func(user, key string) bool { return c.known(user + "\x00" + key) }

	// The victim's retry key, then a flood from one account.
	run("victim", "retry-me", 100)
	for i := range 500 {
		run("flood", fmt.Sprint(i), 100)
	}
	if !knows("victim", "retry-me") {
		t.Fatal("one account's 500 keys pushed another user's key out")
	}
	if n := c.users["flood"]; n != c.perUser {
		t.Fatalf("the flooding account keeps %d keys, want %d", n, c.perUser)
	}
	if !knows("flood", "499") || knows("flood", "0") {
		t.Fatal("a user's oldest keys should go first, the newest stay")
	}

	// Many users: the whole cache stays within its key count.
	for i := range 200 {
		run(fmt.Sprint("u", i), "k", 10)
	}
	if len(c.m) > c.maxKeys {
		t.Fatalf("%d keys kept, bound %d", len(c.m), c.maxKeys)
	}

	// Large answers: the bytes stay within their bound (one entry over at most).
	for i := range 40 {
		run(fmt.Sprint("big", i), "k", 1500)
	}
	if c.bytes > c.maxBytes+1500+300 {
		t.Fatalf("%d bytes of answers kept, bound %d", c.bytes, c.maxBytes)
	}

	// A request still running is kept whatever comes after it; its
	// duplicate is told to wait, not to run beside it.
	slow := "slow\x00k"
	e, _ := c.begin("slow", slow, sum)
	for i := range 300 {
		run(fmt.Sprint("later", i), "k", 10)
	}
	if d, leader := c.begin("slow", slow, sum); leader || d != e {
		t.Fatal("a running request was forgotten: its duplicate would run beside it")
	}
	c.finish(slow, e, true)

	// Expired entries go, and the counts agree with what is kept.
	now = now.Add(IdempotencyTTL + time.Second)
	run("after", "k", 10)
	if len(c.m) != 1 || c.bytes != c.m["after\x00k"].size {
		t.Fatalf("after the TTL: %d keys, %d bytes", len(c.m), c.bytes)
	}
	total := 0
	for u, n := range c.users {
		if strings.Contains(u, "\x00") {
			t.Fatal("a user name holds the separator")
		}
		total += n
	}
	if total != len(c.m) {
		t.Fatalf("per-user counts sum to %d, %d keys kept", total, len(c.m))
	}
}
