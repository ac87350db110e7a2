package app

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestRenewScreenTypingMessagesAndSave(t *testing.T) {
	e := newSvcEnv(t)
	acc := e.signedIn()
	vm := NewRenewVM(acc, Formatter{Lang: LangZH, Loc: time.UTC})
	s := NewRenewScreen(t.Context(), vm)
	newTestWindow(t, s.Object())
	if !strings.Contains(screenText(s.Object()), "请先在“UKey 与证书”中选中要续期的证书") {
		t.Fatalf("no prompt to pick a certificate: %s", screenText(s.Object()))
	}
	onUI(t, "save disabled without a certificate", func() bool { return s.Save.Disabled() && s.Submit.Disabled() })
	if err := vm.Start(t.Context(), e.serials["near"]); err != nil {
		t.Fatal(err)
	}
	onUI(t, "form shown", func() bool { return s.form.Visible() && !s.Save.Disabled() })
	txt := screenText(s.Object())
	for _, want := range []string{"证书序列号 " + strings.ToUpper(e.serials["near"]) + "（从 UKey 读取）", "已根据证书和上次申请预先填好", "统一社会信用代码", "¥300.00"} {
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
