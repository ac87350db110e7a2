package store

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// someHistory writes n audited changes.
func someHistory(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		must(t, s.AppendAudit(ctx, Change{Actor: "u" + strconv.Itoa(i), Action: "test.event", IP: "10.0.0." + strconv.Itoa(i)},
			"thing/"+strconv.Itoa(i), map[string]int{"v": i}, map[string]int{"v": i + 1}))
	}
}

func TestAuditTamperingDetected(t *testing.T) {
	cases := []struct {
		name    string
		sql     string
		badSeq  int64
		entries int64
	}{
		{"edited actor", `UPDATE audit_log SET actor = 'someone else' WHERE seq = 3`, 3, 6},
		{"edited after JSON", `UPDATE audit_log SET after = '{"v":99}' WHERE seq = 4`, 4, 6},
		{"edited time", `UPDATE audit_log SET at = at + 1 WHERE seq = 2`, 2, 6},
		{"rehashed row", `UPDATE audit_log SET actor = 'x', hash = '` + GenesisHash + `' WHERE seq = 5`, 5, 6},
		{"deleted middle row", `DELETE FROM audit_log WHERE seq = 3`, 4, 5},
		{"deleted first row", `DELETE FROM audit_log WHERE seq = 1`, 2, 5},
		{"deleted last row", `DELETE FROM audit_log WHERE seq = 6`, 6, 5},
		{"renumbered to hide a deletion", `DELETE FROM audit_log WHERE seq = 6; UPDATE audit_head SET seq = 5`, 6, 5},
		{"reordered rows", `UPDATE audit_log SET seq = -seq WHERE seq IN (2, 3); UPDATE audit_log SET seq = 3 WHERE seq = -2; UPDATE audit_log SET seq = 2 WHERE seq = -3`, 2, 6},
		{"inserted row", `UPDATE audit_head SET seq = 7; INSERT INTO audit_log (seq, at, actor, action, target, before, after, ip, prev_hash, hash, workstation_id, record_version) SELECT 7, at, actor, action, target, before, after, ip, hash, hash, workstation_id, record_version FROM audit_log WHERE seq = 6`, 7, 7},
	}
	for _, b := range backends() {
		for _, c := range cases {
			t.Run(b.name+"/"+c.name, func(t *testing.T) {
				s, _ := b.open(t, WithClock(newClock().Now))
				someHistory(t, s, 6)
				verifyOK(t, s)
				for _, stmt := range splitSQL(c.sql) {
					if _, err := s.DB().Exec(stmt); err != nil {
						t.Fatalf("%s: %v", stmt, err)
					}
				}
				v, err := s.VerifyAudit(ctx)
				must(t, err)
				if v.OK || v.BadSeq != c.badSeq || v.Entries != c.entries || v.Problem == "" {
					t.Errorf("tampering not reported as expected: %+v (want bad seq %d of %d)", v, c.badSeq, c.entries)
				}
			})
		}
	}
}

func splitSQL(s string) []string {
	var out []string
	for _, p := range bytes.Split([]byte(s), []byte(";")) {
		if p = bytes.TrimSpace(p); len(p) > 0 {
			out = append(out, string(p))
		}
	}
	return out
}

func TestConcurrentAppendsKeepTheChain(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		f := seed(t, s, clk)
		a := newApp(t, s, f.orgA, f.clerkA, f.certA.Serial)
		head0, _, err := s.AuditHead(ctx)
		must(t, err)
		const workers, each = 8, 20
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		var staleMu sync.Mutex
		stale := 0
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if i%2 == 0 {
						errs <- s.AppendAudit(ctx, Change{Actor: fmt.Sprintf("w%d", w), Action: "test.event"}, "t", nil, map[string]int{"i": i})
						continue
					}
					// Racing edits of one application: each either wins or is stale.
					cur, err := s.Application(ctx, AllScope(), a.ID)
					if err != nil {
						errs <- err
						continue
					}
					_, err = s.UpdateApplication(ctx, AllScope(), a.ID, cur.Version, Change{Actor: fmt.Sprintf("w%d", w), Action: "application.edit"},
						func(a *renewal.Application) error { a.Comment = fmt.Sprintf("w%d i%d", w, i); return nil })
					if errorsIs(err, ErrStaleVersion) {
						staleMu.Lock()
						stale++
						staleMu.Unlock()
						err = nil
					}
					errs <- err
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		v := verifyOK(t, s)
		final, err := s.Application(ctx, AllScope(), a.ID)
		must(t, err)
		wins := final.Version - 1
		if want := head0 + workers*each/2 + wins; v.Entries != want {
			t.Errorf("%d entries, want %d (%d edits won, %d stale)", v.Entries, want, wins, stale)
		}
		if wins+int64(stale) != workers*each/2 {
			t.Errorf("%d wins + %d stale != %d edits", wins, stale, workers*each/2)
		}
	})
}

func TestAuditExportAndQuery(t *testing.T) {
	each(t, func(t *testing.T, s *Store, clk *fakeclock.Clock) {
		someHistory(t, s, 3)
		clk.Advance(time.Hour)
		must(t, s.AppendAudit(ctx, Change{Actor: "张三", Action: "application.submit", IP: "::1", WorkstationID: "柜台/1"}, "application/x",
			nil, json.RawMessage(`{ "comment" : "含,逗号\n和换行" }`)))
		// CSV: every row re-hashes from the file alone.
		var buf bytes.Buffer
		must(t, s.ExportAuditCSV(ctx, &buf, AuditRange{}))
		recs, err := csv.NewReader(&buf).ReadAll()
		must(t, err)
		if len(recs) != 5 || fmt.Sprint(recs[0]) != fmt.Sprint(AuditCSVHeader()) {
			t.Fatalf("csv: %d rows, header %v", len(recs), recs[0])
		}
		prev := GenesisHash
		for _, r := range recs[1:] {
			seq, _ := strconv.ParseInt(r[0], 10, 64)
			at, err := ParseAuditCSVTime(r[1])
			must(t, err)
			rv, err := strconv.Atoi(r[11])
			must(t, err)
			e := renewal.AuditEntry{Seq: seq, Time: at, Actor: r[2], Action: r[3], Target: r[4], IP: r[7], PrevHash: r[8], Hash: r[9],
				WorkstationID: r[10], RecordVersion: rv}
			if r[5] != "" {
				e.Before = json.RawMessage(r[5])
			}
			if r[6] != "" {
				e.After = json.RawMessage(r[6])
			}
			if e.PrevHash != prev || AuditHash(e) != e.Hash {
				t.Errorf("csv row %d does not re-hash", seq)
			}
			prev = e.Hash
		}
		if recs[4][6] != `{"comment":"含,逗号\n和换行"}` {
			t.Errorf("snapshot not stored compact: %q", recs[4][6])
		}
		if recs[4][10] != "柜台/1" || recs[4][11] != "2" || recs[3][10] != "" {
			t.Errorf("workstation and record version columns: %q, %q", recs[4][10:], recs[3][10:])
		}
		// JSON: the same entries.
		buf.Reset()
		must(t, s.ExportAuditJSON(ctx, &buf, AuditRange{}))
		var entries []renewal.AuditEntry
		must(t, json.Unmarshal(buf.Bytes(), &entries))
		if len(entries) != 4 || entries[3].Actor != "张三" || entries[3].WorkstationID != "柜台/1" || AuditHash(entries[3]) != entries[3].Hash {
			t.Errorf("json export: %+v", entries)
		}
		// Queries.
		for _, c := range []struct {
			q    renewal.AuditQuery
			want int
		}{
			{renewal.AuditQuery{}, 4},
			{renewal.AuditQuery{Actor: "张三"}, 1},
			{renewal.AuditQuery{WorkstationID: "柜台/1"}, 1},
			{renewal.AuditQuery{Target: "thing/1"}, 1},
			{renewal.AuditQuery{AfterSeq: 2}, 2},
			{renewal.AuditQuery{PageSize: 2}, 2},
			{renewal.AuditQuery{Since: clk.Now()}, 1},
			{renewal.AuditQuery{Until: clk.Now()}, 3},
		} {
			got, err := s.ListAudit(ctx, c.q)
			must(t, err)
			if len(got) != c.want {
				t.Errorf("ListAudit(%+v) = %d entries, want %d", c.q, len(got), c.want)
			}
		}
		// Bad input to the log is refused, not stored.
		if err := s.AppendAudit(ctx, Change{Actor: "x", Action: "y"}, "t", nil, json.RawMessage(`{broken`)); err == nil {
			t.Error("broken JSON snapshot accepted")
		}
		if err := s.AppendAudit(ctx, Change{Actor: string(make([]byte, MaxAuditFieldBytes+1)), Action: "y"}, "t", nil, nil); !errorsIs(err, ErrLimit) {
			t.Errorf("oversized actor: %v", err)
		}
		if err := s.AppendAudit(ctx, Change{Actor: "x"}, "t", nil, nil); err == nil {
			t.Error("change without action accepted")
		}
		if v := verifyOK(t, s); v.Entries != 4 {
			t.Errorf("entries %d", v.Entries)
		}
	})
}
