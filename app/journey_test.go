package app

import (
	"context"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// The journey's screens lead to each other: signed in, the list loads by
// itself; an approved application's pay button opens the Pay screen with
// its code; the payment brings the list up to date.
func TestJourneyNavigatesFromListToPay(t *testing.T) {
	e := apptest.NewService(t)
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	w := test.NewTempWindow(t, widget.NewLabel(""))
	w.Resize(fyne.NewSize(960, 680))
	acc := e.Account(apptest.MemoryStore(t))
	clk := apptest.NewStepClock(e.Clock.Now())
	j := newJourney(t.Context(), w, journeyDeps{Account: acc, Fmt: model.Formatter{Lang: model.LangZH, Loc: time.UTC}, PayClock: clk})
	tabs := container.NewAppTabs(j.Items()...)
	j.Attach(tabs)
	fyne.DoAndWait(func() { w.SetContent(tabs) })
	if j.Write != nil {
		t.Fatal("a write screen without an installer")
	}

	other := e.SignedIn()
	app := e.ApprovedApp(other)
	_ = j.SignInVM.Mobile.Set(apptest.DemoMobile)
	if err := j.SignInVM.SendCode(t.Context()); err != nil {
		t.Fatal(err)
	}
	_ = j.SignInVM.Code.Set(e.SMSCode(apptest.DemoMobile))
	if err := j.SignInVM.SignInSMS(t.Context()); err != nil {
		t.Fatal(err)
	}
	onUI(t, "the list loads after sign-in", func() bool { _, ok := j.Apps.Buttons[app.ID+"/pay"]; return ok })
	fyne.DoAndWait(func() { j.Apps.Buttons[app.ID+"/pay"].OnTapped() })
	onUI(t, "pay screen selected with a code", func() bool { return tabs.Selected() == j.Item(screenPay) && j.Pay.qr.Image != nil })
	e.Scan(app.ID)
	onUI(t, "list updated after payment", func() bool {
		r, ok := j.AppsVM.Row(app.ID)
		return ok && r.App.Payment == "paid" && apptest.Get[bool](t, j.PayVM.Paid)
	})
}

// A session saved by an earlier run is resumed at start, from a store
// opened in the background.
func TestJourneyStartResumesFromAStoreOpenedLater(t *testing.T) {
	e := apptest.NewService(t)
	test.NewTempApp(t)
	st := apptest.MemoryStore(t)
	first := e.Account(st)
	if _, err := first.Client().SendSMSCode(t.Context(), renewal.SMSCodeRequest{Mobile: apptest.DemoMobile}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Client().LoginSMS(t.Context(), renewal.SMSLoginRequest{Mobile: apptest.DemoMobile, Code: e.SMSCode(apptest.DemoMobile)}); err != nil {
		t.Fatal(err)
	}
	w := test.NewTempWindow(t, widget.NewLabel(""))
	acc := e.Account(nil)
	j := newJourney(t.Context(), w, journeyDeps{Account: acc, Fmt: model.Formatter{Lang: model.LangZH, Loc: time.UTC},
		OpenStore: func(context.Context) (*session.Store, error) { return st, nil }})
	j.Start()
	apptest.Eventually(t, "signed in from the saved session", func() bool { return apptest.Get[bool](t, acc.SignedIn) })
}
