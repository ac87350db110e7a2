package app

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
)

// buttonNamed finds the first visible button under o with text.
func buttonNamed(o fyne.CanvasObject, text string) *widget.Button {
	var found *widget.Button
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if found != nil || !o.Visible() {
			return
		}
		switch w := o.(type) {
		case *widget.Button:
			if w.Text == text {
				found = w
			}
		case *fyne.Container:
			for _, c := range w.Objects {
				walk(c)
			}
		case fyne.Widget:
			for _, c := range test.LaidOutObjects(w) {
				if c != o {
					walk(c)
				}
			}
		}
	}
	walk(o)
	return found
}

// The Tokens screen's 续期 opens the renew form with that certificate
// chosen; its 修复 opens the Write screen's PIN dialog for that token.
// Without a renewal service neither button is offered.
func TestTokensScreenRenewAndRepairLeadIntoTheJourney(t *testing.T) {
	e := newSvcEnv(t)
	src := newFakeDetailSource()
	tok := demoTokens()[0]
	src.insert(tok, "1", 3)
	src.keyPairs[tok.Serial] = []bool{true}
	src.damaged[tok.Serial] = []DamagedObject{{Reason: "CKR_ATTRIBUTE_VALUE_INVALID", Repairable: true}}

	a := test.NewTempApp(t)
	a.Settings().SetTheme(apptheme.New())
	acc := e.account(memoryStore(t))
	u := New(t.Context(), a, Deps{Tokens: src, PINs: src, Clock: &fakeClock{now: t0}, Loc: time.UTC,
		Account: acc, Installer: &gateInstaller{}})
	t.Cleanup(u.Win.Close)
	if err := u.VM.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	var renew, repair *widget.Button
	onUI(t, "续期 and 修复 on the card", func() bool {
		renew, repair = buttonNamed(u.Tokens.Object(), "续期"), buttonNamed(u.Tokens.Object(), "修复")
		return renew != nil && repair != nil
	})
	fyne.DoAndWait(renew.OnTapped)
	onUI(t, "the renew form with the certificate chosen", func() bool {
		return u.Nav.Selected() == u.Journey.Item("renew") && strings.Contains(u.Journey.Renew.Pick.Selected, tok.Certs[0].Serial)
	})
	fyne.DoAndWait(repair.OnTapped)
	onUI(t, "the Write screen asks for the PIN", func() bool {
		return u.Nav.Selected() == u.Journey.Item("write") && u.Win.Canvas().Overlays().Top() != nil
	})

	bare := newUIWith(t, src, src) // no renewal service
	if err := bare.VM.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	onUI(t, "the card listed", func() bool { return slices.Contains(texts(bare.Tokens.Object()), tok.Certs[0].Holder) })
	fyne.DoAndWait(func() {
		if buttonNamed(bare.Tokens.Object(), "续期") != nil || buttonNamed(bare.Tokens.Object(), "修复") != nil {
			t.Error("续期 or 修复 offered without a renewal service")
		}
	})
}
