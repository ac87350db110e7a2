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

// The form refuses, as it is typed and again on save, text with invisible
// or private-use characters and identity numbers that cannot exist, with
// the Chinese message by the field; nothing reaches the service. Text
// typed in a decomposed form is fine and saved in NFC.
func TestRenewFormRefusesLyingTextAndImpossibleIDs(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	ctx := t.Context()
	last := renewdtest.ValidForm(e.Org, 1)
	prev, err := acc.Client().CreateApplication(ctx, renewal.CreateApplicationRequest{CertSerial: e.Serials["near"], Form: &last})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Client().Cancel(ctx, prev.ID, renewal.VersionRequest{Version: prev.Version}); err != nil {
		t.Fatal(err)
	}
	vm := model.NewRenewVM(acc, model.Formatter{Lang: model.LangZH, Loc: time.UTC})
	if err := vm.Start(ctx, e.Serials["near"]); err != nil {
		t.Fatal(err)
	}
	before := vm.Application()

	id := func(first17 string) string {
		c, err := renewal.IDNumberCheckChar(first17)
		if err != nil {
			t.Fatal(err)
		}
		return first17 + string(c)
	}
	cc, err := renewal.CreditCodeCheckChar("B1350100M000100Y4")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ field, value, want string }{
		{renewal.FieldOrgName, "深圳\u200b测试科技有限公司", "第3个字符（U+200B）是不可见的格式字符"},
		{renewal.FieldRepName, "\ufeff张三", "不可见"},
		{renewal.FieldBankName, "招商\ue000银行", "自造字"},
		{renewal.FieldBankAccountName, "测试\ufffd公司", "无法识别"},
		{renewal.FieldRepIDNumber, id("11010520990101002"), "出生日期（2099年1月1日）晚于今天"},
		{renewal.FieldRepIDNumber, id("99010519491231002"), "前两位不是有效的省级行政区划代码"},
		{renewal.FieldCreditCode, "B1350100M000100Y4" + string(cc), "登记管理部门代码"},
	} {
		f := vm.Fields[c.field]
		good := apptest.Get[string](t, f)
		_ = f.Set(c.value)
		if msg := apptest.Get[string](t, vm.Msgs[c.field]); !strings.Contains(msg, c.want) {
			t.Errorf("typing %s=%+q: message %q, want %q", c.field, c.value, msg, c.want)
		}
		if err := vm.Save(ctx); !errors.Is(err, model.ErrFormInvalid) {
			t.Errorf("save with %s=%+q: %v", c.field, c.value, err)
		}
		if msg := apptest.Get[string](t, vm.Msgs[c.field]); !strings.Contains(msg, c.want) {
			t.Errorf("after save, %s=%+q: message %q, want %q", c.field, c.value, msg, c.want)
		}
		_ = f.Set(good)
	}
	if got, err := acc.Client().GetApplication(ctx, before.ID); err != nil || got.Version != before.Version {
		t.Fatalf("refused forms reached the service: %v, v%d", err, got.Version)
	}

	// The comment for the reviewer: refused with the Chinese message.
	if err := model.CheckComment("请尽快\u202e审核"); err == nil || !strings.Contains(err.Error(), "不可见") || renewal.CodeOf(err) != renewal.CodeTextCharacter {
		t.Errorf("comment with RLO: %v", err)
	}
	if err := model.CheckComment("第一行\r\nCafe\u0301"); err != nil {
		t.Errorf("comment with CR LF and a decomposed é: %v", err)
	}

	// Decomposed text as typed: no message, saved in NFC.
	_ = vm.Fields[renewal.FieldBankName].Set("Cafe\u0301 银行深圳分行")
	if msg := apptest.Get[string](t, vm.Msgs[renewal.FieldBankName]); msg != "" {
		t.Errorf("decomposed text: %q", msg)
	}
	if err := vm.Save(ctx); err != nil {
		t.Fatalf("save: %v (%q)", err, apptest.Get[string](t, vm.Message))
	}
	saved, err := acc.Client().GetApplication(ctx, before.ID)
	if err != nil || saved.Form.Bank.BankName != "Caf\u00e9 银行深圳分行" {
		t.Fatalf("saved bank name %+q: %v", saved.Form.Bank.BankName, err)
	}
}
