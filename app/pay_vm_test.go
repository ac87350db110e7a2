package app

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// stepClock is the client's clock in a test: a fakeclock.Clock whose time
// moves only when the test says, with two changes fakeclock lacks for a
// payment watcher that polls. Sleep yields for a moment of real time without
// moving the clock, so the watcher polls while the test decides what time it
// is (fakeclock's Sleep jumps ahead at once). Advance moves time only while a
// watcher sleeps, never in the middle of a request, as a real clock does not
// jump minutes while an answer is on its way.
type stepClock struct {
	*fakeclock.Clock
	mu       sync.Mutex
	sleeping int
}

func newStepClock(t time.Time) *stepClock { return &stepClock{Clock: fakeclock.New(t)} }

func (c *stepClock) Advance(d time.Duration) {
	for i := 0; ; i++ {
		c.mu.Lock()
		if c.sleeping > 0 || i > 5000 {
			c.Clock.Advance(d)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
	}
}

func (c *stepClock) Sleep(ctx context.Context, _ time.Duration) error {
	c.mu.Lock()
	c.sleeping++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.sleeping--
		c.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Millisecond):
		return nil
	}
}

// approvedApp makes an application the clerk can pay (pay after review:
// submitted and approved).
func (e *svcEnv) approvedApp(acc *model.Account) renewal.Application {
	e.t.Helper()
	ctx := e.t.Context()
	form := renewdtest.ValidForm(e.Org, 1)
	a, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.serials["near"], Form: &form})
	if err != nil {
		e.t.Fatal(err)
	}
	if a, err = acc.Client().Submit(ctx, a.ID, renewal.SubmitRequest{Version: a.Version}); err != nil {
		e.t.Fatal(err)
	}
	if a, err = e.staff().Approve(ctx, a.ID, renewal.ReviewRequest{Version: a.Version}); err != nil {
		e.t.Fatal(err)
	}
	return *a
}

// scan pays the application's live code at the simulator, as a phone would.
func (e *svcEnv) scan(id string) {
	e.t.Helper()
	res, err := http.Post(e.URL+"/dev/applications/"+id+"/pay", "application/json", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		e.t.Fatalf("pay at the simulator: %s", res.Status)
	}
}

func TestPayQRCountdownAndPaid(t *testing.T) {
	e := newSvcEnv(t)
	acc := e.signedIn()
	a := e.approvedApp(acc)
	clk := newStepClock(e.Clock.Now())
	vm := model.NewPayVM(acc, clk, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	var paidApp string
	var mu sync.Mutex
	vm.OnPaid = func(id string) { mu.Lock(); paidApp = id; mu.Unlock() }
	done := make(chan error, 1)
	go func() { done <- vm.Start(t.Context(), a.ID) }()
	eventually(t, "qr code shown", func() bool { c, _ := vm.Code.Get(); return c != "" })
	if code := get[string](t, vm.Code); !strings.HasPrefix(code, "weixin://") {
		t.Fatalf("code %q", code)
	}
	if amt := get[string](t, vm.Amount); amt != "¥300.00" {
		t.Fatalf("amount %q", amt)
	}
	vm.Tick()
	if cd := get[string](t, vm.Countdown); cd != "05:00" && cd != "04:59" {
		t.Fatalf("countdown at start %q", cd)
	}
	clk.Advance(100 * time.Second)
	vm.Tick()
	if cd := get[string](t, vm.Countdown); cd != "03:20" && cd != "03:19" {
		t.Fatalf("countdown after 100 s %q", cd)
	}
	if get[bool](t, vm.Expired) {
		t.Fatal("expired after 100 s")
	}
	e.scan(a.ID)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !get[bool](t, vm.Paid) || paidApp != a.ID || !strings.Contains(get[string](t, vm.Message), "支付成功") {
		t.Fatalf("paid %v, moved on for %q, %q", get[bool](t, vm.Paid), paidApp, get[string](t, vm.Message))
	}
}

func TestPayExpiredThenNewCodeThenLatePayment(t *testing.T) {
	e := newSvcEnv(t)
	acc := e.signedIn()
	a := e.approvedApp(acc)
	clk := newStepClock(e.Clock.Now())
	vm := model.NewPayVM(acc, clk, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	done := make(chan error, 1)
	go func() { done <- vm.Start(t.Context(), a.ID) }()
	eventually(t, "qr code shown", func() bool { c, _ := vm.Code.Get(); return c != "" })
	first := get[string](t, vm.Code)

	// The window ends on both clocks: the code greys out, the service closes the order.
	clk.Advance(301 * time.Second)
	vm.Tick()
	if !get[bool](t, vm.Expired) || get[string](t, vm.Countdown) != "00:00" || !strings.Contains(get[string](t, vm.Message), "获取新二维码") {
		t.Fatalf("at zero: expired %v %q %q", get[bool](t, vm.Expired), get[string](t, vm.Countdown), get[string](t, vm.Message))
	}
	e.Clock.Advance(301 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("watch of an expired code: %v", err)
	}
	if get[bool](t, vm.Paid) {
		t.Fatal("an expired code shows as paid")
	}

	// A new code; the clerk's screen runs ahead of the service and greys it
	// out, but the phone paid at the service's last second: it counts.
	go func() { done <- vm.Start(t.Context(), a.ID) }()
	eventually(t, "a new code", func() bool { c, _ := vm.Code.Get(); x, _ := vm.Expired.Get(); return c != first && c != "" && !x })
	clk.Advance(302 * time.Second)
	vm.Tick()
	if !get[bool](t, vm.Expired) {
		t.Fatal("not greyed out at zero")
	}
	e.Clock.Advance(299 * time.Second)
	e.scan(a.ID)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !get[bool](t, vm.Paid) || !strings.Contains(get[string](t, vm.Message), "同样有效") {
		t.Fatalf("late payment: paid %v, %q", get[bool](t, vm.Paid), get[string](t, vm.Message))
	}
	got, err := acc.Client().GetApplication(t.Context(), a.ID)
	if err != nil || got.Payment != renewal.PaymentPaid {
		t.Fatalf("application payment %v %v", got.Payment, err)
	}
}

func TestPayRefusedWhenNotPayable(t *testing.T) {
	e := newSvcEnv(t)
	acc := e.signedIn()
	form := renewdtest.ValidForm(e.Org, 1)
	draft, err := acc.Client().CreateApplication(t.Context(), renewal.CreateApplicationRequest{CertSerial: e.serials["near"], Form: &form})
	if err != nil {
		t.Fatal(err)
	}
	vm := model.NewPayVM(acc, newStepClock(e.Clock.Now()), model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	if err := vm.Start(t.Context(), draft.ID); renewal.CodeOf(err) != renewal.CodeActionNotAllowed || get[string](t, vm.Message) == "" {
		t.Fatalf("pay a draft (pay after review): %v %q", err, get[string](t, vm.Message))
	}
	if get[string](t, vm.Code) != "" {
		t.Fatal("a code is shown for a draft")
	}
}
