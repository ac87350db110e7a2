package model_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/update"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// updateService is a real renewd announcing, for platform, a release of
// pkg (served under /dl/pkg by its gateway), its hash from announced.
func updateService(t *testing.T, platform renewal.ClientPlatform, pkg, announced []byte) *renewdtest.Renewd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sum := sha256.Sum256(announced)
	return renewdtest.New(t, renewdtest.Options{
		Config: func(c *server.Config) {
			if pkg == nil {
				return
			}
			c.ClientReleases = map[renewal.ClientPlatform]renewal.ClientRelease{platform: {Version: "1.2.4", URL: base + "/dl/pkg",
				SHA256: hex.EncodeToString(sum[:]), Size: int64(len(announced)), NotesZH: "修复：拔出 UKey 后列表不刷新。", NotesEN: "Fix: list refresh."}}
		},
		Listener: func(l net.Listener) net.Listener { l.Close(); return ln },
		Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/dl/pkg" {
					_, _ = w.Write(pkg)
					return
				}
				h.ServeHTTP(w, r)
			})
		},
	})
}

func realUpdater(t *testing.T, base string, platform renewal.ClientPlatform) *update.Updater {
	t.Helper()
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	u, err := update.New(update.Config{Client: c, Platform: platform, Current: renewal.Version{Major: 1, Minor: 2, Patch: 3}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func noHold() (func(), error) { return func() {}, nil }

// The banner over the real checker and a real renewd: a .deb is
// downloaded, checked and left to apt; a wrong one is refused; an
// unsigned Windows build opens the download page; no release, no banner.
func TestUpdateVMWithRenewd(t *testing.T) {
	apptest.TokensVM(t, apptest.NewFakeSource()) // a temporary app for the bindings
	deb := make([]byte, 64<<10)
	_, _ = rand.Read(deb)

	s := updateService(t, renewal.PlatformLinuxDeb, deb, deb)
	vm := model.NewUpdateVM(realUpdater(t, s.URL, renewal.PlatformLinuxDeb), noHold, nil, nil)
	if err := vm.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !apptest.Get[bool](t, vm.Shown) || apptest.Get[string](t, vm.Title) != "新版本可用 1.2.4" ||
		apptest.Get[string](t, vm.Notes) != "修复：拔出 UKey 后列表不刷新。" || apptest.Get[string](t, vm.Action) != "下载" {
		t.Fatalf("banner: %v %q %q %q", apptest.Get[bool](t, vm.Shown), apptest.Get[string](t, vm.Title), apptest.Get[string](t, vm.Notes), apptest.Get[string](t, vm.Action))
	}
	if err := vm.Act(t.Context()); !errors.Is(err, update.ErrManualInstall) {
		t.Fatalf("deb: %v", err)
	}
	st := apptest.Get[string](t, vm.Status)
	i := strings.Index(st, "sudo apt install ")
	if i < 0 {
		t.Fatalf("the banner says %q", st)
	}
	if got, err := os.ReadFile(strings.TrimPrefix(st[i:], "sudo apt install ")); err != nil || string(got) != string(deb) {
		t.Fatalf("the downloaded package: %v", err)
	}

	bad := updateService(t, renewal.PlatformLinuxDeb, deb, append([]byte{1}, deb[1:]...))
	vm = model.NewUpdateVM(realUpdater(t, bad.URL, renewal.PlatformLinuxDeb), noHold, nil, nil)
	_ = vm.Check(t.Context())
	if err := vm.Act(t.Context()); !errors.Is(err, update.ErrHashMismatch) || !strings.Contains(apptest.Get[string](t, vm.Status), "校验值不符") {
		t.Fatalf("wrong hash: %v, %q", err, apptest.Get[string](t, vm.Status))
	}

	win := updateService(t, renewal.PlatformWindowsX64, deb, deb)
	var opened *url.URL
	vm = model.NewUpdateVM(realUpdater(t, win.URL, renewal.PlatformWindowsX64), noHold, nil, func(u *url.URL) error { opened = u; return nil })
	_ = vm.Check(t.Context())
	if a := apptest.Get[string](t, vm.Action); a != "打开下载页" {
		t.Fatalf("unsigned build's button: %q", a)
	}
	if err := vm.Act(t.Context()); !errors.Is(err, update.ErrProgramUnsigned) || opened == nil || opened.Path != "/dl/pkg" ||
		!strings.Contains(apptest.Get[string](t, vm.Status), "未签名") {
		t.Fatalf("unsigned build: %v, opened %v, %q", err, opened, apptest.Get[string](t, vm.Status))
	}

	none := updateService(t, renewal.PlatformLinuxDeb, nil, nil)
	vm = model.NewUpdateVM(realUpdater(t, none.URL, renewal.PlatformLinuxDeb), noHold, nil, nil)
	if err := vm.Check(t.Context()); err != nil || apptest.Get[bool](t, vm.Shown) || vm.Offer() != nil {
		t.Fatalf("no release: %v, shown %v", err, apptest.Get[bool](t, vm.Shown))
	}
}
