package token

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/pkcs11"
)

// EventKind says what happened to a token.
type EventKind string

// Event kinds. Present reports the tokens found by the first poll.
const (
	Present  EventKind = "present"
	Inserted EventKind = "inserted"
	Removed  EventKind = "removed"
	Changed  EventKind = "changed" // label, PIN state, slot or write protection changed
)

// Event is one change seen by Watch.
type Event struct {
	Kind  EventKind `json:"event"`
	Token TokenInfo `json:"token"`
	Time  time.Time `json:"time"`
}

// Limits of WatchOptions.
const (
	MinWatchInterval     = 10 * time.Millisecond
	MaxWatchInterval     = 10 * time.Second
	DefaultWatchInterval = 100 * time.Millisecond
	DefaultRemoveAfter   = 2
	MaxRemoveAfter       = 100
	// MaxPollFailures is how many polls in a row may fail (module error)
	// before Watch gives up and returns the error.
	MaxPollFailures = 50
)

// WatchOptions tune Watch. The zero value polls every 100 ms and reports a
// removal after a token was missing from 2 polls in a row, so insertion is
// seen within about 100 ms and removal within about 200 ms.
type WatchOptions struct {
	Interval time.Duration // between polls; 0 means DefaultWatchInterval
	// RemoveAfter is how many polls in a row a token must be missing
	// before it is reported removed: modules fail C_GetTokenInfo
	// transiently while another process is using the token.
	RemoveAfter int
	// ReloadEvery, when positive, re-initialises the module at most this
	// often while no Token is open on it. SoftHSM2 sees tokens created or
	// restored by another process only after C_Initialize; modules of real
	// USB tokens report insertion through C_GetSlotList and need no reload.
	ReloadEvery time.Duration
	// Now stamps events; time.Now when nil.
	Now func() time.Time
}

func (o *WatchOptions) normalise() error {
	if o.Interval == 0 {
		o.Interval = DefaultWatchInterval
	}
	if o.Interval < MinWatchInterval || o.Interval > MaxWatchInterval {
		return fmt.Errorf("watch interval %v out of range [%v, %v]", o.Interval, MinWatchInterval, MaxWatchInterval)
	}
	if o.RemoveAfter == 0 {
		o.RemoveAfter = DefaultRemoveAfter
	}
	if o.RemoveAfter < 1 || o.RemoveAfter > MaxRemoveAfter {
		return fmt.Errorf("watch remove-after %d out of range [1, %d]", o.RemoveAfter, MaxRemoveAfter)
	}
	if o.ReloadEvery < 0 {
		return fmt.Errorf("watch reload interval %v is negative", o.ReloadEvery)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Watch polls the module's tokens and calls fn for each event, from the
// calling goroutine, until ctx is cancelled (then it returns nil). The first
// poll reports every token as Present. SoftHSM2 and OpenSC have no working
// C_WaitForSlotEvent, so polling is the only portable way; one poll is one
// C_GetSlotList plus one C_GetTokenInfo per slot.
func (m *Module) Watch(ctx context.Context, opts WatchOptions, fn func(Event)) error {
	if err := opts.normalise(); err != nil {
		return err
	}
	if err := m.check(); err != nil {
		return err
	}
	w := newWatchState(opts.RemoveAfter)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	var lastReload time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		if opts.ReloadEvery > 0 && time.Since(lastReload) >= opts.ReloadEvery {
			lastReload = time.Now()
			if err := m.Reload(ctx); err != nil && !errors.Is(err, ErrBusy) {
				return err
			}
		}
		infos, unreadable, err := m.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrClosed) {
				return err
			}
			if failures++; failures >= MaxPollFailures {
				return fmt.Errorf("watch: %d polls failed in a row: %w", failures, err)
			}
			timer.Reset(opts.Interval)
			continue
		}
		failures = 0
		now := opts.Now()
		for _, ev := range w.step(infos, unreadable) {
			ev.Time = now
			fn(ev)
		}
		timer.Reset(opts.Interval)
	}
}

// watchState turns successive token lists into events.
type watchState struct {
	removeAfter int
	first       bool
	known       map[string]*watched
}

type watched struct {
	info    TokenInfo
	missing int
}

func newWatchState(removeAfter int) *watchState {
	return &watchState{removeAfter: removeAfter, first: true, known: map[string]*watched{}}
}

// step takes one poll's tokens. While some slot could not be read
// (unreadable > 0: a token busy in another process), tokens missing from
// the poll may be that slot, so they are not counted as missing.
func (w *watchState) step(infos []TokenInfo, unreadable int) []Event {
	var evs []Event
	seen := map[string]bool{}
	for _, ti := range infos {
		seen[ti.Serial] = true
		k, ok := w.known[ti.Serial]
		switch {
		case !ok:
			kind := Inserted
			if w.first {
				kind = Present
			}
			w.known[ti.Serial] = &watched{info: ti}
			evs = append(evs, Event{Kind: kind, Token: ti})
		case k.info != ti:
			k.info, k.missing = ti, 0
			evs = append(evs, Event{Kind: Changed, Token: ti})
		default:
			k.missing = 0
		}
	}
	for serial, k := range w.known {
		if seen[serial] || unreadable > 0 {
			continue
		}
		if k.missing++; k.missing >= w.removeAfter {
			delete(w.known, serial)
			evs = append(evs, Event{Kind: Removed, Token: k.info})
		}
	}
	w.first = false
	return evs
}

// poll is Tokens that also counts unreadable slots.
func (m *Module) poll(ctx context.Context) ([]TokenInfo, int, error) {
	if err := m.check(); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	m.lib.mu.Lock()
	defer m.lib.mu.Unlock()
	return m.lib.tokensLocked()
}

// ErrBusy is returned by Reload while a Token is open on the module.
var ErrBusy = errors.New("module busy: tokens are open")

// Reload finalises and re-initialises the module, so that it sees tokens
// that appeared since it was loaded (SoftHSM2 reads its token directory only
// in C_Initialize). It refuses with ErrBusy while any Token is open on the
// module, because their sessions would die.
func (m *Module) Reload(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	lib := m.lib
	// Module.Open counts a new Token while holding lib.mu, so with lib.mu
	// held the count cannot grow under us.
	lib.mu.Lock()
	defer lib.mu.Unlock()
	registry.Lock()
	tokens := lib.tokens
	registry.Unlock()
	if tokens > 0 {
		return fmt.Errorf("reload %s: %w", lib.path, ErrBusy)
	}
	if err := lib.ctx.Finalize(); err != nil {
		return fmt.Errorf("reload %s: %w", lib.path, p11err("finalize", err))
	}
	if err := lib.ctx.Initialize(); err != nil && !isCode(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("reload %s: %w", lib.path, p11err("initialize", err))
	}
	return nil
}
