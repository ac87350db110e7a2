//go:build linux

package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client/session"
)

// Figures for docs/benchmarks/session.md. Run by hand:
//
//	go test -run '^$' -bench . -benchtime 200x ./client/session/
//
// (inside a bus with gnome-keyring for the keyring ones; see scripts/test.sh).

func BenchmarkSealedSave(b *testing.B) {
	ctx := context.Background()
	clock := newClock()
	st := sealedStore(b, startSWTPM(b), b.TempDir(), clock)
	rec := record(clock.Now())
	b.ResetTimer()
	for b.Loop() {
		if w, err := st.Save(ctx, rec); err != nil || w != session.InSealedFile {
			b.Fatal(w, err, st.Unavailable())
		}
	}
}

func BenchmarkSealedLoad(b *testing.B) {
	ctx := context.Background()
	clock := newClock()
	st := sealedStore(b, startSWTPM(b), b.TempDir(), clock)
	if _, err := st.Save(ctx, record(clock.Now())); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenSealed is Open with the keyring turned off: the TPM probe.
func BenchmarkOpenSealed(b *testing.B) {
	tpm := startSWTPM(b)
	dir := b.TempDir()
	clock := newClock()
	for b.Loop() {
		sealedStore(b, tpm, dir, clock)
	}
}

func BenchmarkKeyringSave(b *testing.B) {
	ctx := context.Background()
	st := secretServiceStore(b, randomName("ukeyrenew-bench-"))
	rec := record(time.Now())
	b.ResetTimer()
	for b.Loop() {
		if w, err := st.Save(ctx, rec); err != nil || w != session.InKeyring {
			b.Fatal(w, err)
		}
	}
}

func BenchmarkKeyringLoad(b *testing.B) {
	ctx := context.Background()
	st := secretServiceStore(b, randomName("ukeyrenew-bench-"))
	if _, err := st.Save(ctx, record(time.Now())); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Load(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenKeyring is Open with the TPM turned off: bus check and probe.
func BenchmarkOpenKeyring(b *testing.B) {
	service := randomName("ukeyrenew-bench-")
	secretServiceStore(b, service)
	for b.Loop() {
		secretServiceStore(b, service)
	}
}
