package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Benchmarks of what the service does most: read an application's status,
// and submit an application (a state change with its audit entry). Run by
// hand, for example:
//
//	UKEY_TEST_PG_DSN=... go test -run '^$' -bench . -benchtime 3000x ./server/store/
//
// Each reports ops/s over all goroutines (8: RunParallel with parallelism 4
// on 2 cores) and the p50/p99 latency of one operation.

const benchApps = 1000

func benchStore(b *testing.B, be backend) (*Store, *fixture, []*renewal.Application) {
	b.Helper()
	s, _ := be.open(b)
	f := seedTB(b, s)
	apps := make([]*renewal.Application, 0, benchApps)
	must(b, s.Write(ctx, func(tx *Tx) error {
		for i := 0; i < benchApps; i++ {
			a, err := benchApp(tx, f, i)
			if err != nil {
				return err
			}
			apps = append(apps, a)
		}
		return nil
	}))
	return s, f, apps
}

func benchApp(tx *Tx, f *fixture, i int) (*renewal.Application, error) {
	serial := fmt.Sprintf("be%08x", i)
	c := &CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "h", Issuer: "i", OrganisationID: f.orgA.ID,
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(2e9, 0), KeyType: renewal.KeyECDSA}, PublicKey: []byte{1}, DER: []byte{2}}
	if err := tx.PutCertificate(ctx, c, sys("certificate.import")); err != nil {
		return nil, err
	}
	a := &renewal.Application{OrganisationID: f.orgA.ID, CreatedBy: f.clerkA.ID, CertSerial: serial, Form: form(f.orgA),
		State: renewal.InitialState(renewal.DefaultPolicy()), PriceFen: 300_00}
	return a, tx.CreateApplication(ctx, a, sys("application.create"))
}

// seedTB makes the one organisation and clerk the benchmarks need.
func seedTB(b *testing.B, s *Store) *fixture {
	f := &fixture{
		orgA: &Organisation{Name: "深圳市测试科技有限公司", CreditCode: "91350100M000100Y43"},
	}
	must(b, s.CreateOrganisation(ctx, f.orgA, sys("organisation.create")))
	f.clerkA = &User{Role: renewal.RoleClerk, Name: "张三", Mobile: "13800138000", OrganisationID: f.orgA.ID}
	must(b, s.CreateUser(ctx, f.clerkA, sys("user.create")))
	return f
}

// measure runs op b.N times over 8 goroutines and reports throughput and
// latency percentiles.
func measure(b *testing.B, op func(i int) error) {
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			i := int(next.Add(1) - 1)
			t0 := time.Now()
			if err := op(i); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func BenchmarkStatusRead(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			s, f, apps := benchStore(b, be)
			sc := OrgScope(f.orgA.ID)
			measure(b, func(int) error {
				a, err := s.Application(ctx, sc, apps[rand.IntN(len(apps))].ID)
				if err == nil && a.Status == "" {
					err = fmt.Errorf("no status")
				}
				return err
			})
		})
	}
}

func BenchmarkSubmit(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			s, f, _ := benchStore(b, be)
			// One editing application per submission, made before the clock runs.
			apps := make([]*renewal.Application, 0, b.N)
			must(b, s.Write(ctx, func(tx *Tx) error {
				for i := 0; i < b.N; i++ {
					a, err := benchApp(tx, f, benchApps+i)
					if err != nil {
						return err
					}
					apps = append(apps, a)
				}
				return nil
			}))
			sc := OrgScope(f.orgA.ID)
			p := renewal.DefaultPolicy()
			measure(b, func(i int) error {
				a := apps[i]
				_, err := s.UpdateApplication(ctx, sc, a.ID, a.Version, Change{Actor: f.clerkA.ID, Action: "application.submit", IP: "10.0.0.1"},
					func(a *renewal.Application) error {
						n, err := renewal.Apply(a.State, p, renewal.RoleClerk, renewal.ActionSubmit)
						a.State, a.Comment = n, "请审核"
						return err
					})
				return err
			})
		})
	}
}
