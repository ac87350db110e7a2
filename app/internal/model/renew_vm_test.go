package model_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestRenewFormPrefillTypingSaveStaleSubmit(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	ctx := t.Context()
	// The organisation's last application pre-fills the next one.
	last := renewdtest.ValidForm(e.Org, 2)
	prev, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &last})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Client().Cancel(ctx, prev.ID, renewal.VersionRequest{Version: prev.Version}); err != nil {
		t.Fatal(err)
	}

	vm := model.NewRenewVM(acc, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	if err := vm.Save(ctx); !errors.Is(err, model.ErrNotEditable) {
		t.Fatalf("save before a certificate is chosen: %v", err)
	}
	if err := vm.Start(ctx, strings.ToUpper(e.Serials["near"])); err != nil {
		t.Fatal(err)
	}
	if !apptest.Get[bool](t, vm.Ready) || apptest.Get[string](t, vm.Serial) != e.Serials["near"] {
		t.Fatalf("not ready for %s: %q", e.Serials["near"], apptest.Get[string](t, vm.Serial))
	}
	if got := apptest.Get[string](t, vm.Fields[renewal.FieldOrgName]); got != e.Org.Name {
		t.Fatalf("organisation not pre-filled: %q", got)
	}
	if got := apptest.Get[string](t, vm.Fields[renewal.FieldBankNumber]); got != last.Bank.AccountNumber {
		t.Fatalf("bank account not pre-filled from the last application: %q", got)
	}
	_ = vm.Years.Set(2)
	if got := apptest.Get[string](t, vm.Price); got != "¥550.00" {
		t.Fatalf("price of 2 years = %q", got)
	}
	if opts := vm.YearsOptions(); len(opts) != 3 || opts[2] != "3 年 · ¥780.00" || model.YearsOf(opts[2]) != 3 {
		t.Fatalf("years options %v", opts)
	}

	// While typing: only what no more typing can fix is reported.
	cc := vm.Fields[renewal.FieldCreditCode]
	_ = cc.Set("9144")
	if msg := apptest.Get[string](t, vm.Msgs[renewal.FieldCreditCode]); msg != "" {
		t.Fatalf("a credit code being typed is reported: %q", msg)
	}
	_ = cc.Set("9144@")
	if msg := apptest.Get[string](t, vm.Msgs[renewal.FieldCreditCode]); msg == "" {
		t.Fatal("an impossible character is not reported while typing")
	}
	_ = cc.Set(e.Org.CreditCode[:17] + "0")
	if e.Org.CreditCode[17] == '0' {
		_ = cc.Set(e.Org.CreditCode[:17] + "1")
	}
	mobile := vm.Fields[renewal.FieldRepMobile]
	_ = mobile.Set("2380013800")
	if apptest.Get[string](t, vm.Msgs[renewal.FieldRepMobile]) == "" {
		t.Fatal("a mobile starting with 2 is not reported while typing")
	}
	if err := vm.Save(ctx); !errors.Is(err, model.ErrFormInvalid) {
		t.Fatalf("save with a bad checksum and mobile: %v", err)
	}
	if apptest.Get[string](t, vm.Msgs[renewal.FieldCreditCode]) == "" || !strings.Contains(apptest.Get[string](t, vm.Message), "有 2 项需要修改") {
		t.Fatalf("messages after a refused save: %q / %q", apptest.Get[string](t, vm.Msgs[renewal.FieldCreditCode]), apptest.Get[string](t, vm.Message))
	}
	_ = cc.Set(strings.ToLower(e.Org.CreditCode))
	_ = mobile.Set("+86 138 0013 8000")
	_ = vm.Invoice.Set(true)
	_ = vm.Fields[renewal.FieldInvoiceEmail].Set("not an e-mail")
	if err := vm.Save(ctx); !errors.Is(err, model.ErrFormInvalid) || apptest.Get[string](t, vm.Msgs[renewal.FieldInvoiceEmail]) == "" {
		t.Fatalf("bad invoice e-mail: %v", err)
	}
	_ = vm.Fields[renewal.FieldInvoiceEmail].Set("cw@example.cn")
	_ = vm.Post.Set(true)
	_ = vm.Fields[renewal.FieldPickupRecipient].Set("李四")
	_ = vm.Fields[renewal.FieldPickupMobile].Set("13900139000")
	_ = vm.Fields[renewal.FieldPickupAddress].Set("广东省深圳市南山区科技园 1 号")
	if err := vm.Save(ctx); err != nil {
		t.Fatalf("save: %v (%q)", err, apptest.Get[string](t, vm.Message))
	}
	saved, err := acc.Client().GetApplication(ctx, vm.Application().ID)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Form.Years != 2 || saved.Form.Organisation.CreditCode != e.Org.CreditCode || saved.Form.LegalRepresentative.Mobile != apptest.DemoMobile ||
		saved.Form.Invoice.Email != "cw@example.cn" || saved.Form.Pickup.Method != renewal.PickupPost {
		t.Fatalf("saved form %+v", saved.Form)
	}

	// Changed elsewhere: the save is refused, explained, and the form reloaded.
	other := saved.Form
	other.Bank.BankName = "中国银行深圳分行"
	if _, err := acc.Client().UpdateApplication(ctx, saved.ID, renewal.UpdateApplicationRequest{Version: saved.Version, Form: other}); err != nil {
		t.Fatal(err)
	}
	_ = vm.Fields[renewal.FieldBankName].Set("工商银行")
	if err := vm.Save(ctx); renewal.CodeOf(err) != renewal.CodeStaleVersion {
		t.Fatalf("stale save: %v", err)
	}
	if !strings.Contains(apptest.Get[string](t, vm.Message), "被修改过") || apptest.Get[string](t, vm.Fields[renewal.FieldBankName]) != "中国银行深圳分行" {
		t.Fatalf("stale: %q, bank %q", apptest.Get[string](t, vm.Message), apptest.Get[string](t, vm.Fields[renewal.FieldBankName]))
	}

	long := strings.Repeat("长", renewal.MaxCommentRunes+1)
	if err := vm.Submit(ctx, long); !errors.Is(err, model.ErrFormInvalid) {
		t.Fatalf("long comment: %v", err)
	}
	if err := vm.Submit(ctx, "请审核"); err != nil {
		t.Fatalf("submit: %v (%q)", err, apptest.Get[string](t, vm.Message))
	}
	if a := vm.Application(); a.Status != renewal.StatusPendingReview || a.Comment != "请审核" || apptest.Get[bool](t, vm.Ready) {
		t.Fatalf("after submit: %s %q", a.Status, a.Comment)
	}
	// Opening the same certificate again shows the application in progress, read-only.
	vm2 := model.NewRenewVM(acc, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	if err := vm2.Start(ctx, e.Serials["near"]); !errors.Is(err, model.ErrNotEditable) || !strings.Contains(apptest.Get[string](t, vm2.Message), "待审核") {
		t.Fatalf("second start: %v %q", err, apptest.Get[string](t, vm2.Message))
	}
}

func TestRenewFormNotEligible(t *testing.T) {
	e := apptest.NewService(t)
	vm := model.NewRenewVM(e.SignedIn(), model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	if err := vm.Start(t.Context(), e.Serials["far"]); err == nil || apptest.Get[bool](t, vm.Ready) {
		t.Fatalf("a certificate 200 days from expiry: %v", err)
	}
	if msg := apptest.Get[string](t, vm.Message); !strings.Contains(msg, "不能续期") {
		t.Fatalf("message %q", msg)
	}
}

// A certificate renewed and installed is not renewed again: the form says
// so and names the new certificate, and no application is made.
func TestRenewFormSuperseded(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	ctx := t.Context()
	const next = "5eeded0000000000000000000000000001"
	e.Renewed(acc, e.ReadyApp(acc, e.Serials["near"], false), next)
	vm := model.NewRenewVM(acc, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	if err := vm.Start(ctx, e.Serials["near"]); err == nil || apptest.Get[bool](t, vm.Ready) || vm.Application() != nil {
		t.Fatalf("start on a renewed certificate: %v", err)
	}
	if msg := apptest.Get[string](t, vm.Message); !strings.Contains(msg, "此证书已续期") || !strings.Contains(msg, strings.ToUpper(next)) {
		t.Fatalf("message %q", msg)
	}
}
