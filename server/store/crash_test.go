package store

import (
	"bufio"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/pgtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// The child learns its database from these.
const (
	crashDBEnv      = "UKEY_STORE_CRASH_DB"
	crashDialectEnv = "UKEY_STORE_CRASH_DIALECT"
)

// TestCrashChild is the child of TestCrashKeepsAcknowledgedWrites: it writes
// as fast as it can from 8 goroutines and prints "ack ID" after each commit.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("only runs as the child of TestCrashKeepsAcknowledgedWrites")
	}
	s, err := Open(ctx, os.Getenv(crashDialectEnv), path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	org, err := s.OrganisationByCreditCode(ctx, "91350100M000100Y43")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	clerk, err := s.UserByMobile(ctx, "13800138000")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				serial := newID()[:20]
				a := &renewal.Application{OrganisationID: org.ID, CreatedBy: clerk.ID, CertSerial: serial, Form: form(org),
					State: renewal.InitialState(renewal.DefaultPolicy()), PriceFen: 1}
				err := s.Write(ctx, func(tx *Tx) error {
					c := &CertificateRecord{Certificate: renewal.Certificate{Serial: serial, Holder: "h", Issuer: "i", OrganisationID: org.ID,
						NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1e9, 0), KeyType: renewal.KeyRSA}, PublicKey: []byte{1}, DER: []byte{2}}
					if err := tx.PutCertificate(ctx, c, sys("certificate.import")); err != nil {
						return err
					}
					return tx.CreateApplication(ctx, a, sys("application.create"))
				})
				out.Lock()
				if err != nil {
					fmt.Println("error", err)
				} else {
					fmt.Println("ack", a.ID) // only after the commit returned
				}
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrashKeepsAcknowledgedWrites SIGKILLs a child process in the middle of
// a burst of writes, three times; after each kill every write the child
// acknowledged is in the database and the audit chain verifies. On SQLite
// this tests the store's durability settings; on PostgreSQL, where two
// children write at once, that an acknowledgement is never given before the
// commit, and that the chain verifies with the entries a kill left queued,
// and again once they are linked.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Run("sqlite", func(t *testing.T) {
		crashRounds(t, "sqlite", filepath.Join(t.TempDir(), "crash.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		crashRounds(t, "postgres", pgtest.Schema(t, "t_"))
	})
}

func crashRounds(t *testing.T, dialect, dsn string) {
	s, err := Open(ctx, dialect, dsn)
	must(t, err)
	seed(t, s, newClock())
	must(t, s.Close())

	// On PostgreSQL two children write at once, as two renewd replicas on
	// one database would, each killed at a moment of its own.
	children := 1
	if dialect == "postgres" {
		children = 2
	}
	acked := map[string]bool{}
	var mu sync.Mutex
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		counts := make([]int, children)
		for c := range children {
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashDBEnv+"="+dsn, crashDialectEnv+"="+dialect)
			stdout, err := cmd.StdoutPipe()
			must(t, err)
			cmd.Stderr = os.Stderr
			must(t, cmd.Start())
			killAt := 50 + rand.IntN(150)
			wg.Go(func() {
				sc := bufio.NewScanner(stdout)
				n := 0
				for sc.Scan() {
					line := sc.Text()
					if id, ok := strings.CutPrefix(line, "ack "); ok {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
						n++
						if n == killAt {
							_ = cmd.Process.Signal(syscall.SIGKILL)
						}
						continue
					}
					if strings.HasPrefix(line, "error") {
						t.Errorf("child: %s", line)
					}
				}
				err := cmd.Wait()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Errorf("child did not die by SIGKILL: %v", err)
				}
				if n < killAt {
					t.Errorf("round %d: child stopped after %d acks, before the kill at %d", round, n, killAt)
				}
				counts[c] = n
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		n := counts

		// The chain as the kill left it verifies, before anything links
		// the entries it left queued.
		queued, before := unlinkedChain(t, dialect, dsn)
		s, err := Open(ctx, dialect, dsn)
		must(t, err)
		for id := range acked {
			if _, err := s.Application(ctx, AllScope(), id); err != nil {
				t.Errorf("round %d: acknowledged write %s lost: %v", round, id, err)
			}
			if es, err := s.ListAudit(ctx, renewal.AuditQuery{Target: "application/" + id}); err != nil || len(es) != 1 {
				t.Errorf("round %d: acknowledged write %s has %d audit entries (%v), want 1", round, id, len(es), err)
			}
		}
		v := verifyOK(t, s)
		if v.Entries != before.Entries+int64(queued) {
			t.Errorf("round %d: %d entries after linking, want %d in the chain + %d queued", round, v.Entries, before.Entries, queued)
		}
		t.Logf("round %d: killed after %d acks; %d acknowledged in total; %d audit entries verify (%d were queued at the kill)",
			round, n, len(acked), v.Entries, queued)
		must(t, s.Close())
	}
}

// unlinkedChain verifies the chain of the database at dsn as it is, without
// the link Open runs, and counts the entries waiting in the queue.
func unlinkedChain(t *testing.T, dialect, dsn string) (queued int, v renewal.AuditVerification) {
	t.Helper()
	driver, d := "sqlite", SQLite
	if dialect == "postgres" {
		driver, d = "pgx", Postgres
	}
	db, err := sql.Open(driver, dsn)
	must(t, err)
	defer db.Close()
	s := &Store{dialect: d, w: db, r: db, now: time.Now}
	must(t, db.QueryRow(`SELECT COUNT(*) FROM audit_queue`).Scan(&queued))
	return queued, verifyOK(t, s)
}
