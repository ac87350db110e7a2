package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/softhsmtest"
	"github.com/ukeyrenew/ukeyrenew/token/damagetest"
)

// Token operation costs on SoftHSM2, for docs/benchmarks/token-read.md:
//
//	go test -run '^$' -bench 'Op' -benchtime 20x ./token/

func benchToken(b *testing.B) *Token {
	b.Helper()
	env := softhsmtest.New(b)
	serial := env.InitToken(b, "bench", soPIN, userPIN)
	m, err := OpenModule(env.Module)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	tok, err := m.Open(context.Background(), serial)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tok.Close() })
	if err := tok.Login(context.Background(), []byte(userPIN)); err != nil {
		b.Fatal(err)
	}
	return tok
}

func BenchmarkOpKeygen(b *testing.B) {
	for _, kt := range KeyPairTypes {
		b.Run(string(kt), func(b *testing.B) {
			tok := benchToken(b)
			for i := 0; i < b.N; i++ {
				if _, err := tok.GenerateKeyPair(context.Background(), KeySpec{Type: kt}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpSign(b *testing.B) {
	for _, kt := range KeyPairTypes {
		b.Run(string(kt), func(b *testing.B) {
			tok := benchToken(b)
			s, err := tok.GenerateKeyPair(context.Background(), KeySpec{Type: kt})
			if err != nil {
				b.Fatal(err)
			}
			sum := sha256.Sum256([]byte("x"))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpWriteAndReadCertificates(b *testing.B) {
	tok := benchToken(b)
	ctx := context.Background()
	s, err := tok.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{1}})
	if err != nil {
		b.Fatal(err)
	}
	ders := make([][]byte, 20)
	for i := range ders {
		ders[i] = selfSign(b, s, fmt.Sprintf("张三 %d", i), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	b.Run("write", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c, err := tok.WriteCertificate(ctx, CertificateSpec{DER: ders[i%20], ID: []byte{1}})
			if err != nil {
				b.Fatal(err)
			}
			if err := tok.Destroy(ctx, c.Handle); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, der := range ders {
		if _, err := tok.WriteCertificate(ctx, CertificateSpec{DER: der, ID: []byte{1}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("objects-20-certs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			inv, err := tok.Objects(ctx)
			if err != nil || len(inv.Certificates) != 20 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOpListOneUKey: what the Tokens screen pays per listing of a
// typical UKey (one key pair and its certificate) without a PIN: the
// certificates alone, the whole inventory it reads now (to know the key
// pairs and the damaged objects), and the inventory with one damaged
// object (an interrupted write's remains).
//
//	go test -run '^$' -bench 'OpListOneUKey' -benchtime 200x ./token/
func BenchmarkOpListOneUKey(b *testing.B) {
	env := softhsmtest.New(b)
	serial := env.InitToken(b, "bench", soPIN, userPIN)
	m, err := OpenModule(env.Module)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	ctx := context.Background()
	writer, err := m.Open(ctx, serial)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { writer.Close() })
	if err := writer.Login(ctx, []byte(userPIN)); err != nil {
		b.Fatal(err)
	}
	s, err := writer.GenerateKeyPair(ctx, KeySpec{Type: ECP256, ID: []byte{1}, Label: "签名密钥"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := writer.WriteCertificate(ctx, CertificateSpec{DER: selfSign(b, s, "深圳市示例科技有限公司", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)), ID: []byte{1}, Label: "签名证书"}); err != nil {
		b.Fatal(err)
	}
	tok, err := m.Open(ctx, serial) // a session without login, as the GUI's
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tok.Close() })
	b.Run("certificates", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if c, err := tok.Certificates(ctx); err != nil || len(c) != 1 {
				b.Fatal(len(c), err)
			}
		}
	})
	b.Run("objects", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if inv, err := tok.Objects(ctx); err != nil || len(inv.Certificates) != 1 || inv.Certificates[0].PublicKey == nil {
				b.Fatal(inv, err)
			}
		}
	})
	damagetest.PlantRemains(b, env.TokenDir, serial)
	b.Run("objects-one-damaged", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if inv, err := tok.Objects(ctx); err != nil || len(inv.Certificates) != 1 || len(inv.Damaged) != 1 {
				b.Fatal(inv, err)
			}
		}
	})
}
