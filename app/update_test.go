package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// fakeUpdater stands for client/update.Updater where msiexec cannot run
// (these tests run on Linux): it offers one release, "downloads" at once
// and counts the installers it would have started. The downloads and
// their checks have their own tests in client/update, against a real
// renewd and signed MSIs.
type fakeUpdater struct {
	mu       sync.Mutex
	offer    *renewal.ClientUpdate
	installs int
}

func newFakeUpdater(required bool) *fakeUpdater {
	return &fakeUpdater{offer: &renewal.ClientUpdate{Available: true, Version: "1.2.4", URL: "https://ca.example/dl/ukeyrenew-1.2.4-x64.msi",
		SHA256: strings.Repeat("0f", 32), Size: 12 << 20, Required: required,
		NotesZH: "修复：拔出 UKey 后证书列表有时不刷新。\n新增：写入前再次核对证书序列号。", NotesEN: "Fix: the list did not refresh."}}
}

func (f *fakeUpdater) Check(context.Context) (*renewal.ClientUpdate, error) { return f.offer, nil }
func (f *fakeUpdater) Download(context.Context, renewal.ClientUpdate, func(int64, int64)) (string, error) {
	return "/tmp/ukeyrenew-1.2.4-windows-x64.msi", nil
}
func (f *fakeUpdater) CanInstall() error { return nil }
func (f *fakeUpdater) Install(string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.installs++
	return nil
}
func (f *fakeUpdater) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.installs }

func bannerShown(u *UI) bool {
	var v bool
	fyne.DoAndWait(func() { v = u.update.box.Visible() })
	return v
}

// An update asked for while a certificate is written waits: the installer
// does not start, the banner says why; after the write it starts, and from
// then on no write may start before the program quits.
func TestUpdateWaitsForTheWrite(t *testing.T) {
	e := apptest.NewService(t)
	inst := &scriptInstaller{writing: make(chan struct{}), gate: make(chan struct{})}
	src := apptest.NewFakeSource()
	src.Insert(apptest.DemoTokens()[0], "123456", 10)
	up := newFakeUpdater(false)
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	u := New(t.Context(), a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), Account: e.Account(apptest.MemoryStore(t)),
		Installer: inst, Updater: up})
	t.Cleanup(u.Win.Close)
	uvm := u.update.vm
	if err := uvm.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, "the banner", func() bool { return bannerShown(u) })

	wvm := u.journey.WriteVM
	if err := wvm.Prepare(t.Context(), src, writableApp("app-a", false)); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- wvm.Run(t.Context()) }()
	<-inst.writing
	if err := uvm.Act(t.Context()); !errors.Is(err, model.ErrWriteRunning) {
		t.Fatalf("install during a write: %v", err)
	}
	if up.count() != 0 {
		t.Fatal("the installer started during a write")
	}
	if s := apptest.Get[string](t, uvm.Status); !strings.Contains(s, "写入完成后") {
		t.Errorf("the banner says %q", s)
	}
	if s := apptest.Get[string](t, uvm.Action); s != "立即安装" {
		t.Errorf("the button says %q once downloaded", s)
	}
	close(inst.gate)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if err := uvm.Act(t.Context()); err != nil || up.count() != 1 {
		t.Fatalf("install after the write: %v, %d installs", err, up.count())
	}
	// The program is closing into the installer: no write starts now.
	if err := wvm.Prepare(t.Context(), src, writableApp("app-b", false)); err != nil {
		t.Fatal(err)
	}
	if err := wvm.Run(t.Context()); !errors.Is(err, model.ErrUpdating) {
		t.Fatalf("a write after the handover: %v", err)
	}
	if m := apptest.Get[string](t, wvm.Message); !strings.Contains(m, "正在安装程序更新") {
		t.Errorf("the write screen says %q", m)
	}
}

// Counter mode offers an update only between customers: hidden and
// refused while one is signed in, offered again after 下一位客户.
func TestCounterUpdateOnlyBetweenCustomers(t *testing.T) {
	e := apptest.NewService(t)
	up := newFakeUpdater(false)
	u, _ := counterUI(t, e, Deps{Counter: true, Updater: up})
	uvm := u.update.vm
	if err := uvm.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	apptest.Eventually(t, "the banner with nobody signed in", func() bool { return bannerShown(u) })
	signInCustomer(t, e, u)
	apptest.Eventually(t, "the banner hidden while a customer is served", func() bool { return !bannerShown(u) })
	if err := uvm.Act(t.Context()); !errors.Is(err, model.ErrCustomerPresent) || up.count() != 0 {
		t.Fatalf("install with a customer signed in: %v, %d installs", err, up.count())
	}
	var done <-chan error
	fyne.DoAndWait(func() {
		var err error
		if done, err = u.nextCustomer(); err != nil {
			t.Error(err)
		}
	})
	<-done
	apptest.Eventually(t, "the banner between customers", func() bool { return bannerShown(u) })
	if err := uvm.Act(t.Context()); err != nil || up.count() != 1 {
		t.Fatalf("install between customers: %v, %d installs", err, up.count())
	}
}

// 稍后 hides an optional update until the next start; a required one
// has no 稍后.
func TestUpdateLaterAndRequired(t *testing.T) {
	src := apptest.NewFakeSource()
	a := test.NewTempApp(t)
	u := New(t.Context(), a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), loc: time.UTC, Updater: newFakeUpdater(false)})
	t.Cleanup(u.Win.Close)
	_ = u.update.vm.Check(t.Context())
	apptest.Eventually(t, "the banner", func() bool { return bannerShown(u) })
	fyne.DoAndWait(func() { test.Tap(u.update.later) })
	apptest.Eventually(t, "hidden by 稍后", func() bool { return !bannerShown(u) })
	_ = u.update.vm.Check(t.Context())
	time.Sleep(20 * time.Millisecond)
	if bannerShown(u) {
		t.Fatal("the next check showed the put-off version again")
	}

	u2 := New(t.Context(), a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), loc: time.UTC, Updater: newFakeUpdater(true)})
	t.Cleanup(u2.Win.Close)
	_ = u2.update.vm.Check(t.Context())
	apptest.Eventually(t, "the required banner", func() bool { return bannerShown(u2) })
	var laterShown bool
	fyne.DoAndWait(func() { laterShown = u2.update.later.Visible() })
	if laterShown {
		t.Error("a required update offers 稍后")
	}
}

// The banner as the clerk sees it, over the Tokens screen.
func TestUpdateBannerGolden(t *testing.T) {
	src := apptest.NewFakeSource()
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	u := New(t.Context(), a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), loc: time.UTC, Updater: newFakeUpdater(false)})
	t.Cleanup(u.Win.Close)
	u.Win.Resize(fyne.NewSize(960, 680))
	if err := u.vm.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = u.update.vm.Check(t.Context())
	assertGolden(t, u.Win, "update_banner.png", "新版本可用 1.2.4", "修复：拔出 UKey", "下载并安装", "稍后")
}
