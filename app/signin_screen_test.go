package app

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

// onUI waits for cond evaluated on the UI goroutine (widgets are read there).
func onUI(t *testing.T, what string, cond func() bool) {
	t.Helper()
	apptest.Eventually(t, what, func() bool {
		ok := false
		fyne.DoAndWait(func() { ok = cond() })
		return ok
	})
}

func screenText(o fyne.CanvasObject) string {
	var s string
	fyne.DoAndWait(func() { s = strings.Join(texts(o), "|") })
	return s
}

func newTestWindow(t *testing.T, o fyne.CanvasObject) fyne.Window {
	t.Helper()
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	w := test.NewTempWindow(t, o)
	w.Resize(fyne.NewSize(900, 640))
	return w
}

func TestSignInScreenSMSThenSignOut(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.Account(apptest.MemoryStore(t))
	clk := fakeclock.New(apptest.Start)
	vm := model.NewSignInVM(acc, clk)
	s := newSignInScreen(t.Context(), vm, acc)
	w := newTestWindow(t, s.Object())

	test.Type(s.Mobile, "13800138000")
	test.Tap(s.Send)
	onUI(t, "code sent and countdown shown", func() bool { return s.Send.Text == "重新发送（60 秒）" && s.Send.Disabled() })
	clk.Advance(15 * time.Second)
	vm.Tick()
	onUI(t, "countdown moves", func() bool { return s.Send.Text == "重新发送（45 秒）" })
	if txt := screenText(s.Object()); !strings.Contains(txt, "验证码已发送到 138****8000") {
		t.Fatalf("no confirmation of the send: %s", txt)
	}
	test.Type(s.Code, e.SMSCode(apptest.DemoMobile))
	test.Tap(s.SignInSMS)
	onUI(t, "signed in", func() bool {
		return s.signedIn.Visible() && !s.signedOut.Visible() && s.kept.Text != ""
	})
	txt := screenText(s.Object())
	for _, want := range []string{"张三", "[仅本次]", "只保存在内存中"} {
		if !strings.Contains(txt, want) {
			t.Errorf("signed-in screen lacks %q: %s", want, txt)
		}
	}
	if strings.Contains(txt, "短信验证码") {
		t.Errorf("the sign-in form stays visible: %s", txt)
	}
	_ = w
	test.Tap(s.Out)
	onUI(t, "signed out", func() bool {
		return !s.signedIn.Visible() && s.signedOut.Visible() && strings.Contains(strings.Join(texts(s.Object()), "|"), "已退出登录")
	})
}
