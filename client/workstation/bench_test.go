//go:build linux

package workstation_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/client/workstation"
	"github.com/ukeyrenew/ukeyrenew/renewal/counter"
)

// Figures for docs/benchmarks/session.md. Run by hand:
//
//	go test -run '^$' -bench . -benchtime 200x ./client/workstation/

func BenchmarkSignChallenge(b *testing.B) {
	ctx := context.Background()
	k, err := workstation.Create(ctx, workstation.Options{OpenTPM: startSWTPM(b).Open})
	if err != nil {
		b.Fatal(err)
	}
	c, _ := counter.NewChallenge(origin, rand.Reader)
	for b.Loop() {
		if _, err := k.SignChallenge(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateKey(b *testing.B) {
	ctx := context.Background()
	opts := workstation.Options{OpenTPM: startSWTPM(b).Open}
	for b.Loop() {
		if _, err := workstation.Create(ctx, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	k, err := workstation.Create(ctx, workstation.Options{OpenTPM: startSWTPM(b).Open})
	if err != nil {
		b.Fatal(err)
	}
	c, _ := counter.NewChallenge(origin, rand.Reader)
	sig, err := k.SignChallenge(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := counter.Verify(k.PublicKey(), c, sig); err != nil {
			b.Fatal(err)
		}
	}
}
