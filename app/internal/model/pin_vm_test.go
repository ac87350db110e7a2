package model_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
)

func newPINVM(t *testing.T, src *apptest.FakeSource, serial string) *model.PINVM {
	t.Helper()
	apptest.TokensVM(t, src) // a temporary app for the bindings
	return model.NewPINVM(src, serial, nil)
}

func TestPINVMWrongPINsThenLocked(t *testing.T) {
	src := apptest.NewFakeSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "12345678", 3)
	vm := newPINVM(t, src, tok.Serial)
	ctx := context.Background()
	if err := vm.LoadState(ctx); err != nil {
		t.Fatal(err)
	}
	if apptest.Get[string](t, vm.Note) != "" {
		t.Errorf("fresh token shows note %q", apptest.Get[string](t, vm.Note))
	}
	steps := []struct {
		pin   string
		err   error
		note  string
		level model.Level
	}{
		{"1111", model.ErrPINIncorrect, "之前输错过口令，剩余尝试次数不多。", model.LevelWarning},
		{"2222", model.ErrPINIncorrect, "只剩最后一次机会：再输错一次，UKey 将被锁定。", model.LevelError},
		{"3333", model.ErrPINIncorrect, "口令已锁定：请联系发证机构解锁，不要再尝试。", model.LevelError},
	}
	for i, st := range steps {
		pin := []byte(st.pin)
		err := vm.Submit(ctx, pin)
		if !errors.Is(err, st.err) {
			t.Fatalf("try %d: error %v, want %v", i+1, err, st.err)
		}
		if !bytes.Equal(pin, make([]byte, len(pin))) {
			t.Errorf("try %d: PIN bytes not wiped: %q", i+1, pin)
		}
		if m := apptest.Get[string](t, vm.Message); !strings.Contains(m, "口令不正确") || !apptest.Get[bool](t, vm.Failed) {
			t.Errorf("try %d: message %q, failed %v", i+1, m, apptest.Get[bool](t, vm.Failed))
		}
		if n, l := apptest.Get[string](t, vm.Note), model.Level(apptest.Get[int](t, vm.NoteLevel)); n != st.note || l != st.level {
			t.Errorf("try %d: note %q level %d, want %q level %d", i+1, n, l, st.note, st.level)
		}
		if src.Checks(tok.Serial) != i+1 {
			t.Errorf("try %d: the token received %d PINs; each Submit must send exactly one", i+1, src.Checks(tok.Serial))
		}
	}
	if !apptest.Get[bool](t, vm.Locked) || apptest.Get[bool](t, vm.Done) {
		t.Fatal("after the last try the view-model should be locked and not done")
	}
	// Locked: even the right PIN is not sent any more.
	if err := vm.Submit(ctx, []byte("12345678")); !errors.Is(err, model.ErrLocked) {
		t.Errorf("Submit on a locked token: %v, want ErrLocked", err)
	}
	if src.Checks(tok.Serial) != 3 {
		t.Errorf("a PIN was sent to a locked token")
	}
}

func TestPINVMGoodPINAfterOneWrong(t *testing.T) {
	src := apptest.NewFakeSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "12345678", 10)
	vm := newPINVM(t, src, tok.Serial)
	ctx := context.Background()
	if err := vm.Submit(ctx, []byte("1234567")); !errors.Is(err, model.ErrPINIncorrect) {
		t.Fatal(err)
	}
	if apptest.Get[bool](t, vm.Done) {
		t.Fatal("done after a wrong PIN")
	}
	if err := vm.Submit(ctx, []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	if !apptest.Get[bool](t, vm.Done) || apptest.Get[string](t, vm.Message) != "口令正确。" || apptest.Get[string](t, vm.Note) != "" || apptest.Get[bool](t, vm.Failed) {
		t.Errorf("after a good PIN: done %v, message %q, note %q", apptest.Get[bool](t, vm.Done), apptest.Get[string](t, vm.Message), apptest.Get[string](t, vm.Note))
	}
}

func TestPINVMRefusesBadInputWithoutSending(t *testing.T) {
	src := apptest.NewFakeSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "12345678", 10)
	vm := newPINVM(t, src, tok.Serial)
	long := []byte(strings.Repeat("口", model.MaxPINLen+1))
	for _, tt := range []struct {
		pin  []byte
		err  error
		want string
	}{
		{nil, model.ErrPINEmpty, "请输入口令。"},
		{[]byte{}, model.ErrPINEmpty, "请输入口令。"},
		{long, model.ErrPINTooLong, "口令不能超过 64 个字符。"},
	} {
		err := vm.Submit(context.Background(), tt.pin)
		if !errors.Is(err, tt.err) || apptest.Get[string](t, vm.Message) != tt.want {
			t.Errorf("Submit(%d bytes) = %v, message %q; want %v, %q", len(tt.pin), err, apptest.Get[string](t, vm.Message), tt.err, tt.want)
		}
	}
	if !bytes.Equal(long, make([]byte, len(long))) {
		t.Error("a refused PIN was not wiped")
	}
	// Exactly MaxPINLen characters is accepted (and wrong).
	if err := vm.Submit(context.Background(), []byte(strings.Repeat("口", model.MaxPINLen))); !errors.Is(err, model.ErrPINIncorrect) {
		t.Errorf("a %d-character PIN: %v", model.MaxPINLen, err)
	}
	if src.Checks(tok.Serial) != 1 {
		t.Errorf("the token received %d PINs, want 1", src.Checks(tok.Serial))
	}
}

func TestPINVMRemovedToken(t *testing.T) {
	src := apptest.NewFakeSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "12345678", 10)
	vm := newPINVM(t, src, tok.Serial)
	src.Remove(tok.Serial)
	if err := vm.Submit(context.Background(), []byte("12345678")); !errors.Is(err, model.ErrTokenRemoved) {
		t.Fatalf("error %v, want ErrTokenRemoved", err)
	}
	if m := apptest.Get[string](t, vm.Message); !strings.Contains(m, "已拔出") {
		t.Errorf("message %q", m)
	}
	if err := vm.LoadState(context.Background()); !errors.Is(err, model.ErrTokenRemoved) {
		t.Errorf("LoadState: %v", err)
	}
}

// TestPINVMOneAtATime checks that a second Submit while the first is with the
// token is refused, and that the action's PIN is wiped even when the action
// does not wipe it itself.
func TestPINVMOneAtATime(t *testing.T) {
	src := apptest.NewFakeSource()
	apptest.TokensVM(t, src)
	release := make(chan struct{})
	started := make(chan struct{})
	var seen []byte
	var calls int
	vm := model.NewPINVM(src, "X", func(ctx context.Context, pin []byte) error {
		calls++
		seen = pin // a careless action that keeps the slice
		close(started)
		<-release
		return nil
	})
	pin := []byte("12345678")
	var wg sync.WaitGroup
	wg.Add(1)
	var first error
	go func() { defer wg.Done(); first = vm.Submit(context.Background(), pin) }()
	<-started
	if !apptest.Get[bool](t, vm.Busy) {
		t.Error("not busy while the token works")
	}
	if err := vm.Submit(context.Background(), []byte("12345678")); !errors.Is(err, model.ErrBusy) {
		t.Errorf("second Submit: %v, want ErrBusy", err)
	}
	close(release)
	wg.Wait()
	if first != nil || calls != 1 || apptest.Get[bool](t, vm.Busy) {
		t.Errorf("first Submit %v, calls %d, busy %v", first, calls, apptest.Get[bool](t, vm.Busy))
	}
	if !bytes.Equal(seen, make([]byte, 8)) {
		t.Errorf("the PIN the action kept was not wiped: %q", seen)
	}
}
