package token

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

func TestWatchStateDebounce(t *testing.T) {
	a := TokenInfo{Serial: "A", Label: "a"}
	b := TokenInfo{Serial: "B", Label: "b"}
	w := newWatchState(2)
	kinds := func(evs []Event) string {
		s := ""
		for _, e := range evs {
			s += string(e.Kind) + ":" + e.Token.Serial + " "
		}
		return s
	}
	steps := []struct {
		in         []TokenInfo
		unreadable int
		want       string
	}{
		{[]TokenInfo{a}, 0, "present:A "},
		{[]TokenInfo{a, b}, 0, "inserted:B "},
		{[]TokenInfo{b}, 0, ""}, // A missing once: maybe a transient failure
		{[]TokenInfo{a, b}, 0, ""},
		{[]TokenInfo{b}, 0, ""},
		{[]TokenInfo{b}, 1, ""}, // a slot was unreadable: it may be A, not counted
		{[]TokenInfo{b}, 1, ""},
		{[]TokenInfo{b}, 0, "removed:A "},
		{[]TokenInfo{{Serial: "B", Label: "new"}}, 0, "changed:B "},
		{nil, 0, ""},
		{nil, 0, "removed:B "},
		{nil, 0, ""},
	}
	for i, s := range steps {
		if got := kinds(w.step(s.in, s.unreadable)); got != s.want {
			t.Errorf("step %d: got %q, want %q", i, got, s.want)
		}
	}
}

func TestWatchOptionsLimits(t *testing.T) {
	bad := []WatchOptions{
		{Interval: time.Millisecond},
		{Interval: time.Minute},
		{RemoveAfter: -1},
		{RemoveAfter: MaxRemoveAfter + 1},
		{ReloadEvery: -time.Second},
	}
	for _, o := range bad {
		if err := o.normalise(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestWatchSoftHSM inserts and removes real SoftHSM2 tokens while watching.
// Insertion by another process needs ReloadEvery (see WatchOptions); removal
// is simulated by moving the token's directory away.
func TestWatchSoftHSM(t *testing.T) {
	env, m, serials := openEnv(t, "first")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 16)
	done := make(chan error, 1)
	go func() {
		done <- m.Watch(ctx, WatchOptions{Interval: 20 * time.Millisecond, ReloadEvery: 20 * time.Millisecond},
			func(e Event) { events <- e })
	}()
	next := func() Event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(30 * time.Second): // a hang guard, not a latency assertion
			t.Fatal("no event")
		}
		return Event{}
	}
	if e := next(); e.Kind != Present || e.Token.Serial != serials[0] {
		t.Fatalf("first event %+v", e)
	}
	second := env.InitToken(t, "second", soPIN, userPIN)
	if e := next(); e.Kind != Inserted || e.Token.Serial != second || e.Token.Label != "second" {
		t.Fatalf("after insert: %+v", e)
	}
	dirs, _ := filepath.Glob(filepath.Join(env.TokenDir, "*"))
	gone := filepath.Join(env.Dir, "gone")
	if err := os.Mkdir(gone, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.Rename(d, filepath.Join(gone, filepath.Base(d))); err != nil {
			t.Fatal(err)
		}
	}
	// softhsm2-util initialises the token and then its user PIN: a poll that
	// falls between the two sees the token first, then a change of its flags,
	// which may be reported before the removals.
	removed := map[string]bool{}
	for len(removed) < 2 {
		e := next()
		if e.Kind == Changed && !removed[e.Token.Serial] {
			continue
		}
		if e.Kind != Removed {
			t.Fatalf("after removal: %+v", e)
		}
		removed[e.Token.Serial] = true
	}
	if !removed[serials[0]] || !removed[second] {
		t.Errorf("removed %v", removed)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch returned %v after cancel", err)
	}
}

// TestWatchNoFalseRemovalWhileBusy: another process logging in over and over
// makes SoftHSM2 fail C_GetTokenInfo now and then; the watcher must not
// report the token removed (or inserted again).
func TestWatchNoFalseRemovalWhileBusy(t *testing.T) {
	env, m, serials := openEnv(t, "busy")
	tool := testenv.LookPath(t, "pkcs11-tool")
	slot := env.Slot(t, serials[0])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var events []string
	done := make(chan error, 1)
	go func() {
		done <- m.Watch(ctx, WatchOptions{Interval: MinWatchInterval, RemoveAfter: 1}, func(e Event) {
			mu.Lock()
			events = append(events, string(e.Kind)+":"+e.Token.Serial)
			mu.Unlock()
		})
	}()
	for i := 0; i < 30; i++ {
		c := exec.Command(tool, "--module", env.Module, "--slot", slot, "--login", "--pin", userPIN, "--list-objects")
		c.Env = env.Environ()
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("pkcs11-tool: %v: %s", err, out)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[0] != "present:"+serials[0] {
		t.Errorf("events while another process logged in 30 times: %v", events)
	}
}
