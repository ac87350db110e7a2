package app

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestRenewScreenTypingMessagesAndSave(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	vm := model.NewRenewVM(acc, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	s := newRenewScreen(t.Context(), vm)
	newTestWindow(t, s.Object())
	if !strings.Contains(screenText(s.Object()), "请在上方选择要续期的证书") {
		t.Fatalf("no prompt to pick a certificate: %s", screenText(s.Object()))
	}
	onUI(t, "save disabled without a certificate", func() bool { return s.Save.Disabled() && s.Submit.Disabled() })
	// The certificate is picked from those on the tokens, never typed.
	fyne.DoAndWait(func() {
		s.SetTokens([]model.TokenView{{Serial: "T1", Certs: []model.CertView{
			{Holder: "损坏的证书", Problem: "无法解析"},
			{Holder: e.Org.Name, Serial: strings.ToUpper(e.Serials["near"]), Badge: "剩余 30 天"}}}})
	})
	if len(s.Pick.Options) != 1 {
		t.Fatalf("picker offers %v", s.Pick.Options)
	}
	fyne.DoAndWait(func() { s.Pick.SetSelected(s.Pick.Options[0]) })
	onUI(t, "form shown", func() bool { return s.form.Visible() && !s.Save.Disabled() })
	txt := screenText(s.Object())
	for _, want := range []string{"证书序列号 " + strings.ToUpper(e.Serials["near"]) + "（从 UKey 读取）", "已根据证书和上次申请预先填好", "统一社会信用代码", "¥300.00"} {
		if !strings.Contains(txt, want) {
			t.Errorf("form lacks %q: %s", want, txt)
		}
	}
	id := s.Entries[renewal.FieldRepIDNumber]
	test.Type(id, "11010519491331")
	onUI(t, "impossible birth date reported while typing", func() bool {
		m, _ := vm.Msgs[renewal.FieldRepIDNumber].Get()
		return m != "" && strings.Contains(strings.Join(texts(s.Object()), "|"), m)
	})
	_ = vm.Invoice.Set(false)
	onUI(t, "invoice fields hidden without an invoice", func() bool {
		return !s.invoiceBox.Visible() && !s.Invoice.Checked
	})
	test.Tap(s.Invoice)
	onUI(t, "invoice fields shown", func() bool { return s.invoiceBox.Visible() })
	test.Tap(s.Save)
	onUI(t, "save refused with the count", func() bool { return strings.Contains(strings.Join(texts(s.Object()), "|"), "项需要修改") })
}
