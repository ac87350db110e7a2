package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The cost of the state the replicas share, per request: a rate-limit take
// (every request takes one from its source's bucket and, signed in, one
// from its user's) and an idempotent request's claim and answer. Run:
//
//	/work/tools/gotest.sh ./server/store/ -run '^$' -bench 'Shared' -benchtime 5000x
//
// (any UKEY_TEST_PG_DSN will do; figures in docs/BENCHMARKS.md, against
// BenchmarkMemoryLimiter and BenchmarkMemoryIdempotency of package server).
func BenchmarkSharedTakeToken(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			s, _ := be.open(b)
			bk := Bucket{Limiter: "ip", Rate: 1e6, Burst: 1e6}
			measure(b, func(i int) error {
				// 200 sources, as many clerks' offices.
				ok, _, err := s.TakeToken(ctx, bk, fmt.Sprint("10.0.0.", rand.IntN(200)))
				if err == nil && !ok {
					err = fmt.Errorf("refused")
				}
				return err
			})
		})
	}
}

func BenchmarkSharedIdempotency(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			s, _ := be.open(b)
			lim := IdemLimits{TTL: 24 * 3600e9, StaleAfter: 600e9, PerUser: 100}
			body := make([]byte, 2048) // an application's JSON
			measure(b, func(i int) error {
				k := IdemKey{User: fmt.Sprint("user", i%200), Key: fmt.Sprint("key", i), Hash: []byte("0123456789abcdef0123456789abcdef")}
				owner := NewID()
				st, _, err := s.BeginIdempotent(ctx, k, owner, lim)
				if err != nil {
					return err
				}
				if st != IdemLeader {
					return fmt.Errorf("state %d", st)
				}
				return s.FinishIdempotent(ctx, k.User, k.Key, owner, &IdemAnswer{Status: 201, Header: []byte(`{"Content-Type":["application/json"]}`), Body: body})
			})
		})
	}
}
