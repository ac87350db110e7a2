package app

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
)

func TestFinVerifyScreenEntersTheCode(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	a := e.ApprovedApp(acc)
	e.MarkPaid(a.ID)
	vm := model.NewFinVerifyVM(acc)
	s := newFinVerifyScreen(t.Context(), vm)
	newTestWindow(t, s.Object())
	s.Load(a.ID)
	onUI(t, "transfer described", func() bool { return strings.Contains(strings.Join(texts(s.Object()), "|"), "还可尝试 3 次") })
	test.Type(s.Code, "12a")
	test.Tap(s.Submit)
	onUI(t, "a bad code is refused next to the field", func() bool { m, _ := vm.CodeMsg.Get(); return m != "" })
	tr := e.Bank.Transfers("755912345610801")
	s.Code.SetText("")
	test.Type(s.Code, tr[len(tr)-1].Remark[len(tr[len(tr)-1].Remark)-6:])
	test.Tap(s.Submit)
	onUI(t, "verified", func() bool { return apptest.Get[bool](t, vm.Verified) })
}
