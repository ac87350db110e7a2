package renewals_test

import (
	"slices"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// wantField fails unless err is the contract's code about field.
func wantField(t *testing.T, err error, code renewal.Code, field string) {
	t.Helper()
	wantCode(t, err, code)
	if re := renewal.AsError(err); re.Field != field || re.MessageZH == "" {
		t.Fatalf("error %+v, want field %s with a Chinese message", re, field)
	}
}

// The verification transfer goes only to the organisation's own account:
// a form naming another holder is refused when created, edited and
// submitted.
func TestFormBankAccountIsTheOrganisations(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		f := validForm(e.Org)
		f.Bank.AccountName = "李四"
		h := e.AddHolder(issuer.ECDSA, e.Org, start.AddDate(0, 0, 30))
		_, err := e.svc.Create(ctx, e.clerk, renewal.CreateApplicationRequest{CertSerial: h.Serial, Form: &f})
		wantField(t, err, renewal.CodeOrgMismatch, "form.bank.account_name")

		a := e.draft()
		_, err = e.svc.Update(ctx, e.clerk, a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Form: f})
		wantField(t, err, renewal.CodeOrgMismatch, "form.bank.account_name")
		// Typed with stray spaces it is still the organisation's name.
		f.Bank.AccountName = " " + e.Org.Name + " "
		if _, err = e.svc.Update(ctx, e.clerk, a.ID, renewal.UpdateApplicationRequest{Version: a.Version, Form: f}); err != nil {
			t.Fatal(err)
		}

		// A draft saved before the rule, with another holder: submit refuses it.
		b := e.draft()
		b, err = e.Store.UpdateApplication(ctx, store.AllScope(), b.ID, b.Version, store.Change{Actor: "system", Action: "test.legacy"}, func(a *renewal.Application) error {
			a.Form.Bank.AccountName = "李四"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Submit(ctx, e.clerk, b.ID, renewal.SubmitRequest{Version: b.Version})
		wantField(t, err, renewal.CodeOrgMismatch, "bank.account_name")
	})
}

// After approval the account is corrected only once the check failed,
// only to an account of the organisation, and the change is audited; a
// transfer the bank refuses fails the check so the clerk may correct it.
func TestCorrectBankOnlyAfterFailure(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.arrange(e.draft(), renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyPending})
		mine := renewal.BankAccount{AccountName: e.Org.Name, BankName: "中国工商银行深圳分行", AccountNumber: "4000023009200123456"}
		_, err := e.svc.CorrectBank(ctx, e.clerk, a.ID, renewal.CorrectBankRequest{Version: a.Version, Bank: mine})
		wantCode(t, err, renewal.CodeActionNotAllowed) // pending: nothing failed yet

		// The bank refuses the form's account: the check fails, audited.
		e.Bank.Refuse[a.Form.Bank.AccountNumber] = true
		_, err = e.svc.StartFinVerify(ctx, e.clerk, a.ID, renewal.VersionRequest{Version: a.Version})
		wantField(t, err, renewal.CodeBankAccount, "bank.account_number")
		a, err = e.svc.Get(ctx, e.clerk, a.ID)
		if err != nil || a.FinVerify != renewal.FinVerifyFailed || !slices.Contains(a.Actions, renewal.ActionCorrectBank) {
			t.Fatalf("after the refused transfer: %+v, %v", a, err)
		}

		stranger := mine
		stranger.AccountName, stranger.AccountNumber = "李四", "6222021001123456789"
		_, err = e.svc.CorrectBank(ctx, e.clerk, a.ID, renewal.CorrectBankRequest{Version: a.Version, Bank: stranger})
		wantField(t, err, renewal.CodeOrgMismatch, "bank.account_name")
		if n := len(e.Bank.Transfers(stranger.AccountNumber)); n != 0 {
			t.Fatalf("%d transfers to another holder's account", n)
		}

		tr, err := e.svc.CorrectBank(ctx, e.clerk, a.ID, renewal.CorrectBankRequest{Version: a.Version, Bank: mine})
		if err != nil || tr.Status.State != renewal.FinVerifyPending || tr.Status.Account != "****3456" {
			t.Fatalf("corrected: %+v, %v", tr, err)
		}
		got, err := e.svc.Get(ctx, e.reviewer, a.ID)
		if err != nil || got.Form.Bank != mine {
			t.Fatalf("staff see the account %+v, %v", got.Form.Bank, err)
		}
		audit := e.actions("application/" + a.ID)
		for _, want := range []string{"finverify.transfer_refused", "application.fail_finverify", "finverify.bank_changed", "application.correct_bank"} {
			if !slices.Contains(audit, want) {
				t.Fatalf("audit %v lacks %s", audit, want)
			}
		}
		if _, err := e.svc.SubmitFinVerifyCode(ctx, e.clerk, a.ID, renewal.FinVerifyCodeRequest{Version: tr.Version, Code: e.lastCode(mine.AccountNumber)}); err != nil {
			t.Fatal(err)
		}
	})
}
