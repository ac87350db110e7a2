package token

import (
	"context"
	"testing"
)

// Install and Recover timings on SoftHSM2 (file backend). Run by hand:
//
//	go test -run '^$' -bench 'Install|Recover' -benchtime 20x ./token
//
// The figures go to docs/benchmarks/token-install.md.

func BenchmarkInstallSameKey(b *testing.B) {
	for _, kt := range []KeyPairType{ECP256, RSA2048} {
		b.Run(string(kt), func(b *testing.B) {
			f := newInstFixture(b, kt, "ec")
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				inv, err := f.tok.Objects(ctx)
				if err != nil || len(inv.Certificates) != 1 {
					b.Fatalf("token: %v", err)
				}
				renewed := f.ca.renewal(b, inv.Certificates[0].Info.PublicKey)
				b.StartTimer()
				if _, err := Install(ctx, f.tok, f.request(SameKey, renewed)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInstallRekey(b *testing.B) {
	for _, kt := range []KeyPairType{ECP256, RSA2048} {
		b.Run(string(kt), func(b *testing.B) {
			f := newInstFixture(b, kt, "ec")
			ctx := context.Background()
			req := f.request(Rekey, nil)
			req.Issuer = f.issuer(b)
			for b.Loop() {
				if _, err := Install(ctx, f.tok, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecoverClean is what Recover costs at start-up when there is
// nothing to do (a token with one certificate and its key pair).
func BenchmarkRecoverClean(b *testing.B) {
	f := newInstFixture(b, ECP256, "ec")
	ctx := context.Background()
	for b.Loop() {
		res, err := Recover(ctx, f.tok, f.journal.Dir())
		if err != nil || res.Changed() {
			b.Fatalf("recover: %+v, %v", res, err)
		}
	}
}

// BenchmarkJournalInstall is the journal's share of a same-key install: a
// create, two updates and a removal, each synced to disk.
func BenchmarkJournalInstall(b *testing.B) {
	j, err := OpenJournal(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		e := journalTestEntry("bench")
		if err := j.Begin(e); err != nil {
			b.Fatal(err)
		}
		e.Step, e.NewCertSHA256 = StepWritingCert, e.OldCertSHA256
		for range 2 {
			if err := j.Update(e); err != nil {
				b.Fatal(err)
			}
		}
		if err := j.Remove("bench"); err != nil {
			b.Fatal(err)
		}
	}
}
