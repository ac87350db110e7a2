package bank_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/server/bank"
)

func TestOutbox(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	o := bank.NewOutbox(func() time.Time { return at })
	ctx := context.Background()
	good := bank.Transfer{Reference: "fv-1", AccountName: "深圳市测试科技有限公司", BankName: "招商银行深圳分行",
		AccountNumber: "755912345610801", AmountFen: 1, Remark: "UKey 验证码 483920"}
	if err := o.Transfer(ctx, good); err != nil {
		t.Fatal(err)
	}
	if err := o.Transfer(ctx, good); err != nil { // retried: recorded once
		t.Fatal(err)
	}
	got := o.Transfers("755912345610801")
	if len(got) != 1 || got[0].Remark != good.Remark || !got[0].At.Equal(at) {
		t.Fatalf("transfers = %+v", got)
	}
	o.Refuse["6222000000000001"] = true
	closed := good
	closed.Reference, closed.AccountNumber = "fv-2", "6222000000000001"
	if err := o.Transfer(ctx, closed); !errors.Is(err, bank.ErrRejected) {
		t.Fatalf("closed account: %v", err)
	}
	bad := map[string]func(*bank.Transfer){
		"no reference":  func(t *bank.Transfer) { t.Reference = "" },
		"letters":       func(t *bank.Transfer) { t.AccountNumber = "62220000abc01" },
		"short account": func(t *bank.Transfer) { t.AccountNumber = "1234567" },
		"amount":        func(t *bank.Transfer) { t.AmountFen = 100 },
		"no name":       func(t *bank.Transfer) { t.AccountName = "" },
		"no bank":       func(t *bank.Transfer) { t.BankName = "" },
		"long remark":   func(t *bank.Transfer) { t.Remark = "0123456789012345678901234567890" },
	}
	for name, f := range bad {
		tr := good
		tr.Reference = "x-" + name
		f(&tr)
		if err := o.Transfer(ctx, tr); !errors.Is(err, bank.ErrRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := len(o.Transfers("")); n != 1 {
		t.Fatalf("%d transfers recorded, want 1", n)
	}
}
