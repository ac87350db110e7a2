package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// The load benchmarks drive the real handler over HTTP (loopback) with the
// real store, from concurrent clients, and report requests per second and
// latency percentiles:
//
//	go test -run '^$' -bench 'Load' -benchtime 4000x ./server/
//	UKEY_TEST_PG_DSN=... go test -run '^$' -bench 'Load/postgres' -benchtime 4000x ./server/
//
// status: GET /v1/applications/{id} (token check, user, scope, row) — what
// the client polls. payment: GET /v1/applications/{id}/payment of an
// application with a live QR code — what the client polls during the 300 s
// (scope, latest order, refunds; WeChat is asked at most every 3 s an
// order, and the test clock stands still, so this is the database path). submit: POST /v1/applications/{id}/submit of a draft
// (states table, version check, update and hash-chained audit entry, one
// durable commit).

func BenchmarkLoad(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			for _, kind := range []string{"status", "submit", "payment"} {
				b.Run(kind, func(b *testing.B) { loadBench(b, db == "postgres", kind) })
			}
		})
	}
}

const loadClients = 8

func loadBench(b *testing.B, postgres bool, kind string) {
	e := newEnv(b, envOptions{postgres: postgres, noValidate: true, cfg: func(c *server.Config) {
		c.Limits.IPBurst, c.Limits.AccountBurst = 1<<30, 1<<30
	}})
	signed := e.smsSignIn(clerkMobile)
	tok := signed.AccessToken
	ctx := context.Background()
	// Drafts to read or submit: one per operation for submit, 50 for status.
	n := 50
	if kind == "submit" {
		n = b.N
	}
	h := e.holders["rsa"]
	ids := make([]string, n)
	for i := range ids {
		serial := fmt.Sprintf("%s%06x", h.Serial[:20], i)
		rec := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "张三", Issuer: "CN=x",
			OrganisationID: e.Org.ID, NotBefore: h.Cert.NotBefore, NotAfter: h.Cert.NotAfter, KeyType: renewal.KeyRSA}, PublicKey: []byte{0}, DER: h.Cert.Raw}
		a := &renewal.Application{OrganisationID: e.Org.ID, CreatedBy: signed.User.ID, CertSerial: serial, Form: validForm(e.Org, 1),
			State: renewal.InitialState(renewal.DefaultPolicy()), PriceFen: 30000}
		if kind == "payment" {
			a.State = renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending}
		}
		err := e.Store.Write(ctx, func(tx *store.Tx) error {
			if err := tx.PutCertificate(ctx, rec, store.Change{Actor: "bench", Action: "seed"}); err != nil {
				return err
			}
			return tx.CreateApplication(ctx, a, store.Change{Actor: "bench", Action: "seed"})
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = a.ID
		if kind == "payment" {
			if _, err := e.Payments.NewQR(ctx, a.ID, 1); err != nil {
				b.Fatal(err)
			}
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients}, Timeout: 30 * time.Second}
	do := func(i int) (time.Duration, error) {
		var req *http.Request
		switch kind {
		case "status":
			req, _ = http.NewRequest("GET", e.URL+"/v1/applications/"+ids[i%len(ids)], nil)
		case "payment":
			req, _ = http.NewRequest("GET", e.URL+"/v1/applications/"+ids[i%len(ids)]+"/payment", nil)
		default:
			body, _ := json.Marshal(renewal.SubmitRequest{Version: 1, Comment: "请审核"})
			req, _ = http.NewRequest("POST", e.URL+"/v1/applications/"+ids[i]+"/submit", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(t0)
		if res.StatusCode != http.StatusOK {
			return d, fmt.Errorf("%s: status %d", kind, res.StatusCode)
		}
		return d, nil
	}
	lat := make([]time.Duration, b.N)
	next := make(chan int, loadClients)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	b.ResetTimer()
	start := time.Now()
	for range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d, err := do(i)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
				}
				lat[i] = d
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	reportLatency(b, lat, el, "req/s")
}

// reportLatency reports b.N operations in el as rate (named unit) and the
// p50 and p99 of their latencies, in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration, el time.Duration, unit string) {
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/el.Seconds(), unit)
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
