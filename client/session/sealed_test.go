//go:build linux

package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

func record(now time.Time) session.Record {
	return session.Record{
		ServiceURL:   "https://renew.example.cn",
		User:         "李四",
		RefreshToken: "rt_" + strings.Repeat("9f", 32),
		Expiry:       now.Add(30 * 24 * time.Hour).UTC().Truncate(time.Second),
	}
}

// newClock is an injected clock the test moves by hand.
func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
}

// sealedStore opens a store that uses the TPM (never the keyring).
func sealedStore(t testing.TB, tpm *swtpm, dir string, clock *fakeclock.Clock, mod ...func(*session.Options)) *session.Store {
	t.Helper()
	o := session.Options{
		Service:   "ukeyrenew-test",
		Dir:       dir,
		NoKeyring: true,
		OpenTPM:   tpm.Open,
		Now:       clock.Now,
	}
	for _, f := range mod {
		f(&o)
	}
	st, err := session.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSealedFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	tpm := startSWTPM(t)
	dir := filepath.Join(t.TempDir(), "cfg")
	clock := newClock()
	st := sealedStore(t, tpm, dir, clock)
	if st.Where() != session.InSealedFile || !st.Where().Persistent() {
		t.Fatalf("Where = %v (%v), want the sealed file", st.Where(), st.Unavailable())
	}
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("Load before Save = %v, want ErrNoSession", err)
	}
	rec := record(clock.Now())
	w, err := st.Save(ctx, rec)
	if err != nil || w != session.InSealedFile {
		t.Fatalf("Save = %v, %v", w, err)
	}
	path := filepath.Join(dir, "session.sealed")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sealed file: %d bytes", fi.Size())
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("sealed file mode %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(rec.RefreshToken)) || bytes.Contains(raw, []byte("renew.example.cn")) {
		t.Fatal("sealed file holds the record in clear")
	}
	// Back-to-back calls each reach the TPM (none falls back to memory).
	for i := 0; i < 50; i++ {
		if w, err := st.Save(ctx, rec); err != nil || w != session.InSealedFile {
			t.Fatalf("Save #%d = %v, %v (%v)", i, w, err, st.Unavailable())
		}
		if got, err := st.Load(ctx); err != nil || got != rec {
			t.Fatalf("Load #%d = %+v, %v", i, got, err)
		}
	}
	// A fresh store (a restart) reads it back.
	got, err := sealedStore(t, tpm, dir, clock).Load(ctx)
	if err != nil || got != rec {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, rec)
	}
	if err := st.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sealed file still there after Delete: %v", err)
	}
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("Load after Delete = %v, want ErrNoSession", err)
	}
	if err := st.Delete(ctx); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestSealedFileExpiry(t *testing.T) {
	ctx := context.Background()
	tpm := startSWTPM(t)
	dir := t.TempDir()
	clock := newClock()
	st := sealedStore(t, tpm, dir, clock)
	rec := record(clock.Now())

	past := rec
	past.Expiry = clock.Now()
	var fe *session.FieldError
	if _, err := st.Save(ctx, past); !errors.As(err, &fe) || fe.Field != "Expiry" {
		t.Fatalf("Save of an expired record = %v, want a FieldError on Expiry", err)
	}
	if _, err := st.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	clock.Set(rec.Expiry.Add(-time.Second))
	if _, err := st.Load(ctx); err != nil {
		t.Fatalf("Load a second before expiry: %v", err)
	}
	clock.Set(rec.Expiry)
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrExpired) {
		t.Fatalf("Load at expiry = %v, want ErrExpired", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "session.sealed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("expired session was not deleted")
	}
}

func TestSealedFileUnsealedInAnotherProcess(t *testing.T) {
	tpm := startSWTPM(t)
	dir := t.TempDir()
	clock := newClock()
	rec := record(clock.Now())
	rec.Expiry = time.Now().Add(time.Hour).UTC().Truncate(time.Second) // the child uses the real clock
	if _, err := sealedStore(t, tpm, dir, clock).Save(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	rep := runChild(t, "load", "UKEY_SESSION_TPM="+tpm.Socket, "UKEY_SESSION_DIR="+dir, "UKEY_SESSION_SERVICE=ukeyrenew-test")
	if rep.Where != session.InSealedFile.String() || rep.Loaded == nil || *rep.Loaded != rec {
		t.Fatalf("child: %+v, want %+v from the sealed file", rep, rec)
	}
}

func TestSealedFileFromAnotherTPMIsDiscarded(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	home, other := startSWTPM(t), startSWTPM(t)
	dir := t.TempDir()
	if _, err := sealedStore(t, other, dir, clock).Save(ctx, record(clock.Now())); err != nil {
		t.Fatal(err)
	}
	// The config dir roamed to a machine with another TPM.
	st := sealedStore(t, home, dir, clock)
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrSealedElsewhere) {
		t.Fatalf("Load = %v, want ErrSealedElsewhere", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "session.sealed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("foreign sealed file was kept")
	}
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("second Load = %v, want ErrNoSession", err)
	}
	// And this machine can save a new one (the user signed in again).
	if w, err := st.Save(ctx, record(clock.Now())); err != nil || w != session.InSealedFile {
		t.Fatalf("Save after discard: %v %v", w, err)
	}
}

func TestSealedFileAfterTPMClearIsDiscarded(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	tpm := startSWTPM(t)
	dir := t.TempDir()
	st := sealedStore(t, tpm, dir, clock)
	if _, err := st.Save(ctx, record(clock.Now())); err != nil {
		t.Fatal(err)
	}
	tpm.Clear(t)
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrSealedElsewhere) {
		t.Fatalf("Load after TPM2_Clear = %v, want ErrSealedElsewhere", err)
	}
	// A fresh TPM state (a new or reset TPM) is the same case.
	if _, err := st.Save(ctx, record(clock.Now())); err != nil {
		t.Fatal(err)
	}
	tpm.Stop()
	fresh := startSWTPM(t)
	if _, err := sealedStore(t, fresh, dir, clock).Load(ctx); !errors.Is(err, session.ErrSealedElsewhere) {
		t.Fatalf("Load with a fresh TPM state = %v, want ErrSealedElsewhere", err)
	}
}

func TestSealedFileSurvivesTPMRestart(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	state := t.TempDir()
	tpm := startSWTPMState(t, state)
	dir := t.TempDir()
	rec := record(clock.Now())
	if _, err := sealedStore(t, tpm, dir, clock).Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	tpm.Stop() // a reboot: same TPM, same owner seed
	again := startSWTPMState(t, state)
	if got, err := sealedStore(t, again, dir, clock).Load(ctx); err != nil || got != rec {
		t.Fatalf("Load after TPM restart = %+v, %v", got, err)
	}
}

func TestSealedFileWrongAuth(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	tpm := startSWTPM(t)
	dir := t.TempDir()
	rec := record(clock.Now())
	withKeyAuth := func(a string) func(*session.Options) {
		return func(o *session.Options) { o.KeyAuth = []byte(a) }
	}
	if _, err := sealedStore(t, tpm, dir, clock, withKeyAuth("right")).Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // noDA: repeated failures never lock the TPM out
		if _, err := sealedStore(t, tpm, dir, clock, withKeyAuth("wrong")).Load(ctx); !errors.Is(err, session.ErrTPMAuth) {
			t.Fatalf("Load with the wrong key auth = %v, want ErrTPMAuth", err)
		}
	}
	if got, err := sealedStore(t, tpm, dir, clock, withKeyAuth("right")).Load(ctx); err != nil || got != rec {
		t.Fatalf("Load with the right key auth after failures = %+v, %v (file must be kept)", got, err)
	}

	// Owner hierarchy auth: with a wrong one the TPM cannot be used at all.
	tpm.SetOwnerAuth(t, []byte("owner-secret"))
	st := sealedStore(t, tpm, dir, clock, withKeyAuth("right"))
	if st.Where() != session.InMemory || !errors.Is(st.Unavailable(), session.ErrTPMAuth) {
		t.Fatalf("wrong owner auth: Where %v, Unavailable %v; want memory and ErrTPMAuth", st.Where(), st.Unavailable())
	}
	st = sealedStore(t, tpm, dir, clock, withKeyAuth("right"), func(o *session.Options) { o.OwnerAuth = []byte("owner-secret") })
	if got, err := st.Load(ctx); st.Where() != session.InSealedFile || err != nil || got != rec {
		t.Fatalf("right owner auth: Where %v, Load %+v, %v", st.Where(), got, err)
	}
}

func TestSealedFileBadContentIsDiscarded(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	tpm := startSWTPM(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "session.sealed")
	st := sealedStore(t, tpm, dir, clock)
	if _, err := st.Save(ctx, record(clock.Now())); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string, f func(v []byte) any) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		var b []byte
		if s, ok := m[name].(string); ok {
			var raw []byte
			_ = json.Unmarshal([]byte(`"`+s+`"`), &raw)
			b = raw
		}
		if v := f(b); v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
		out, _ := json.Marshal(m)
		return out
	}
	flip := func(v []byte) any { v = bytes.Clone(v); v[len(v)-1] ^= 1; return v }
	flipMid := func(v []byte) any { v = bytes.Clone(v); v[len(v)/2] ^= 0x80; return v }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, session.ErrCorrupt},
		{"not json", []byte("not json"), session.ErrCorrupt},
		{"too big", append(bytes.Clone(good), bytes.Repeat([]byte(" "), session.MaxSealedFile)...), session.ErrCorrupt},
		{"version 2", field("v", func([]byte) any { return 2 }), session.ErrCorrupt},
		{"no srk name", field("srk_name", func([]byte) any { return nil }), session.ErrCorrupt},
		{"other srk name", field("srk_name", flip), session.ErrSealedElsewhere},
		{"no public", field("public", func([]byte) any { return nil }), session.ErrCorrupt},
		{"short public", field("public", func(v []byte) any { return v[:5] }), session.ErrCorrupt},
		{"altered public", field("public", flipMid), session.ErrCorrupt},
		{"no private", field("private", func([]byte) any { return nil }), session.ErrCorrupt},
		{"altered private", field("private", flipMid), session.ErrCorrupt},
		{"short nonce", field("nonce", func(v []byte) any { return v[:11] }), session.ErrCorrupt},
		{"altered nonce", field("nonce", flip), session.ErrCorrupt},
		{"no ciphertext", field("ciphertext", func([]byte) any { return nil }), session.ErrCorrupt},
		{"altered ciphertext", field("ciphertext", flip), session.ErrCorrupt},
		{"truncated ciphertext", field("ciphertext", func(v []byte) any { return v[:len(v)-1] }), session.ErrCorrupt},
		{"not base64", field("ciphertext", func([]byte) any { return "%%%" }), session.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Load(ctx); !errors.Is(err, tt.want) {
				t.Fatalf("Load = %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("bad sealed file was kept")
			}
		})
	}
}

func TestNoTPMFallsBackToMemory(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	dir := t.TempDir()
	st, err := session.Open(ctx, session.Options{
		Dir: dir, NoKeyring: true, Now: clock.Now,
		OpenTPM: func() (transport.TPMCloser, error) { return nil, errors.New("no such device") },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Where() != session.InMemory || st.Where().Persistent() || !errors.Is(st.Unavailable(), session.ErrNoTPM) || !errors.Is(st.Unavailable(), session.ErrNoKeyring) {
		t.Fatalf("Where %v, Unavailable %v; want memory, ErrNoTPM and ErrNoKeyring", st.Where(), st.Unavailable())
	}
	rec := record(clock.Now())
	if w, err := st.Save(ctx, rec); err != nil || w != session.InMemory {
		t.Fatalf("Save = %v, %v", w, err)
	}
	if got, err := st.Load(ctx); err != nil || got != rec {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("memory store wrote files: %v", entries)
	}
	if err := st.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("Load after Delete = %v", err)
	}
}

// A stopped TPM (swtpm under SIGSTOP: the socket accepts, nothing answers)
// must not hang the store: Open falls back to memory with ErrTimeout.
func TestHungTPMTimesOut(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	tpm := startSWTPM(t)
	dir := t.TempDir()
	if _, err := sealedStore(t, tpm, dir, clock).Save(ctx, record(clock.Now())); err != nil {
		t.Fatal(err)
	}
	if err := tpm.Pause(); err != nil {
		t.Fatal(err)
	}
	defer tpm.Resume()
	st := sealedStore(t, tpm, dir, clock, func(o *session.Options) { o.Timeout = 200 * time.Millisecond })
	if st.Where() != session.InMemory || !errors.Is(st.Unavailable(), session.ErrTimeout) {
		t.Fatalf("Where %v, Unavailable %v; want memory and ErrTimeout", st.Where(), st.Unavailable())
	}
	// Sign-out still removes the sealed file without the TPM.
	if err := st.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "session.sealed")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Delete left the sealed file")
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]session.Options{
		"service with slash":  {Service: "a/b"},
		"account with dotdot": {Account: ".."},
		"long account":        {Account: strings.Repeat("a", 65)},
		"negative timeout":    {Timeout: -time.Second},
		"huge timeout":        {Timeout: time.Hour},
		"long key auth":       {KeyAuth: make([]byte, session.MaxAuth+1)},
		"long owner auth":     {OwnerAuth: make([]byte, session.MaxAuth+1)},
	} {
		o.NoKeyring, o.NoTPM = true, true
		if _, err := session.Open(context.Background(), o); err == nil {
			t.Errorf("%s: Open accepted %+v", name, o)
		}
	}
}

// runChild re-runs this test binary in a child mode with extra environment
// and decodes its report.
func runChild(t *testing.T, mode string, env ...string) childReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang guard only
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	base := os.Environ()
	if len(env) > 0 && env[len(env)-1] == "UKEY_SESSION_ENV_IS_FULL=1" {
		base = nil
	}
	cmd.Env = append(base, append([]string{"UKEY_SESSION_CHILD=" + mode}, env...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v\n%s", mode, err, errb.String())
	}
	var rep childReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("child %s: %v: %q", mode, err, out.String())
	}
	return rep
}

// A TPM that stops answering after Open: Save keeps the record in memory
// (the user stays signed in for this run) and says so; Load still finds it.
func TestSaveFallsBackToMemoryWhenTheTPMStops(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	tpm := startSWTPM(t)
	dir := t.TempDir()
	st := sealedStore(t, tpm, dir, clock, func(o *session.Options) { o.Timeout = 200 * time.Millisecond })
	if st.Where() != session.InSealedFile {
		t.Fatalf("Where = %v", st.Where())
	}
	if err := tpm.Pause(); err != nil {
		t.Fatal(err)
	}
	defer tpm.Resume()
	rec := record(clock.Now())
	w, err := st.Save(ctx, rec)
	if err != nil || w != session.InMemory || !errors.Is(st.Unavailable(), session.ErrTimeout) {
		t.Fatalf("Save = %v, %v (Unavailable %v); want memory and ErrTimeout", w, err, st.Unavailable())
	}
	if got, err := st.Load(ctx); err != nil || got != rec {
		t.Fatalf("Load = %+v, %v; want the record from memory", got, err)
	}
	if err := st.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx); err == nil {
		t.Fatal("Load after Delete found a record")
	}
}
