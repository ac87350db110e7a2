package model_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestPayQRCountdownAndPaid(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	a := e.ApprovedApp(acc)
	clk := apptest.NewStepClock(e.Clock.Now())
	vm := model.NewPayVM(acc, clk, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	var paidApp string
	var mu sync.Mutex
	vm.OnPaid = func(id string) { mu.Lock(); paidApp = id; mu.Unlock() }
	done := make(chan error, 1)
	go func() { done <- vm.Start(t.Context(), a.ID) }()
	apptest.Eventually(t, "qr code shown", func() bool { c, _ := vm.Code.Get(); return c != "" })
	if code := apptest.Get[string](t, vm.Code); !strings.HasPrefix(code, "weixin://") {
		t.Fatalf("code %q", code)
	}
	if amt := apptest.Get[string](t, vm.Amount); amt != "¥300.00" {
		t.Fatalf("amount %q", amt)
	}
	vm.Tick()
	if cd := apptest.Get[string](t, vm.Countdown); cd != "05:00" && cd != "04:59" {
		t.Fatalf("countdown at start %q", cd)
	}
	clk.Advance(100 * time.Second)
	vm.Tick()
	if cd := apptest.Get[string](t, vm.Countdown); cd != "03:20" && cd != "03:19" {
		t.Fatalf("countdown after 100 s %q", cd)
	}
	if apptest.Get[bool](t, vm.Expired) {
		t.Fatal("expired after 100 s")
	}
	e.Scan(a.ID)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !apptest.Get[bool](t, vm.Paid) || paidApp != a.ID || !strings.Contains(apptest.Get[string](t, vm.Message), "支付成功") {
		t.Fatalf("paid %v, moved on for %q, %q", apptest.Get[bool](t, vm.Paid), paidApp, apptest.Get[string](t, vm.Message))
	}
}

func TestPayExpiredThenNewCodeThenLatePayment(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	a := e.ApprovedApp(acc)
	clk := apptest.NewStepClock(e.Clock.Now())
	vm := model.NewPayVM(acc, clk, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	done := make(chan error, 1)
	go func() { done <- vm.Start(t.Context(), a.ID) }()
	apptest.Eventually(t, "qr code shown", func() bool { c, _ := vm.Code.Get(); return c != "" })
	first := apptest.Get[string](t, vm.Code)

	// The window ends on both clocks: the code greys out, the service closes the order.
	clk.Advance(301 * time.Second)
	vm.Tick()
	if !apptest.Get[bool](t, vm.Expired) || apptest.Get[string](t, vm.Countdown) != "00:00" || !strings.Contains(apptest.Get[string](t, vm.Message), "获取新二维码") {
		t.Fatalf("at zero: expired %v %q %q", apptest.Get[bool](t, vm.Expired), apptest.Get[string](t, vm.Countdown), apptest.Get[string](t, vm.Message))
	}
	e.Clock.Advance(301 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("watch of an expired code: %v", err)
	}
	if apptest.Get[bool](t, vm.Paid) {
		t.Fatal("an expired code shows as paid")
	}

	// A new code; the clerk's screen runs ahead of the service and greys it
	// out, but the phone paid at the service's last second: it counts.
	go func() { done <- vm.Start(t.Context(), a.ID) }()
	apptest.Eventually(t, "a new code", func() bool { c, _ := vm.Code.Get(); x, _ := vm.Expired.Get(); return c != first && c != "" && !x })
	clk.Advance(302 * time.Second)
	vm.Tick()
	if !apptest.Get[bool](t, vm.Expired) {
		t.Fatal("not greyed out at zero")
	}
	e.Clock.Advance(299 * time.Second)
	e.Scan(a.ID)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !apptest.Get[bool](t, vm.Paid) || !strings.Contains(apptest.Get[string](t, vm.Message), "同样有效") {
		t.Fatalf("late payment: paid %v, %q", apptest.Get[bool](t, vm.Paid), apptest.Get[string](t, vm.Message))
	}
	got, err := acc.Client().GetApplication(t.Context(), a.ID)
	if err != nil || got.Payment != renewal.PaymentPaid {
		t.Fatalf("application payment %v %v", got.Payment, err)
	}
}

func TestPayRefusedWhenNotPayable(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	form := renewdtest.ValidForm(e.Org, 1)
	draft, err := acc.Client().CreateApplication(t.Context(), renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	vm := model.NewPayVM(acc, apptest.NewStepClock(e.Clock.Now()), model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	if err := vm.Start(t.Context(), draft.ID); renewal.CodeOf(err) != renewal.CodeActionNotAllowed || apptest.Get[string](t, vm.Message) == "" {
		t.Fatalf("pay a draft (pay after review): %v %q", err, apptest.Get[string](t, vm.Message))
	}
	if apptest.Get[string](t, vm.Code) != "" {
		t.Fatal("a code is shown for a draft")
	}
}
