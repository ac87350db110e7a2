package model_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/app/internal/apptest"
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

func TestFinVerifyWrongCodesCorrectBankThenRight(t *testing.T) {
	e := apptest.NewService(t)
	acc := e.SignedIn()
	a := e.ApprovedApp(acc)
	e.MarkPaid(a.ID)
	vm := model.NewFinVerifyVM(acc)
	ctx := t.Context()
	if err := vm.Load(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if st := apptest.Get[string](t, vm.Status); !strings.Contains(st, "0.01 元") || !strings.Contains(st, "还可尝试 3 次") {
		t.Fatalf("status %q", st)
	}
	if apptest.Get[bool](t, vm.CanCorrect) {
		t.Fatal("the account correction is offered while the transfer is pending: the service refuses it")
	}
	first := e.Bank.Transfers("755912345610801")
	if len(first) != 1 {
		t.Fatalf("transfers after load: %d", len(first))
	}
	code := first[0].Remark[len(first[0].Remark)-6:]
	for _, bad := range []string{"", "12345", "12345a", "1234567"} {
		_ = vm.Code.Set(bad)
		if err := vm.SubmitCode(ctx); !errors.Is(err, model.ErrInvalidInput) || apptest.Get[string](t, vm.CodeMsg) == "" {
			t.Errorf("code %q: %v %q", bad, err, apptest.Get[string](t, vm.CodeMsg))
		}
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 0; i < 3; i++ {
		_ = vm.Code.Set(wrong)
		if err := vm.SubmitCode(ctx); renewal.CodeOf(err) != renewal.CodeFinVerifyCodeWrong && renewal.CodeOf(err) != renewal.CodeFinVerifyTooManyTries {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if !apptest.Get[bool](t, vm.CanCorrect) || !strings.Contains(apptest.Get[string](t, vm.Status), "更正对公账户") {
		t.Fatalf("after 3 wrong codes: %q", apptest.Get[string](t, vm.Status))
	}
	_ = vm.AccountNumber.Set("12")
	if err := vm.CorrectBank(ctx); !errors.Is(err, model.ErrInvalidInput) || apptest.Get[string](t, vm.BankMsg) == "" {
		t.Fatalf("bad account number: %v", err)
	}
	_ = vm.AccountNumber.Set("6222 0210 0112 3456 789")
	if err := vm.CorrectBank(ctx); err != nil {
		t.Fatal(err)
	}
	tr := e.Bank.Transfers("6222021001123456789")
	if len(tr) != 1 {
		t.Fatalf("no new transfer to the corrected account: %v", tr)
	}
	_ = vm.Code.Set(tr[0].Remark[len(tr[0].Remark)-6:])
	if err := vm.SubmitCode(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := acc.Client().GetApplication(ctx, a.ID)
	if err != nil || got.Status != renewal.StatusReadyToDownload || !apptest.Get[bool](t, vm.Verified) {
		t.Fatalf("after the right code: %v %v", got.Status, err)
	}
}
