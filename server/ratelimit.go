package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ukeyrenew/ukeyrenew/server/store"
	"golang.org/x/time/rate"
)

// rateLimiter is a token bucket per key: take draws a token, check only
// looks; without one, how long until there is. A limiter is either in this
// process's memory (limiter) or in the store, shared by every replica
// (sharedLimiter): see newRateLimiter.
type rateLimiter interface {
	take(ctx context.Context, key string) (bool, time.Duration, error)
	check(ctx context.Context, key string) (bool, time.Duration, error)
}

// sharedLimiter keeps its buckets in the store: every replica of the
// service draws on the same ones. A bucket of the same size in this
// process's memory goes first: what it refuses, this replica alone has
// already asked for beyond the limit, so the shared bucket would refuse it
// too, and a flood from one source costs the database at most the limit's
// rate of takes a replica.
type sharedLimiter struct {
	st    *store.Store
	b     store.Bucket
	local *limiter
}

func (l sharedLimiter) take(ctx context.Context, key string) (bool, time.Duration, error) {
	if ok, wait := l.local.allow(key); !ok {
		return false, wait, nil
	}
	return l.st.TakeToken(ctx, l.b, storedKey(key))
}

func (l sharedLimiter) check(ctx context.Context, key string) (bool, time.Duration, error) {
	return l.st.PeekToken(ctx, l.b, storedKey(key))
}

// storedKey is key as a database text holds it: itself, unless it holds
// a NUL (an account and a source) or bytes that are not UTF-8, which are
// stored as their SHA-256 (no key of the other kind starts with "sha256:").
func storedKey(key string) string {
	if strings.IndexByte(key, 0) < 0 && utf8.ValidString(key) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (l *limiter) take(_ context.Context, key string) (bool, time.Duration, error) {
	ok, wait := l.allow(key)
	return ok, wait, nil
}

func (l *limiter) check(_ context.Context, key string) (bool, time.Duration, error) {
	ok, wait := l.peek(key)
	return ok, wait, nil
}

// newRateLimiter is the limiter name of perSecond tokens, burst at most:
// in the store when shared, else in memory (at most maxKeys buckets).
func newRateLimiter(st *store.Store, shared bool, now func() time.Time, name string, perSecond float64, burst, maxKeys int) rateLimiter {
	if shared {
		return sharedLimiter{st: st, b: store.Bucket{Limiter: name, Rate: perSecond, Burst: burst},
			local: newLimiter(now, perSecond, burst, maxKeys)}
	}
	return newLimiter(now, perSecond, burst, maxKeys)
}

// limiter is a token bucket per key (IP address or account). Buckets idle
// long enough to be full again are dropped; at most maxKeys are kept, and
// when that many are busy new keys are refused (fail closed).
type limiter struct {
	now     func() time.Time
	rate    rate.Limit // tokens per second
	burst   int
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

func newLimiter(now func() time.Time, perSecond float64, burst, maxKeys int) *limiter {
	return &limiter{now: now, rate: rate.Limit(perSecond), burst: burst, maxKeys: maxKeys, buckets: map[string]*rate.Limiter{}}
}

// allow takes one token for key; if none is left it says how long to wait.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.sweep(now)
			if len(l.buckets) >= l.maxKeys {
				return false, time.Second
			}
		}
		b = rate.NewLimiter(l.rate, l.burst) // starts full
		l.buckets[key] = b
	}
	allowed := b.AllowN(now, 1)
	if now.Sub(l.swept) > time.Minute {
		l.sweep(now)
	}
	if allowed {
		return true, 0
	}
	return false, l.wait(b, now)
}

// wait is how long b needs to hold one token again.
func (l *limiter) wait(b *rate.Limiter, now time.Time) time.Duration {
	return time.Duration((1 - b.TokensAt(now)) / float64(l.rate) * float64(time.Second))
}

// sweep drops the buckets that are full: a new bucket is the same.
func (l *limiter) sweep(now time.Time) {
	l.swept = now
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}

// peek reports whether key has a token left, without taking it.
func (l *limiter) peek(key string) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok || b.TokensAt(now) >= 1 {
		return true, 0
	}
	return false, l.wait(b, now)
}

// sourceOf is the source a limit counts a client address under: an IPv4
// address itself, an IPv6 address's /64 (one host or network gets a /64 and
// may use all of it).
func sourceOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}
