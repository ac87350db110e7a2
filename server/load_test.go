package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
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
// durable commit); submit-idem: the same with an Idempotency-Key, as the
// client sends it (the key claimed and the answer kept in the store).

func BenchmarkLoad(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			for _, kind := range []string{"status", "submit", "submit-idem", "payment"} {
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
	if kind == "submit" || kind == "submit-idem" {
		n = b.N
	}
	state := renewal.InitialState(renewal.DefaultPolicy())
	if kind == "payment" {
		state = renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentUnpaid, FinVerify: renewal.FinVerifyPending}
	}
	ids := e.seedApplications(b, n, signed.User.ID, state)
	if kind == "payment" {
		for _, id := range ids {
			if _, err := e.Payments.NewQR(ctx, id, 1); err != nil {
				b.Fatal(err)
			}
		}
	}
	runLoad(b, "req/s", func(i int) error {
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
			if kind == "submit-idem" {
				req.Header.Set("Idempotency-Key", fmt.Sprint("submit-", i))
			}
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return send(req, http.StatusOK)
	})
}

// loadHTTP is the HTTP client of the load benchmarks.
var loadHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients}, Timeout: 30 * time.Second}

// send sends req with loadHTTP and wants the status want.
func send(req *http.Request, want int) error {
	res, err := loadHTTP.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d", req.Method, req.URL.Path, res.StatusCode, want)
	}
	return nil
}

// runLoad runs do(0) to do(b.N-1) from loadClients goroutines, timing each,
// fails the benchmark with the first error, and reports the rate (in unit)
// and the latencies.
func runLoad(b *testing.B, unit string, do func(i int) error) {
	lat := make([]time.Duration, b.N)
	next := make(chan int, loadClients)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	b.ResetTimer()
	start := time.Now()
	for range loadClients {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				err := do(i)
				lat[i] = time.Since(t0)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
				}
			}
		})
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	reportLatency(b, lat, el, unit)
}

// seedApplications writes n applications of the clerk's organisation,
// created by createdBy, in state, each for a certificate of its own (copies
// of the "rsa" holder's under other serials), and returns their IDs.
func (e *env) seedApplications(b *testing.B, n int, createdBy string, state renewal.State) []string {
	ctx := context.Background()
	h := e.holders["rsa"]
	ids := make([]string, n)
	const perTx = 50 // applications a seeding transaction writes
	for first := 0; first < n; first += perTx {
		err := e.Store.Write(ctx, func(tx *store.Tx) error {
			for i := first; i < min(first+perTx, n); i++ {
				serial := fmt.Sprintf("%s%06x", h.Serial[:20], i)
				rec := &store.CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "张三", Issuer: "CN=x",
					OrganisationID: e.Org.ID, NotBefore: h.Cert.NotBefore, NotAfter: h.Cert.NotAfter, KeyType: renewal.KeyRSA}, PublicKey: []byte{0}, DER: h.Cert.Raw}
				a := &renewal.Application{OrganisationID: e.Org.ID, CreatedBy: createdBy, CertSerial: serial, Form: validForm(e.Org, 1),
					State: state, PriceFen: 30000}
				if err := tx.PutCertificate(ctx, rec, store.Change{Actor: "bench", Action: "seed"}); err != nil {
					return err
				}
				if err := tx.CreateApplication(ctx, a, store.Change{Actor: "bench", Action: "seed"}); err != nil {
					return err
				}
				ids[i] = a.ID
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// BenchmarkClerks is a CA's office at the year's end: clerks (200, or
// UKEY_LOAD_CLERKS) each submit an application and poll its status
// (clerkPolls times), over and over without pausing, over HTTP, one
// connection each. b.N is the number of submissions. It reports the
// submissions' and the polls' rates and latencies. UKEY_LOAD_POOLS=R,W
// sizes the store's pools (store.WithPools):
//
//	go test -run '^$' -bench 'Clerks/sqlite' -benchtime 4000x ./server/
//	UKEY_TEST_PG_DSN=... go test -run '^$' -bench 'Clerks/postgres' -benchtime 4000x ./server/
func BenchmarkClerks(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) { clerksBench(b, db == "postgres") })
	}
}

const clerkPolls = 3 // status polls after each submission

func clerksBench(b *testing.B, postgres bool) {
	clerks := 200
	if v := os.Getenv("UKEY_LOAD_CLERKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("UKEY_LOAD_CLERKS=%q: want a positive number of clerks", v)
		}
		clerks = n
	}
	var opts []store.Option
	if v := os.Getenv("UKEY_LOAD_POOLS"); v != "" {
		var r, w int
		if _, err := fmt.Sscanf(v, "%d,%d", &r, &w); err != nil {
			b.Fatalf("UKEY_LOAD_POOLS=%q: want READERS,WRITERS", v)
		}
		opts = append(opts, store.WithPools(r, w))
	}
	e := newEnv(b, envOptions{postgres: postgres, noValidate: true, store: opts, cfg: func(c *server.Config) {
		c.Limits.IPBurst, c.Limits.AccountBurst = 1<<30, 1<<30
	}})
	signed := e.smsSignIn(clerkMobile)
	ids := e.seedApplications(b, b.N, signed.User.ID, renewal.InitialState(renewal.DefaultPolicy()))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clerks}, Timeout: time.Minute}
	do := func(method, path string, body []byte) (time.Duration, error) {
		req, _ := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+signed.AccessToken)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		t0 := time.Now()
		res, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s %s: status %d", method, path, res.StatusCode)
		}
		return time.Since(t0), nil
	}
	submits := make([]time.Duration, b.N)
	polls := make([]time.Duration, b.N*clerkPolls)
	body, _ := json.Marshal(renewal.SubmitRequest{Version: 1, Comment: "请审核"})
	next := make(chan int, clerks)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	b.ResetTimer()
	start := time.Now()
	for range clerks {
		wg.Go(func() {
			for i := range next {
				d, err := do("POST", "/v1/applications/"+ids[i]+"/submit", body)
				if err != nil {
					fail(err)
					continue
				}
				submits[i] = d
				for k := range clerkPolls {
					d, err := do("GET", "/v1/applications/"+ids[i], nil)
					if err != nil {
						fail(err)
					}
					polls[i*clerkPolls+k] = d
				}
			}
		})
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	pct := func(lat []time.Duration, p float64) float64 {
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	slices.Sort(submits)
	slices.Sort(polls)
	b.ReportMetric(float64(b.N)/el.Seconds(), "submits/s")
	b.ReportMetric(float64(len(polls))/el.Seconds(), "polls/s")
	b.ReportMetric(pct(submits, 0.5), "submit-p50-ms")
	b.ReportMetric(pct(submits, 0.99), "submit-p99-ms")
	b.ReportMetric(pct(polls, 0.5), "poll-p50-ms")
	b.ReportMetric(pct(polls, 0.99), "poll-p99-ms")
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
