package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/langtest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
)

// TestMain pins the interface language to Chinese whatever LANG the test
// runs under (scripts/test.sh uses C.UTF-8); tests that need English switch
// with langtest.Use.
func TestMain(m *testing.M) {
	if err := langtest.Set(langtest.Default); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// fakeSource is a fake TokenSource and PINSource for the states SoftHSM2
// cannot reach (a PIN on its final try or locked, a label or certificate
// that cannot be read, a module that fails). It behaves like a token with a
// retry counter: each wrong PIN takes a try, COUNT_LOW after the first, FINAL_TRY
// when one is left, LOCKED when none is; a good PIN resets the counter.
type fakeSource struct {
	mu       sync.Mutex
	tokens   map[string]*fakeToken
	listErr  error
	watchErr error
	watchers []chan struct{}
	lists    int
}

type fakeToken struct {
	tok      model.Token
	pin      []byte
	maxTries int
	left     int
	checks   int // PINs received
	block    chan struct{}
}

func newFakeSource() *fakeSource { return &fakeSource{tokens: map[string]*fakeToken{}} }

// insert adds a token with PIN pin and maxTries tries, and tells watchers.
func (f *fakeSource) insert(t model.Token, pin string, maxTries int) {
	f.mu.Lock()
	f.tokens[t.Serial] = &fakeToken{tok: t, pin: []byte(pin), maxTries: maxTries, left: maxTries}
	f.mu.Unlock()
	f.notify()
}

func (f *fakeSource) remove(serial string) {
	f.mu.Lock()
	delete(f.tokens, serial)
	f.mu.Unlock()
	f.notify()
}

func (f *fakeSource) notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.watchers {
		select {
		case w <- struct{}{}:
		default: // a change is already pending; List reads the latest state
		}
	}
}

func (f *fakeSource) token(serial string) *fakeToken {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[serial]
}

func (f *fakeSource) List(ctx context.Context) ([]model.Token, error) {
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

func (f *fakeSource) Watch(ctx context.Context) (<-chan struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchErr != nil {
		return nil, f.watchErr
	}
	ch := make(chan struct{}, 1)
	f.watchers = append(f.watchers, ch)
	return ch, nil
}

// stopWatch closes every watcher's channel, as a watcher that fails for good.
func (f *fakeSource) stopWatch() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.watchers {
		close(w)
	}
	f.watchers = nil
}

func (ft *fakeToken) state() model.PINState {
	used := ft.maxTries - ft.left
	return model.PINState{CountLow: used > 0, FinalTry: ft.left == 1, Locked: ft.left == 0}
}

func (f *fakeSource) PINState(ctx context.Context, serial string) (model.PINState, error) {
	ft := f.token(serial)
	if ft == nil {
		return model.PINState{}, fmt.Errorf("fake: %s: %w", serial, model.ErrTokenRemoved)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return ft.state(), nil
}

func (f *fakeSource) CheckPIN(ctx context.Context, serial string, pin []byte) error {
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

func (f *fakeSource) checks(serial string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[serial].checks
}

// eventually waits until cond holds; the timeout only bounds a failing test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var errFakeModule = errors.New("fake module: CKR_GENERAL_ERROR")

// Test data: two companies, one with a certificate expiring in 20 days.
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func demoTokens() []model.Token {
	return []model.Token{
		{Serial: "9A1B2C3D4E5F6071", Label: "UKey-Demo", Manufacturer: "SoftHSM project", Model: "SoftHSM v2",
			Certs: []model.Cert{{Label: "签名证书", ID: []byte{1}, Holder: "深圳市示例科技有限公司",
				Serial: "3F2A9C", Issuer: "UKey Renew Demo CA",
				NotBefore: t0.AddDate(-1, 0, 0), NotAfter: t0.Add(20*24*time.Hour + time.Hour), KeyType: "ECDSA P-256"}}},
		{Serial: "0000000000000042", Label: "财务部", Manufacturer: "Feitian", Model: "ePass3003",
			Certs: []model.Cert{{Label: "cert", Holder: "北京示例贸易有限公司 / 李四", Serial: "01AB",
				Issuer: "某某CA", NotBefore: t0.AddDate(-2, 0, 0), NotAfter: t0.Add(-3*24*time.Hour - time.Hour), KeyType: "SM2"}}},
	}
}
