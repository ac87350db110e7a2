package payment_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkApplyNotifications measures distinct payment notifications
// applied per second through NotifyHandler over loopback HTTP (verify,
// decrypt, check, one transaction each), 8 senders at a time, and the p99
// latency of one. Run by hand:
//
//	go test ./server/payment -run '^$' -bench ApplyNotifications -benchtime 2000x
func BenchmarkApplyNotifications(b *testing.B) {
	for _, dbc := range concurrencyCases {
		b.Run(dbc.name, func(b *testing.B) {
			e := newEnv(b, dbc, envOpts{})
			n := b.N
			type note struct {
				url    string
				header http.Header
				body   []byte
			}
			notes := make([]note, n)
			now := e.clock.Now()
			for i := range n {
				id := fmt.Sprintf("B%07d", i)
				no := fmt.Sprintf("UKRBENCH%07d", i)
				e.addApp(id)
				if _, err := e.db.Exec(`INSERT INTO payment_orders (out_trade_no, application_id, provider, amount_fen, description, created_at, expires_at, state)
					VALUES ($1, $2, 'wechat', 30000, 'bench', $3, $4, 'open')`, no, id, now.UnixMicro(), now.Add(300*time.Second).UnixMicro()); err != nil {
					b.Fatal(err)
				}
				tx := paidTx(no, 300_00)
				tx["transaction_id"] = fmt.Sprintf("42000000000%07d", i)
				r := e.notification("N-"+id, tx, now)
				body, _ := io.ReadAll(r.Body)
				notes[i] = note{r.URL.String(), r.Header, body}
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			const senders = 8
			lat := make([]time.Duration, n)
			var next int
			var mu sync.Mutex
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						mu.Lock()
						i := next
						next++
						mu.Unlock()
						if i >= n {
							return
						}
						r, _ := http.NewRequest(http.MethodPost, notes[i].url, bytes.NewReader(notes[i].body))
						r.Header = notes[i].header.Clone()
						t0 := time.Now()
						resp, err := client.Do(r)
						lat[i] = time.Since(t0)
						if err != nil || resp.StatusCode != 204 {
							b.Errorf("notification %d: %v %v", i, err, resp)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			var credited int
			if err := e.db.QueryRow(`SELECT COALESCE(SUM(credits), 0) FROM test_applications`).Scan(&credited); err != nil || credited != n {
				b.Fatalf("credited %d of %d: %v", credited, n, err)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(n)/elapsed.Seconds(), "notes/s")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		})
	}
}
