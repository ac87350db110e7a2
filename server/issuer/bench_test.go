package issuer_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

// BenchmarkIssueVsBare interleaves LocalCA.Issue with a bare
// CreateCertificate by the same CA key (crypto/x509 for RSA and ECDSA,
// smx509 for SM2, which crypto/x509 cannot sign) and reports
// ratio = bare time / Issue time (1 means Issue adds nothing).
//
//	go test -run '^$' -bench IssueVsBare -benchtime 200x ./server/issuer/
func BenchmarkIssueVsBare(b *testing.B) {
	for _, alg := range []issuer.KeyAlg{issuer.RSA, issuer.ECDSA, issuer.SM2} {
		b.Run(string(alg), func(b *testing.B) {
			dir := b.TempDir()
			ca, err := issuer.GenerateDevCA(dir, alg, now.AddDate(-1, 0, 0))
			if err != nil {
				b.Fatal(err)
			}
			keyPEM, _ := os.ReadFile(filepath.Join(dir, issuer.DevKeyFile))
			caKey, err := issuer.ParsePrivateKeyPEM(keyPEM)
			if err != nil {
				b.Fatal(err)
			}
			holder, _ := issuer.GenerateKey(alg)
			der, err := ca.IssueInitial(pkix.Name{CommonName: "张三", Organization: []string{"测试机构"}}, holder.Public(), now.AddDate(-1, 0, 0), now.AddDate(0, 0, 30))
			if err != nil {
				b.Fatal(err)
			}
			old, _ := smx509.ParseCertificate(der)
			bare := func() {
				tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), RawSubject: old.RawSubject,
					NotBefore: now, NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
				var err error
				if alg == issuer.SM2 {
					st := &smx509.Certificate{SerialNumber: tmpl.SerialNumber, RawSubject: tmpl.RawSubject,
						NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, KeyUsage: smx509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
					_, err = smx509.CreateCertificate(rand.Reader, st, ca.Certificate(), old.PublicKey, caKey)
				} else {
					parent, _ := x509.ParseCertificate(ca.Chain()[0])
					_, err = x509.CreateCertificate(rand.Reader, tmpl, parent, holder.Public(), caKey)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			var tBare, tIssue time.Duration
			for b.Loop() {
				t0 := time.Now()
				bare()
				t1 := time.Now()
				if _, err := ca.Issue(ctx, issuer.Request{Old: old, Years: 1, Now: now}); err != nil {
					b.Fatal(err)
				}
				tIssue += time.Since(t1)
				tBare += t1.Sub(t0)
			}
			b.ReportMetric(float64(tBare)/float64(tIssue), "ratio")
			b.ReportMetric(float64(tIssue.Nanoseconds())/float64(b.N), "issue-ns/op")
			b.ReportMetric(float64(tBare.Nanoseconds())/float64(b.N), "bare-ns/op")
		})
	}
}
