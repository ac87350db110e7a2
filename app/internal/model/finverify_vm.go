package model

import (
	"context"
	"errors"
	"sync"

	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// FinVerifyVM is the financial verification: the CA sends 0.01 CNY to the
// company's bank account with a code in the remark; the clerk enters it.
// After too many wrong codes (or a transfer that never arrives) the bank
// account is corrected and a new transfer sent.
type FinVerifyVM struct {
	acc *Account

	Code binding.String
	// CodeMsg is the message next to the code field.
	CodeMsg binding.String
	// Account, BankName and AccountNumber are the correction fields.
	AccountName, BankName, AccountNumber binding.String
	BankMsg                              binding.String
	// Status describes the transfer ("已向 招商银行 ****0801 打款…").
	Status binding.String
	// CanCorrect is true when the state allows correcting the account.
	CanCorrect binding.Bool
	// Verified is true once the code was right.
	Verified binding.Bool
	Message  binding.String

	mu  sync.Mutex
	app *renewal.Application
}

// NewFinVerifyVM returns the view-model.
func NewFinVerifyVM(acc *Account) *FinVerifyVM {
	vm := &FinVerifyVM{acc: acc, Code: binding.NewString(), CodeMsg: binding.NewString(),
		AccountName: binding.NewString(), BankName: binding.NewString(), AccountNumber: binding.NewString(), BankMsg: binding.NewString(),
		Status: binding.NewString(), CanCorrect: binding.NewBool(), Verified: binding.NewBool(), Message: binding.NewString()}
	_ = vm.Status.Set(lang.X("fv.choose", "审核通过后，在“申请进度”中点击“金融认证”：发证机构会向对公账户转账 0.01 元，附言中有验证码。"))
	return vm
}

func (vm *FinVerifyVM) fail(ctx context.Context, err error) error {
	vm.acc.Ended(ctx, err)
	_ = vm.Message.Set(ServiceErrText(err))
	return err
}

// Load reads application id and its transfer check; it asks the CA for the
// transfer when none was sent yet.
func (vm *FinVerifyVM) Load(ctx context.Context, id string) error {
	c := vm.acc.Client()
	a, err := c.GetApplication(ctx, id)
	if err != nil {
		return vm.fail(ctx, err)
	}
	st, err := c.FinVerifyStatus(ctx, id)
	if err != nil {
		return vm.fail(ctx, err)
	}
	if st.State == renewal.FinVerifyPending && st.SentAt == nil && a.Status == renewal.StatusApproved {
		if res, err := c.StartFinVerify(ctx, id, renewal.VersionRequest{Version: a.Version}); err == nil {
			st = &res.FinVerifyStatus
			a.Version = res.Version
		}
	}
	vm.mu.Lock()
	vm.app = a
	vm.mu.Unlock()
	_ = vm.AccountName.Set(a.Form.Bank.AccountName)
	_ = vm.BankName.Set(a.Form.Bank.BankName)
	_ = vm.AccountNumber.Set(a.Form.Bank.AccountNumber)
	vm.show(st)
	return nil
}

func (vm *FinVerifyVM) show(st *renewal.FinVerifyStatus) {
	_ = vm.Verified.Set(st.State == renewal.FinVerifyVerified)
	// The service lets the account be corrected only once the check has
	// failed (wrong codes, or a transfer the bank refused).
	_ = vm.CanCorrect.Set(st.State == renewal.FinVerifyFailed)
	switch st.State {
	case renewal.FinVerifyVerified:
		_ = vm.Status.Set(lang.X("fv.verified", "金融认证已通过。"))
	case renewal.FinVerifyFailed:
		_ = vm.Status.Set(lang.X("fv.failed", "验证码错误次数过多，认证未通过。请核对并更正对公账户，系统会重新打款。"))
	default:
		if st.SentAt != nil {
			_ = vm.Status.Set(lang.X("fv.sent", "发证机构已向 {{.Bank}} {{.Account}} 转账 0.01 元，请在转账附言中找到 6 位验证码并填写（还可尝试 {{.N}} 次）。",
				map[string]any{"Bank": st.BankName, "Account": st.Account, "N": st.TriesLeft}))
		} else {
			_ = vm.Status.Set(lang.X("fv.waiting", "等待发证机构打款。"))
		}
	}
}

// AppID is the application shown ("" before Load).
func (vm *FinVerifyVM) AppID() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.app == nil {
		return ""
	}
	return vm.app.ID
}

// SubmitCode enters the code from the transfer's remark.
func (vm *FinVerifyVM) SubmitCode(ctx context.Context) error {
	vm.mu.Lock()
	a := vm.app
	vm.mu.Unlock()
	if a == nil {
		return ErrNotEditable
	}
	code, _ := vm.Code.Get()
	req := renewal.FinVerifyCodeRequest{Version: a.Version, Code: code}
	if err := req.Validate(); err != nil {
		_ = vm.CodeMsg.Set(fieldText(renewal.AsError(err).FieldError("code")))
		return errors.Join(ErrInvalidInput, err)
	}
	_ = vm.CodeMsg.Set("")
	got, err := vm.acc.Client().SubmitFinVerifyCode(ctx, a.ID, req)
	if err != nil {
		_ = vm.fail(ctx, err)
		_ = vm.Load(ctx, a.ID) // tries left, or the failed state
		_ = vm.Message.Set(ServiceErrText(err))
		return err
	}
	vm.mu.Lock()
	vm.app = got
	vm.mu.Unlock()
	_ = vm.Code.Set("")
	_ = vm.Verified.Set(true)
	_ = vm.CanCorrect.Set(false)
	_ = vm.Status.Set(lang.X("fv.verified", "金融认证已通过。"))
	_ = vm.Message.Set(lang.X("fv.next", "认证通过。现在可以把新证书写入 UKey。"))
	return nil
}

// CorrectBank replaces the bank account and has a new transfer sent.
func (vm *FinVerifyVM) CorrectBank(ctx context.Context) error {
	vm.mu.Lock()
	a := vm.app
	vm.mu.Unlock()
	if a == nil {
		return ErrNotEditable
	}
	name, _ := vm.AccountName.Get()
	bank, _ := vm.BankName.Get()
	num, _ := vm.AccountNumber.Get()
	req := renewal.CorrectBankRequest{Version: a.Version, Bank: renewal.BankAccount{AccountName: name, BankName: bank, AccountNumber: num}}
	if err := req.Validate(); err != nil {
		_ = vm.BankMsg.Set(fieldText(err))
		return errors.Join(ErrInvalidInput, err)
	}
	_ = vm.BankMsg.Set("")
	res, err := vm.acc.Client().CorrectBank(ctx, a.ID, req)
	if err != nil {
		return vm.fail(ctx, err)
	}
	fresh, err := vm.acc.Client().GetApplication(ctx, a.ID)
	if err != nil {
		return vm.fail(ctx, err)
	}
	vm.mu.Lock()
	vm.app = fresh
	vm.mu.Unlock()
	vm.show(&res.FinVerifyStatus)
	_ = vm.Message.Set(lang.X("fv.corrected", "对公账户已更正，发证机构将重新打款。"))
	return nil
}
