package apptest

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
)

// FakeSource is a fake TokenSource and PINSource for the states SoftHSM2
// cannot reach (a PIN on its final try or locked, a label or certificate
// that cannot be read, a module that fails). It behaves like a token with a
// retry counter: each wrong PIN takes a try, COUNT_LOW after the first, FINAL_TRY
// when one is left, LOCKED when none is; a good PIN resets the counter.
type FakeSource struct {
	mu       sync.Mutex
	tokens   map[string]*FakeToken
	listErr  error
	watchErr error
	watchers []chan struct{}
	lists    int
}

type FakeToken struct {
	tok      model.Token
	pin      []byte
	maxTries int
	left     int
	checks   int // PINs received
	block    chan struct{}
}

// NewFakeSource returns a source without tokens.
func NewFakeSource() *FakeSource { return &FakeSource{tokens: map[string]*FakeToken{}} }

// Insert adds a token with PIN pin and maxTries tries, and tells watchers.
func (f *FakeSource) Insert(t model.Token, pin string, maxTries int) {
	f.mu.Lock()
	f.tokens[t.Serial] = &FakeToken{tok: t, pin: []byte(pin), maxTries: maxTries, left: maxTries}
	f.mu.Unlock()
	f.notify()
}

// Remove takes the token out and tells watchers.
func (f *FakeSource) Remove(serial string) {
	f.mu.Lock()
	delete(f.tokens, serial)
	f.mu.Unlock()
	f.notify()
}

func (f *FakeSource) notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.watchers {
		select {
		case w <- struct{}{}:
		default: // a change is already pending; List reads the latest state
		}
	}
}

func (f *FakeSource) token(serial string) *FakeToken {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[serial]
}

func (f *FakeSource) List(ctx context.Context) ([]model.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if f.listErr != nil {
		return nil, f.listErr
	}
	out := make([]model.Token, 0, len(f.tokens))
	for _, ft := range f.tokens {
		t := ft.tok
		t.PIN = ft.state()
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Serial < out[j].Serial })
	return out, nil
}

func (f *FakeSource) Watch(ctx context.Context) (<-chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchErr != nil {
		return nil, f.watchErr
	}
	ch := make(chan struct{}, 1)
	f.watchers = append(f.watchers, ch)
	return ch, nil
}

// StopWatch closes every watcher's channel, as a watcher that fails for good.
func (f *FakeSource) StopWatch() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.watchers {
		close(w)
	}
	f.watchers = nil
}

func (ft *FakeToken) state() model.PINState {
	used := ft.maxTries - ft.left
	return model.PINState{CountLow: used > 0, FinalTry: ft.left == 1, Locked: ft.left == 0}
}

func (f *FakeSource) PINState(ctx context.Context, serial string) (model.PINState, error) {
	ft := f.token(serial)
	if ft == nil {
		return model.PINState{}, fmt.Errorf("fake: %s: %w", serial, model.ErrTokenRemoved)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return ft.state(), nil
}

func (f *FakeSource) CheckPIN(ctx context.Context, serial string, pin []byte) error {
	defer clear(pin)
	ft := f.token(serial)
	if ft == nil {
		return fmt.Errorf("fake: %s: %w", serial, model.ErrTokenRemoved)
	}
	f.mu.Lock()
	ft.checks++
	block := ft.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case ft.left == 0:
		return fmt.Errorf("fake login: %w", model.ErrPINLocked)
	case bytes.Equal(pin, ft.pin):
		ft.left = ft.maxTries
		return nil
	}
	ft.left--
	return fmt.Errorf("fake login: %w", model.ErrPINIncorrect)
}

// Checks is how many PINs the token was given.
func (f *FakeSource) Checks(serial string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[serial].checks
}

// Lists is how many times List was called.
func (f *FakeSource) Lists() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

// Block makes the token's PIN checks wait until block is closed.
func (f *FakeSource) Block(serial string, block chan struct{}) {
	f.mu.Lock()
	f.tokens[serial].block = block
	f.mu.Unlock()
}

// FailList makes List fail with err (nil: list again).
func (f *FakeSource) FailList(err error) {
	f.mu.Lock()
	f.listErr = err
	f.mu.Unlock()
}

// FailWatch makes Watch fail with err (nil: watch again).
func (f *FakeSource) FailWatch(err error) {
	f.mu.Lock()
	f.watchErr = err
	f.mu.Unlock()
}

// Watchers is how many watchers are open.
func (f *FakeSource) Watchers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

// Lock spends every try of the token's PIN.
func (f *FakeSource) Lock(serial string) {
	f.mu.Lock()
	f.tokens[serial].left = 0
	f.mu.Unlock()
}

// FakeDetailSource is a FakeSource that also reports key pairs and damaged
// objects (a DetailSource), for view-model and screen tests; the real
// P11Source reads them from SoftHSM2 in app's p11source_test.go.
type FakeDetailSource struct {
	*FakeSource
	KeyPairs map[string][]bool                // by token serial, parallel to Certs
	Damaged  map[string][]model.DamagedObject // by token serial
}

// NewFakeDetailSource returns a source without tokens.
func NewFakeDetailSource() *FakeDetailSource {
	return &FakeDetailSource{FakeSource: NewFakeSource(), KeyPairs: map[string][]bool{}, Damaged: map[string][]model.DamagedObject{}}
}

// ListDetails lists the tokens with their key pairs and damaged objects.
func (f *FakeDetailSource) ListDetails(ctx context.Context) ([]model.TokenDetail, error) {
	toks, err := f.List(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]model.TokenDetail, len(toks))
	for i, t := range toks {
		out[i] = model.TokenDetail{Token: t, KeyPair: f.KeyPairs[t.Serial], Damaged: f.Damaged[t.Serial]}
	}
	return out, nil
}
