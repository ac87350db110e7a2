package app

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
)

// buttonNamed finds the first visible button under o with text.
func buttonNamed(o fyne.CanvasObject, text string) *widget.Button {
	var found *widget.Button
	walkVisible(o, func(o fyne.CanvasObject) bool {
		if b, ok := o.(*widget.Button); ok && found == nil && b.Text == text {
			found = b
		}
		return found != nil
	})
	return found
}

// The Tokens screen's 续期 opens the renew form with that certificate
// chosen; its 修复 opens the Write screen's PIN dialog for that token.
// Without a renewal service neither button is offered.
func TestTokensScreenRenewAndRepairLeadIntoTheJourney(t *testing.T) {
	e := apptest.NewService(t)
	src := apptest.NewFakeDetailSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "1", 3)
	src.KeyPairs[tok.Serial] = []bool{true}
	src.Damaged[tok.Serial] = []model.DamagedObject{{Reason: "CKR_ATTRIBUTE_VALUE_INVALID", Repairable: true}}

	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	acc := e.Account(apptest.MemoryStore(t))
	u := New(t.Context(), a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), loc: time.UTC,
		Account: acc, Installer: &gateInstaller{}})
	t.Cleanup(u.Win.Close)
	if err := u.vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	var renew, repair *widget.Button
	onUI(t, "续期 and 修复 on the card", func() bool {
		renew, repair = buttonNamed(u.tokens.Object(), "续期"), buttonNamed(u.tokens.Object(), "修复")
		return renew != nil && repair != nil
	})
	fyne.DoAndWait(renew.OnTapped)
	onUI(t, "the renew form with the certificate chosen", func() bool {
		return u.nav.Selected() == u.journey.Item(screenRenew) && strings.Contains(u.journey.Renew.Pick.Selected, tok.Certs[0].Serial)
	})
	fyne.DoAndWait(repair.OnTapped)
	onUI(t, "the Write screen asks for the PIN", func() bool {
		return u.nav.Selected() == u.journey.Item(screenWrite) && u.Win.Canvas().Overlays().Top() != nil
	})

	bare := newUIWith(t, src, src) // no renewal service
	if err := bare.vm.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	onUI(t, "the card listed", func() bool { return slices.Contains(texts(bare.tokens.Object()), tok.Certs[0].Holder) })
	fyne.DoAndWait(func() {
		if buttonNamed(bare.tokens.Object(), "续期") != nil || buttonNamed(bare.tokens.Object(), "修复") != nil {
			t.Error("续期 or 修复 offered without a renewal service")
		}
	})
}

// tabNames are the navigation's tab labels.
func tabNames(u *UI) (names []string) {
	fyne.DoAndWait(func() {
		for _, it := range u.nav.Items {
			names = append(names, it.Text)
		}
	})
	return names
}

// With DeferJourney the window first shows the journey's tabs empty; Run
// builds the screens under the same tabs, keeps a tab chosen meanwhile, and
// the 续期 button then works as usual.
func TestDeferredJourneyIsBuiltByRunUnderTheSameTabs(t *testing.T) {
	e := apptest.NewService(t)
	src := apptest.NewFakeDetailSource()
	tok := apptest.DemoTokens()[0]
	src.Insert(tok, "1", 3)
	src.KeyPairs[tok.Serial] = []bool{true}
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	ctx, cancel := context.WithCancel(t.Context())
	u := New(ctx, a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), loc: time.UTC,
		Account: e.Account(apptest.MemoryStore(t)), DeferJourney: true})
	t.Cleanup(u.Win.Close)
	if u.journey != nil {
		t.Fatal("the journey was built before the first frame")
	}
	if u.account() == nil {
		t.Fatal("no account while the journey waits")
	}
	stubs := tabNames(u)
	if len(stubs) != 8 || stubs[0] != "UKey 与证书" || stubs[1] != "登录" || stubs[7] != "发票" {
		t.Fatalf("tabs before Run: %q", stubs)
	}
	fyne.DoAndWait(func() { u.nav.SelectIndex(3) }) // 申请进度, clicked early

	done := make(chan struct{})
	go func() { u.Run(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// Fyne's test driver runs fyne.Do inline, on Run's goroutine: touching
	// the window before Run's build is done would race with it.
	<-u.built
	onUI(t, "the journey built and in the tabs", func() bool {
		return u.journey != nil && slices.Contains(u.nav.Items, u.journey.Item(screenApps))
	})
	if got := tabNames(u); !slices.Equal(got, stubs) {
		t.Errorf("tabs after Run %q, before %q", got, stubs)
	}
	fyne.DoAndWait(func() {
		if u.nav.Selected() != u.journey.Item(screenApps) {
			t.Errorf("the tab chosen early was lost: %q", u.nav.Selected().Text)
		}
	})
	var renew *widget.Button
	onUI(t, "续期 on the card", func() bool { renew = buttonNamed(u.tokens.Object(), "续期"); return renew != nil })
	fyne.DoAndWait(renew.OnTapped)
	onUI(t, "the renew form with the certificate chosen", func() bool {
		return u.nav.Selected() == u.journey.Item(screenRenew) && strings.Contains(u.journey.Renew.Pick.Selected, tok.Certs[0].Serial)
	})
}

// unfinishedInstaller is a fake Installer (no PKCS#11 without cgo) whose
// journal the test fills: Unfinished reports the serials set.
type unfinishedInstaller struct {
	gateInstaller
	mu      sync.Mutex
	serials []string
}

func (f *unfinishedInstaller) set(s ...string) { f.mu.Lock(); f.serials = s; f.mu.Unlock() }
func (f *unfinishedInstaller) Unfinished(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.serials), nil
}

// Opening a journey screen puts the focus on its first field; a token put
// back while the program runs is offered its interrupted write at once,
// not only at the next start.
func TestJourneyFocusesOpenedScreenAndOffersAWriteOnInsertion(t *testing.T) {
	e := apptest.NewService(t)
	src := apptest.NewFakeSource()
	inst := &unfinishedInstaller{}
	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	ctx, cancel := context.WithCancel(t.Context())
	u := New(ctx, a, Deps{Tokens: src, PINs: src, clock: fakeclock.New(apptest.T0), loc: time.UTC,
		Account: e.Account(apptest.MemoryStore(t)), Installer: inst})
	t.Cleanup(u.Win.Close)
	done := make(chan struct{})
	go func() { u.Run(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	fyne.DoAndWait(func() { u.nav.Select(u.journey.Item(screenSignIn)) })
	onUI(t, "the mobile field focused", func() bool { return u.Win.Canvas().Focused() == u.journey.SignIn.Mobile })
	fyne.DoAndWait(func() { u.nav.Select(u.journey.Item(screenRenew)) })
	onUI(t, "the certificate picker focused", func() bool { return u.Win.Canvas().Focused() == u.journey.Renew.Pick })

	tok := apptest.DemoTokens()[0]
	inst.set(tok.Serial) // its journal: the write was cut short before this start
	src.Insert(tok, "1", 3)
	onUI(t, "the interrupted write offered on insertion", func() bool {
		s, _ := u.journey.WriteVM.Unfinished.Get()
		return slices.Equal(s, []string{tok.Serial})
	})
}
