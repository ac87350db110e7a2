package store

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Many goroutines on two stores over one database (two renewd replicas),
// writing transactions of one to three audit entries, and joining foreign
// transactions, leave one chain that verifies, with every entry in it once
// and each transaction's entries next to each other, in their order.
func TestAuditChainWithConcurrentWriters(t *testing.T) {
	const writers, writes = 24, 15
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			s1, reopen := b.open(t)
			s2 := reopen()
			if seq, _, err := s1.AuditHead(ctx); err != nil || seq != 0 {
				t.Fatalf("a fresh store's chain has %d entries (%v)", seq, err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, writers*writes)
			for w := range writers {
				s := []*Store{s1, s2}[w%2]
				wg.Go(func() {
					for i := range writes {
						n := 1 + (w+i)%3
						target := fmt.Sprintf("w%d/%d", w, i)
						fn := func(tx *Tx) error {
							for k := range n {
								if err := tx.Audit(Change{Actor: "system", Action: fmt.Sprintf("test.%d", k)}, target, nil, map[string]int{"k": k}); err != nil {
									return err
								}
							}
							return nil
						}
						if i%5 == 4 { // a module's own transaction (payments)
							sqlTx, err := s.DB().BeginTx(ctx, nil)
							if err != nil {
								errs <- err
								continue
							}
							if err := s.Join(ctx, sqlTx, fn); err != nil {
								_ = sqlTx.Rollback()
								errs <- err
								continue
							}
							errs <- sqlTx.Commit()
							continue
						}
						errs <- s.Write(ctx, fn)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range []*Store{s1, s2} {
				v := verifyOK(t, s)
				want := 0
				for w := range writers {
					for i := range writes {
						want += 1 + (w+i)%3
					}
				}
				if v.Entries != int64(want) {
					t.Errorf("%d entries in the chain, want %d", v.Entries, want)
				}
			}
			// Each transaction's entries are consecutive and in order.
			var all []renewal.AuditEntry
			for {
				q := renewal.AuditQuery{PageSize: renewal.MaxAuditPageSize}
				if len(all) > 0 {
					q.AfterSeq = all[len(all)-1].Seq
				}
				page, err := s1.ListAudit(ctx, q)
				must(t, err)
				if len(page) == 0 {
					break
				}
				all = append(all, page...)
			}
			for i := 0; i < len(all); {
				e := all[i]
				n := 1
				for i+n < len(all) && all[i+n].Target == e.Target {
					n++
				}
				var w, k int
				if _, err := fmt.Sscanf(e.Target, "w%d/%d", &w, &k); err != nil {
					t.Fatalf("row %d: target %q", e.Seq, e.Target)
				}
				if want := 1 + (w+k)%3; n != want {
					t.Errorf("%s: %d consecutive entries from row %d, want %d", e.Target, n, e.Seq, want)
				}
				for j := range n {
					if a := all[i+j].Action; a != fmt.Sprintf("test.%d", j) {
						t.Errorf("%s: row %d is %s, want test.%d", e.Target, all[i+j].Seq, a, j)
					}
				}
				i += n
			}
			var queued int
			must(t, s1.DB().QueryRow(`SELECT COUNT(*) FROM audit_queue`).Scan(&queued))
			if queued != 0 {
				t.Errorf("%d entries left in the queue after every write returned", queued)
			}
		})
	}
}

// A PostgreSQL process that dies between a write's commit and its link
// leaves the entries queued: the chain verifies without them, and the next
// Open links them (as would the next write, here from another store).
func TestQueuedAuditEntriesAreLinkedLater(t *testing.T) {
	for _, b := range backends() {
		if b.name != "postgres" {
			continue // SQLite appends to the chain in the write's transaction
		}
		t.Run(b.name, func(t *testing.T) {
			s, reopen := b.open(t)
			must(t, s.AppendAudit(ctx, sys("test.linked"), "x", nil, nil))
			for i := range 3 {
				queued, err := s.write(ctx, func(tx *Tx) error {
					return tx.Audit(sys(fmt.Sprintf("test.queued.%d", i)), "x", nil, nil)
				})
				must(t, err)
				if !queued {
					t.Fatal("a PostgreSQL write did not queue its entry")
				}
			}
			if v := verifyOK(t, s); v.Entries != 1 {
				t.Fatalf("%d entries in the chain before the link, want 1", v.Entries)
			}
			s2 := reopen()
			v := verifyOK(t, s2)
			es, err := s2.ListAudit(ctx, renewal.AuditQuery{Target: "x"})
			must(t, err)
			if v.Entries != 4 || len(es) != 4 || es[1].Action != "test.queued.0" || es[3].Action != "test.queued.2" {
				t.Fatalf("after reopening: %d entries, %+v", v.Entries, es)
			}
			// Queued by one store, linked by another's write.
			_, err = s.write(ctx, func(tx *Tx) error { return tx.Audit(sys("test.queued.3"), "x", nil, nil) })
			must(t, err)
			must(t, s2.AppendAudit(ctx, sys("test.linked.2"), "x", nil, nil))
			if v := verifyOK(t, s); v.Entries != 6 {
				t.Fatalf("%d entries after another store's write, want 6", v.Entries)
			}
		})
	}
}
