package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// scriptInstaller is a fake Installer (PKCS#11 needs cgo, these tests run
// without): Install blocks on gate when set, else returns installErr;
// Finish returns finish. It counts the installs.
type scriptInstaller struct {
	mu         sync.Mutex
	installs   int
	writing    chan struct{} // closed when an install starts (if set)
	gate       chan struct{} // an install waits for it (if set)
	installErr error
	finish     model.FinishOutcome
}

func (s *scriptInstaller) Login(_ context.Context, _ string, pin []byte) error {
	clear(pin)
	return nil
}
func (s *scriptInstaller) Install(ctx context.Context, _ *client.Client, _ *renewal.Application, progress func(model.WriteStep)) error {
	s.mu.Lock()
	s.installs++
	s.mu.Unlock()
	progress(model.WriteWrite)
	if s.writing != nil {
		close(s.writing)
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.installErr
}
func (s *scriptInstaller) Finish(context.Context) (model.FinishOutcome, error) { return s.finish, nil }
func (s *scriptInstaller) Unfinished(context.Context) ([]string, error)        { return nil, nil }
func (s *scriptInstaller) Close()                                              {}
func (s *scriptInstaller) count() int                                          { s.mu.Lock(); defer s.mu.Unlock(); return s.installs }

// writableApp is an application ready to write for the demo token's certificate.
func writableApp(id string, rekey bool) renewal.Application {
	cert := apptest.DemoTokens()[0].Certs[0]
	a := renewal.Application{ID: id, State: renewal.State{Status: renewal.StatusReadyToDownload},
		CertSerial: renewal.NormalizeSerial(cert.Serial)}
	a.Rekey = rekey
	return a
}

// While one certificate is being written, preparing another application is
// refused (it would take over the screen that reports the running write),
// the Tokens screen's PIN check is refused (it would share and then log out
// the write's login), and 修复 is refused (its login would take the write's
// session).
func TestWriteRunningRefusesWhatWouldDisturbIt(t *testing.T) {
	e := apptest.NewService(t)
	inst := &scriptInstaller{writing: make(chan struct{}), gate: make(chan struct{})}
	src := apptest.NewFakeSource()
	src.Insert(apptest.DemoTokens()[0], "123456", 10)
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	u := New(t.Context(), a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), Account: e.Account(apptest.MemoryStore(t)), Installer: inst})
	t.Cleanup(u.Win.Close)
	vm := u.journey.WriteVM
	if err := vm.Prepare(t.Context(), src, writableApp("app-a", false)); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- vm.Run(t.Context()) }()
	<-inst.writing

	if err := vm.Prepare(t.Context(), src, writableApp("app-b", false)); !errors.Is(err, model.ErrWriteRunning) {
		t.Fatalf("prepare during a write: %v", err)
	}
	if got, _ := vm.Target(); got == nil || got.ID != "app-a" {
		t.Fatalf("the running write's target became %+v", got)
	}
	if m := apptest.Get[string](t, vm.Message); !strings.Contains(m, "正在写入另一份申请的证书") {
		t.Errorf("prepare during a write said %q", m)
	}
	fyne.DoAndWait(func() { u.showPIN(apptest.DemoTokens()[0].Serial) })
	if u.pin != nil || u.Win.Canvas().Overlays().Top() == nil {
		t.Error("the PIN check opened during a write, or nothing said why not")
	}
	fyne.DoAndWait(func() {
		u.Win.Canvas().Overlays().Top().Hide()
		u.journey.Repair(apptest.DemoTokens()[0].Serial)
	})
	if u.Win.Canvas().Overlays().Top() != nil || !strings.Contains(apptest.Get[string](t, vm.Message), "写入完成后再修复") {
		t.Errorf("修复 during a write: overlay %v, message %q", u.Win.Canvas().Overlays().Top(), apptest.Get[string](t, vm.Message))
	}
	close(inst.gate)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if err := vm.Prepare(t.Context(), src, writableApp("app-b", false)); err != nil {
		t.Fatalf("prepare after the write: %v", err)
	}
}

// Finishing an interrupted write goes on into the prepared write only once
// the clerk agreed to a re-key; the reason a write was not confirmed to
// the service is said (here: the service's address).
func TestWriteFinishWaitsForRekeyConsentAndNotConfirmedSaysWhy(t *testing.T) {
	e := apptest.NewService(t)
	inst := &scriptInstaller{finish: model.FinishRolledBack}
	src := apptest.NewFakeSource()
	src.Insert(apptest.DemoTokens()[0], "123456", 10)
	vm := model.NewWriteVM(e.Account(apptest.MemoryStore(t)), inst, src)
	serial := apptest.DemoTokens()[0].Serial
	if err := vm.Prepare(t.Context(), src, writableApp("app-r", true)); err != nil {
		t.Fatal(err)
	}
	if err := vm.FinishPINVM(serial).Submit(t.Context(), []byte("123456")); err != nil {
		t.Fatal(err)
	}
	if err := vm.Finish(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := inst.count(); n != 0 {
		t.Fatalf("finish went on into a re-key nobody agreed to (%d installs)", n)
	}
	if m := apptest.Get[string](t, vm.Message); m != model.FinishText(model.FinishRolledBack) {
		t.Errorf("finish said %q", m)
	}
	vm.ConfirmRekey()
	if err := vm.FinishPINVM(serial).Submit(t.Context(), []byte("123456")); err != nil {
		t.Fatal(err)
	}
	if err := vm.Finish(t.Context()); err != nil || inst.count() != 1 {
		t.Fatalf("finish after consent: %v, %d installs", err, inst.count())
	}

	inst.installErr = fmt.Errorf("%w: %w", model.ErrNotConfirmed,
		&url.Error{Op: "Post", URL: "http://127.0.0.1:9/v1/applications/app-n/installed", Err: errors.New("connection refused")})
	if err := vm.Prepare(t.Context(), src, writableApp("app-n", false)); err != nil {
		t.Fatal(err)
	}
	_ = vm.Run(t.Context())
	if m := apptest.Get[string](t, vm.Message); !strings.Contains(m, "127.0.0.1:9") || strings.Contains(m, "（）") {
		t.Errorf("not confirmed said %q: want the reason", m)
	}
}
