package app

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
	"github.com/ukeyrenew/ukeyrenew/client/config"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

// firstRunUI is the window of a client with no service configured, run
// (so the first-run dialog opens by itself), saving to a fresh user folder.
func firstRunUI(t *testing.T, deps Deps) (*UI, string) {
	t.Helper()
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	src := apptest.NewFakeSource()
	user := filepath.Join(t.TempDir(), "UKeyRenew", "config.json")
	deps.Tokens, deps.PINs, deps.clock, deps.loc = src, src, fakeclock.New(apptest.T0), time.UTC
	if deps.ServiceProblem == "" {
		deps.FirstRun = NewFirstRun(user)
	}
	ctx, cancel := context.WithCancel(t.Context())
	u := New(ctx, a, deps)
	t.Cleanup(u.Win.Close)
	u.Win.Resize(fyne.NewSize(900, 640))
	done := make(chan struct{})
	go func() { u.Run(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Cleanup(func() { // the dialog's checks and saves, before the next test's app
		if u.firstRun != nil {
			u.firstRun.running.Wait()
		}
	})
	return u, user
}

// overlayText is the text of the window's top overlay (an open dialog).
func overlayText(u *UI) string {
	var s string
	fyne.DoAndWait(func() {
		if o := u.Win.Canvas().Overlays().Top(); o != nil {
			s = strings.Join(texts(o), "|")
		}
	})
	return s
}

// The dialog opens over the window by itself; a refused address is said in
// it, in red, and nothing is written. The image shows the dialog.
func TestFirstRunDialogGolden(t *testing.T) {
	u, user := firstRunUI(t, Deps{})
	onUI(t, "the first-run dialog open", func() bool { return u.firstRun != nil && u.Win.Canvas().Overlays().Top() != nil })
	d := u.firstRun
	// Typed through the binding, out of focus: a focused entry's cursor
	// blinks, and the image would depend on when it is taken.
	onUI(t, "the focus in the address", func() bool { return u.Win.Canvas().Focused() == d.URL })
	fyne.DoAndWait(u.Win.Canvas().Unfocus)
	_ = u.deps.FirstRun.URL.Set("http://renew.example-ca.cn")
	onUI(t, "the address in the entry", func() bool { return d.URL.Text == "http://renew.example-ca.cn" })
	test.Tap(d.Check)
	onUI(t, "the refusal shown, the dialog grown to it", func() bool {
		return strings.HasPrefix(d.msg.Text, "为保护登录信息") && d.body.Size().Height >= d.body.MinSize().Height
	})
	assertGolden(t, u.Win, "firstrun_dialog.png", "设置续期服务",
		"为保护登录信息，续期服务必须使用https://地址（http://只用于本机测试）。请改为：https://renew.example-ca.cn",
		"<稍后设置>|<检查连接>|<保存并开始>")
	if _, err := os.Stat(filepath.Dir(user)); !os.IsNotExist(err) {
		t.Errorf("a refused check wrote something: %v", err)
	}
}

// 稍后设置 closes the dialog and writes nothing; each journey tab then says
// why it is empty and opens the dialog again, keeping what was typed.
func TestFirstRunLater(t *testing.T) {
	u, user := firstRunUI(t, Deps{})
	onUI(t, "the first-run dialog open", func() bool { return u.firstRun != nil && u.Win.Canvas().Overlays().Top() != nil })
	test.Type(u.firstRun.URL, "renew.example-ca.cn")
	test.Tap(u.firstRun.Later)
	onUI(t, "the dialog closed", func() bool { return u.Win.Canvas().Overlays().Top() == nil })
	if _, err := os.Stat(filepath.Dir(user)); !os.IsNotExist(err) {
		t.Errorf("putting it off wrote something: %v", err)
	}
	fyne.DoAndWait(func() { u.nav.SelectIndex(1) })
	assertGolden(t, u.Win, "firstrun_later.png", "尚未设置续期服务", "<设置续期服务…>")
	open := buttonNamed(u.nav.Selected().Content, "设置续期服务…")
	fyne.DoAndWait(open.OnTapped)
	onUI(t, "the dialog open again with the address typed", func() bool {
		return u.Win.Canvas().Overlays().Top() != nil && u.firstRun.URL.Text == "renew.example-ca.cn"
	})
}

// A renewal service saved in the dialog starts the journey at once, and
// the user's config file names it.
func TestFirstRunSaveStartsJourney(t *testing.T) {
	e := apptest.NewService(t)
	u, user := firstRunUI(t, Deps{})
	onUI(t, "the first-run dialog open", func() bool { return u.firstRun != nil && u.Win.Canvas().Overlays().Top() != nil })
	test.Type(u.firstRun.URL, e.URL)
	test.Tap(u.firstRun.Save)
	onUI(t, "the journey started", func() bool {
		return u.journey != nil && slices.Contains(u.nav.Items, u.journey.Item(screenSignIn)) && u.Win.Canvas().Overlays().Top() == nil
	})
	if got := u.account().URL(); got != e.URL {
		t.Errorf("journey at %s, want %s", got, e.URL)
	}
	svc, err := config.Find(config.Inputs{UserFile: user})
	if err != nil || svc.URL != e.URL || svc.From != config.FromUserFile {
		t.Errorf("saved %+v, %v", svc, err)
	}
	onUI(t, "the sign-in screen shown, naming the service", func() bool {
		return u.nav.Selected() == u.journey.Item(screenSignIn) && strings.Contains(strings.Join(texts(u.journey.Item(screenSignIn).Content), "|"), "续期服务："+e.URL)
	})
}

// A configuration that is there but wrong is said on the journey tabs,
// with no dialog: the clerk cannot fix an administrator's file.
func TestFirstRunServiceProblem(t *testing.T) {
	u, _ := firstRunUI(t, Deps{ServiceProblem: "/etc/ukeyrenew/config.json (machine config): unknown field \"servce\""})
	fyne.DoAndWait(func() { u.nav.SelectIndex(1) })
	txt := screenText(u.nav.Selected().Content)
	if !strings.Contains(txt, "续期服务的配置有误") || !strings.Contains(txt, "/etc/ukeyrenew/config.json") || strings.Contains(txt, "<设置续期服务…>") {
		t.Errorf("the tab shows: %s", txt)
	}
	if overlayText(u) != "" || u.firstRun != nil {
		t.Errorf("a dialog opened: %s", overlayText(u))
	}
}
