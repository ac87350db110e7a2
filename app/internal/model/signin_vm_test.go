package model_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestSignInSMSWithResendCountdown(t *testing.T) {
	e := apptest.NewService(t)
	st := apptest.MemoryStore(t)
	acc := e.Account(st)
	clk := fakeclock.New(apptest.Start)
	vm := model.NewSignInVM(acc, clk)
	ctx := t.Context()

	if got := apptest.Get[string](t, vm.SendLabel); got != "获取验证码" {
		t.Fatalf("send label before any code = %q", got)
	}
	_ = vm.Mobile.Set("1380013800") // one digit short
	if err := vm.SendCode(ctx); !errors.Is(err, model.ErrInvalidInput) {
		t.Fatalf("short mobile: %v", err)
	}
	if apptest.Get[string](t, vm.MobileMsg) == "" {
		t.Fatal("no message next to a short mobile")
	}
	if len(e.SMS.Messages(apptest.DemoMobile)) != 0 {
		t.Fatal("a code was sent for a refused mobile")
	}
	_ = vm.Mobile.Set("138 0013 8000")
	if err := vm.SendCode(ctx); err != nil {
		t.Fatal(err)
	}
	if got := apptest.Get[string](t, vm.SendLabel); got != "重新发送（60 秒）" {
		t.Fatalf("label after send = %q", got)
	}
	if apptest.Get[bool](t, vm.CanSend) {
		t.Fatal("can send again at once")
	}
	if err := vm.SendCode(ctx); !errors.Is(err, model.ErrResendTooSoon) {
		t.Fatalf("second send at once: %v", err)
	}
	clk.Advance(59*time.Second + 500*time.Millisecond)
	vm.Tick()
	if got := apptest.Get[string](t, vm.SendLabel); got != "重新发送（1 秒）" {
		t.Fatalf("label 59.5 s later = %q", got)
	}
	clk.Advance(time.Second)
	vm.Tick()
	if got := apptest.Get[string](t, vm.SendLabel); got != "重新发送验证码" || !apptest.Get[bool](t, vm.CanSend) {
		t.Fatalf("label after 60 s = %q", got)
	}

	// A wrong code is refused with the service's words; the right one signs in.
	_ = vm.Code.Set("12")
	if err := vm.SignInSMS(ctx); !errors.Is(err, model.ErrInvalidInput) || apptest.Get[string](t, vm.CodeMsg) == "" {
		t.Fatalf("short code: %v, msg %q", err, apptest.Get[string](t, vm.CodeMsg))
	}
	code := e.SMSCode(apptest.DemoMobile)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	_ = vm.Code.Set(wrong)
	if err := vm.SignInSMS(ctx); renewal.CodeOf(err) != renewal.CodeSMSCodeWrong {
		t.Fatalf("wrong code: %v", err)
	}
	// Beside the code, not at the foot of the screen.
	if msg := apptest.Get[string](t, vm.CodeMsg); !strings.Contains(msg, "验证码错误") || apptest.Get[string](t, vm.Message) != "" {
		t.Fatalf("wrong code message %q, screen message %q", msg, apptest.Get[string](t, vm.Message))
	}
	_ = vm.Code.Set(code)
	if err := vm.SignInSMS(ctx); err != nil {
		t.Fatal(err)
	}
	if !apptest.Get[bool](t, acc.SignedIn) || !strings.Contains(apptest.Get[string](t, acc.Who), "张三") {
		t.Fatalf("signed in %v as %q", apptest.Get[bool](t, acc.SignedIn), apptest.Get[string](t, acc.Who))
	}
	if kept := apptest.Get[string](t, acc.Kept); !strings.Contains(kept, "内存") || model.Level(apptest.Get[int](t, acc.KeptLevel)) != model.LevelWarning {
		t.Fatalf("memory-only session not said: %q", kept)
	}
	rec, err := st.Load(ctx)
	if err != nil || rec.ServiceURL != e.URL || rec.RefreshToken == "" {
		t.Fatalf("session not saved: %+v %v", rec, err)
	}

	// Sign-out ends it at the service and here.
	if err := vm.SignOut(ctx); err != nil {
		t.Fatal(err)
	}
	if apptest.Get[bool](t, acc.SignedIn) {
		t.Fatal("still signed in after sign-out")
	}
	if _, err := st.Load(ctx); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("session kept after sign-out: %v", err)
	}
	if _, err := acc.Client().Me(ctx); err == nil {
		t.Fatal("the client still works after sign-out")
	}
}

func TestSignInResumesSavedSession(t *testing.T) {
	e := apptest.NewService(t)
	st := apptest.MemoryStore(t)
	acc := e.Account(st)
	ctx := t.Context()
	if err := acc.Resume(ctx); !errors.Is(err, model.ErrNoSavedSession) {
		t.Fatalf("resume with nothing saved: %v", err)
	}
	vm := model.NewSignInVM(acc, fakeclock.New(apptest.Start))
	_ = vm.Mobile.Set(apptest.DemoMobile)
	if err := vm.SendCode(ctx); err != nil {
		t.Fatal(err)
	}
	_ = vm.Code.Set(e.SMSCode(apptest.DemoMobile))
	if err := vm.SignInSMS(ctx); err != nil {
		t.Fatal(err)
	}
	// A second window of the same program (same store) resumes.
	again := e.Account(st)
	if err := again.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	me, err := again.Client().Me(ctx)
	if err != nil || me.Mobile == "" {
		t.Fatalf("resumed session: %+v %v", me, err)
	}
	// Another service's session is not used there.
	other, err := model.NewAccount("http://127.0.0.1:1", st)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Resume(ctx); !errors.Is(err, model.ErrNoSavedSession) {
		t.Fatalf("resume for another service: %v", err)
	}
}

func TestSignInPassword(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.Account(nil)
	vm := model.NewSignInVM(acc, nil)
	ctx := t.Context()
	for _, tc := range []struct{ acct, pw string }{{"", "x"}, {apptest.ReviewerAccount, ""}, {apptest.ReviewerAccount, strings.Repeat("p", model.MaxPasswordLen+1)}} {
		_ = vm.AccountName.Set(tc.acct)
		if err := vm.SignInPassword(ctx, tc.pw); !errors.Is(err, model.ErrInvalidInput) || apptest.Get[string](t, vm.Message) == "" {
			t.Errorf("account %q password of %d bytes: %v, %q", tc.acct, len(tc.pw), err, apptest.Get[string](t, vm.Message))
		}
	}
	_ = vm.AccountName.Set(apptest.ReviewerAccount)
	if err := vm.SignInPassword(ctx, "wrong password"); renewal.CodeOf(err) != renewal.CodeBadCredentials {
		t.Fatalf("wrong password: %v", err)
	}
	if err := vm.SignInPassword(ctx, apptest.ReviewerPassword); err != nil {
		t.Fatal(err)
	}
	if kept := apptest.Get[string](t, acc.Kept); !strings.Contains(kept, "内存") {
		t.Fatalf("no store: kept = %q", kept)
	}
}

func TestSignInServiceDownSaysSo(t *testing.T) {
	e := apptest.NewService(t)
	url := e.URL
	acc, err := model.NewAccount(url, nil, client.WithRetry(0, time.Millisecond, time.Millisecond), client.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// The service goes away (its listener closes) before the clerk asks for a code.
	e.Down()
	vm := model.NewSignInVM(acc, fakeclock.New(apptest.Start))
	_ = vm.Mobile.Set(apptest.DemoMobile)
	if err := vm.SendCode(t.Context()); err == nil {
		t.Fatal("a code was sent by a service that is down")
	}
	if msg := apptest.Get[string](t, vm.Message); !strings.Contains(msg, "无法连接续期服务") {
		t.Fatalf("message %q", msg)
	}
	if !apptest.Get[bool](t, vm.CanSend) {
		t.Fatal("the send button stays locked after a failed send")
	}
	if _, err := model.NewAccount("ftp://example.cn", nil); err == nil {
		t.Fatal("an ftp service url accepted")
	}
}

// A refusal by a limit says when to try again: seconds for the password
// limit, hours and minutes for the daily SMS cap, also on the send button.
func TestSignInLimitsSayWhen(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.Account(apptest.MemoryStore(t))
	clk := fakeclock.New(apptest.Start)
	vm := model.NewSignInVM(acc, clk)
	ctx := t.Context()

	_ = vm.AccountName.Set("admin")
	for range 10 {
		if err := vm.SignInPassword(ctx, "guess"); renewal.CodeOf(err) != renewal.CodeBadCredentials {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if err := vm.SignInPassword(ctx, "guess"); renewal.CodeOf(err) != renewal.CodeRateLimited {
		t.Fatalf("past the limit: %v", err)
	}
	if msg := apptest.Get[string](t, vm.Message); msg != "操作过于频繁，请 12 秒后再试。" {
		t.Fatalf("password limit message %q", msg)
	}

	// Ten codes a day to one number from one place (the service's clock
	// is at 12:00 in Beijing): the eleventh waits until midnight.
	_ = vm.Mobile.Set(apptest.DemoMobile)
	for i := range 10 {
		if err := vm.SendCode(ctx); err != nil {
			t.Fatalf("code %d: %v", i+1, err)
		}
		e.Clock.Advance(61 * time.Second)
		clk.Advance(61 * time.Second)
	}
	if err := vm.SendCode(ctx); renewal.CodeOf(err) != renewal.CodeSMSDailyLimit {
		t.Fatalf("eleventh code: %v", err)
	}
	// 12:10:10 now: 11 h 49 min 50 s to midnight, said in minutes rounded
	// up, beside the mobile the cap is of.
	if msg := apptest.Get[string](t, vm.MobileMsg); msg != "此手机号今天获取验证码的次数已达上限，请 11 小时 50 分钟后再获取。" || apptest.Get[string](t, vm.Message) != "" {
		t.Fatalf("daily cap message %q, screen message %q", msg, apptest.Get[string](t, vm.Message))
	}
	if got := apptest.Get[string](t, vm.SendLabel); got != "重新发送（11 小时 50 分钟后）" || apptest.Get[bool](t, vm.CanSend) {
		t.Fatalf("send label at the daily cap %q", got)
	}
}
