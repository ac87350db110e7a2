package token

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func journalTestClock() func() time.Time {
	t := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func journalTestEntry(serial string) *JournalEntry {
	old := sha256.Sum256([]byte("old cert"))
	return &JournalEntry{
		Serial:        serial,
		Mode:          Rekey,
		Step:          StepIntent,
		OldID:         HexBytes{1, 2, 3},
		NewID:         HexBytes{9, 8, 7, 6},
		OldCertSHA256: old[:],
		Label:         "张三的证书",
		KeyType:       "ec-p256",
	}
}

func TestJournalLifecycle(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "a", "journal"), journalTestClock())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(j.Dir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("journal dir: %v %v, want mode 0700", fi, err)
	}
	if e, err := j.Load("0123abcd"); e != nil || err != nil {
		t.Fatalf("empty journal: Load = %v, %v", e, err)
	}
	e := journalTestEntry("0123abcd")
	if err := j.Begin(e); err != nil {
		t.Fatal(err)
	}
	// A second install on the same token cannot start.
	if err := j.Begin(journalTestEntry("0123abcd")); !errors.Is(err, ErrInstallInProgress) {
		t.Fatalf("second Begin: %v, want ErrInstallInProgress", err)
	}
	// Another token can.
	if err := j.Begin(journalTestEntry("ffff")); err != nil {
		t.Fatal(err)
	}
	got, err := j.Load("0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != StepIntent || !bytes.Equal(got.NewID, e.NewID) || got.Label != e.Label || got.Version != journalVersion {
		t.Fatalf("loaded %+v, want %+v", got, e)
	}
	newSum := sha256.Sum256([]byte("new cert"))
	got.Step = StepWritingCert
	got.NewCertSHA256 = newSum[:]
	if err := j.Update(got); err != nil {
		t.Fatal(err)
	}
	again, err := j.Load("0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	if again.Step != StepWritingCert || !bytes.Equal(again.NewCertSHA256, newSum[:]) || !again.Updated.After(again.Started) {
		t.Fatalf("after update: %+v", again)
	}
	fi, err := os.Stat(filepath.Join(j.Dir(), "0123abcd.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal file: %v %v, want mode 0600", fi, err)
	}
	if err := j.Remove("0123abcd"); err != nil {
		t.Fatal(err)
	}
	if err := j.Remove("0123abcd"); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if e, err := j.Load("0123abcd"); e != nil || err != nil {
		t.Fatalf("after Remove: %v, %v", e, err)
	}
	// The other token's journal is untouched.
	if e, err := j.Load("ffff"); e == nil || err != nil {
		t.Fatalf("other token: %v, %v", e, err)
	}
	entries, _ := os.ReadDir(j.Dir())
	if len(entries) != 1 {
		t.Fatalf("journal dir holds %d files, want 1 (no temporary files left)", len(entries))
	}
}

func TestJournalOddSerialIsHexNamed(t *testing.T) {
	j, err := OpenJournal(t.TempDir(), journalTestClock())
	if err != nil {
		t.Fatal(err)
	}
	for _, serial := range []string{"../../etc/passwd", "序列号", ".hidden", "a b"} {
		if err := j.Begin(journalTestEntry(serial)); err != nil {
			t.Fatalf("%q: %v", serial, err)
		}
		e, err := j.Load(serial)
		if err != nil || e == nil || e.Serial != serial {
			t.Fatalf("%q: Load = %v, %v", serial, e, err)
		}
	}
	entries, _ := os.ReadDir(j.Dir())
	for _, de := range entries {
		if !strings.HasPrefix(de.Name(), "x-") {
			t.Errorf("journal file %q is not hex-named", de.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(j.Dir()), "etc")); err == nil {
		t.Fatal("a serial escaped the journal directory")
	}
}

func TestJournalRefusesBadEntries(t *testing.T) {
	j, err := OpenJournal(t.TempDir(), journalTestClock())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("x"))
	cases := map[string]func(e *JournalEntry){
		"empty serial":           func(e *JournalEntry) { e.Serial = "" },
		"long serial":            func(e *JournalEntry) { e.Serial = strings.Repeat("1", journalMaxSerial+1) },
		"bad mode":               func(e *JournalEntry) { e.Mode = "sideways" },
		"bad step":               func(e *JournalEntry) { e.Step = "halfway" },
		"no old id":              func(e *JournalEntry) { e.OldID = nil },
		"no new id":              func(e *JournalEntry) { e.NewID = nil },
		"no old hash":            func(e *JournalEntry) { e.OldCertSHA256 = nil },
		"short old hash":         func(e *JournalEntry) { e.OldCertSHA256 = sum[:5] },
		"writing without hash":   func(e *JournalEntry) { e.Step = StepWritingCert },
		"verified without hash":  func(e *JournalEntry) { e.Step = StepVerified },
		"same-key with new id":   func(e *JournalEntry) { e.Mode = SameKey },
		"re-key with the old id": func(e *JournalEntry) { e.NewID = e.OldID },
	}
	for name, spoil := range cases {
		t.Run(name, func(t *testing.T) {
			e := journalTestEntry("77")
			spoil(e)
			if err := j.Begin(e); err == nil {
				t.Fatal("Begin accepted a bad entry")
			}
			if got, err := j.Load("77"); got != nil || err != nil {
				t.Fatalf("a refused entry left a journal: %v, %v", got, err)
			}
		})
	}
}

func TestJournalDamagedFiles(t *testing.T) {
	j, err := OpenJournal(t.TempDir(), journalTestClock())
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Begin(journalTestEntry("42")); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(j.Dir(), "42.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"truncated":     good[:len(good)/2],
		"empty":         {},
		"unknown field": bytes.Replace(good, []byte(`"mode"`), []byte(`"extra": 1, "mode"`), 1),
		"bad hex":       bytes.Replace(good, []byte(`"old_id": "010203"`), []byte(`"old_id": "zz"`), 1),
		"other token":   bytes.Replace(good, []byte(`"token_serial": "42"`), []byte(`"token_serial": "43"`), 1),
		"too large":     append(bytes.Repeat([]byte(" "), journalMaxBytes), good...),
		"future":        bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 2`), 1),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(content, good) {
				t.Fatal("the test case does not change the file")
			}
			if err := os.WriteFile(filepath.Join(j.Dir(), "42.json"), content, 0o600); err != nil {
				t.Fatal(err)
			}
			if e, err := j.Load("42"); err == nil {
				t.Fatalf("Load accepted a damaged journal: %+v", e)
			}
		})
	}
}

func TestJournalRemoveCleansStaleTemporaries(t *testing.T) {
	j, err := OpenJournal(t.TempDir(), journalTestClock())
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(j.Dir(), "42.json.tmp-123")
	if err := os.WriteFile(stale, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := j.Remove("42"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("a stale temporary journal file was left")
	}
}

func TestJournalLock(t *testing.T) {
	j, err := OpenJournal(t.TempDir(), journalTestClock())
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := j.Lock("42")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Lock("42"); !errors.Is(err, ErrInstallInProgress) {
		t.Fatalf("second lock: %v, want ErrInstallInProgress", err)
	}
	other, err := j.Lock("43")
	if err != nil {
		t.Fatalf("another token: %v", err)
	}
	other()
	unlock()
	again, err := j.Lock("42")
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
	if _, err := j.Lock(""); err == nil {
		t.Fatal("lock of an empty serial")
	}
}
