package server_test

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

func TestAuditExportStreamsSQLite(t *testing.T) { runAuditExportStreams(t, false) }

func TestAuditExportStreamsPostgres(t *testing.T) { runAuditExportStreams(t, true) }

// bulkAudit appends n audit rows of about size bytes each, in one transaction.
func bulkAudit(t *testing.T, st *store.Store, n, size int) {
	t.Helper()
	pad := strings.Repeat("审计", size/6)
	err := st.Write(t.Context(), func(tx *store.Tx) error {
		for range n {
			if err := tx.Audit(store.Change{Actor: "system", Action: "test.bulk"}, "bulk", nil, map[string]string{"pad": pad}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The export streams: while the client has read only the first KiB of a
// 24 MB log, the service holds a small part of it in memory (the whole
// log was buffered before). At most Limits.AuditStreams (2) exports and
// verifications run at once; a third is refused with Retry-After, and a
// place frees when an export ends.
func runAuditExportStreams(t *testing.T, pg bool) {
	e := newEnv(t, envOptions{postgres: pg})
	const rows, rowBytes = 3000, 8 << 10
	bulkAudit(t, e.Store, rows, rowBytes)
	e.Clock.Advance(time.Hour)
	mark := e.Clock.Now()
	seqAtMark, _, err := e.Store.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	bulkAudit(t, e.Store, 3, 100)
	admin := e.passwordSignIn("admin", adminPassword).AccessToken
	head, _, err := e.Store.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{}
	open := func(query string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.URL+"/v1/audit/"+query, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		res, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	// count reads an export to its end and counts its entries.
	count := func(res *http.Response) int64 {
		t.Helper()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("export: %d %.200s", res.StatusCode, b)
		}
		dec := json.NewDecoder(res.Body)
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		var n int64
		for dec.More() {
			var en renewal.AuditEntry
			if err := dec.Decode(&en); err != nil {
				t.Fatalf("entry %d: %v", n+1, err)
			}
			n++
		}
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Memory: measured while the first export is under way.
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapInuse)
	}
	before := heap()
	first := open("export?format=json")
	start := make([]byte, 1024)
	if n, err := io.ReadFull(first.Body, start); err != nil {
		t.Fatalf("first export: %d %s: %v", first.StatusCode, start[:n], err)
	}
	grew := heap() - before
	t.Logf("heap in use grew %d KiB while a %d MiB log was being exported", grew>>10, rows*rowBytes>>20)
	if grew > rows*rowBytes/3 {
		t.Errorf("heap in use grew %d MiB during the export of a %d MiB log: not streamed", grew>>20, rows*rowBytes>>20)
	}

	// The cap: the first export holds a place; a second takes the other.
	second := open("export?format=csv")
	if second.StatusCode != http.StatusOK {
		t.Fatalf("second export: %d", second.StatusCode)
	}
	for _, q := range []string{"export?format=json", "verify"} {
		r := open(q)
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "rate_limited") {
			t.Errorf("%s with two exports running: %d %q %.200s", q, r.StatusCode, r.Header.Get("Retry-After"), b)
		}
	}
	// Read to its end, the first export is whole and its place is free.
	rest, err := io.ReadAll(first.Body)
	if err != nil {
		t.Fatal(err)
	}
	var all []renewal.AuditEntry
	if err := json.Unmarshal(append(start, rest...), &all); err != nil || int64(len(all)) != head {
		t.Fatalf("first export: %d entries, want %d: %v", len(all), head, err)
	}
	if n := count(open("export?format=json")); n != head {
		t.Errorf("export after a place freed: %d entries, want %d", n, head)
	}
	// The second export, read to its end: every row.
	recs, err := csv.NewReader(second.Body).ReadAll()
	if err != nil || int64(len(recs)) != head+1 {
		t.Fatalf("csv export: %d records, %v", len(recs), err)
	}
	// A time range.
	if n := count(open("export?format=json&since=" + mark.Format(time.RFC3339))); n != head-seqAtMark || n < 4 {
		t.Errorf("export since %s: %d entries, want %d", mark, n, head-seqAtMark)
	}
	if n := count(open("export?format=json&until=" + mark.Format(time.RFC3339))); n != seqAtMark {
		t.Errorf("export until %s: %d entries, want %d", mark, n, seqAtMark)
	}
	r := open("export?format=json&until=x")
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("until=x: %d", r.StatusCode)
	}
	var v renewal.AuditVerification
	e.ok(http.StatusOK, &v, "GET", "/v1/audit/verify", admin, nil)
	if !v.OK || v.Entries != head {
		t.Fatalf("verify: %+v", v)
	}
}
