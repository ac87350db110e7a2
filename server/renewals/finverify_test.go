package renewals_test

import (
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// lastCode is the code in the remark of the last transfer to account.
func (e *env) lastCode(account string) string {
	e.t.Helper()
	ts := e.Bank.Transfers(account)
	if len(ts) == 0 {
		e.t.Fatalf("no transfer to %s", account)
	}
	code, ok := strings.CutPrefix(ts[len(ts)-1].Remark, "UKey续期验证码")
	if !ok {
		e.t.Fatalf("remark %q", ts[len(ts)-1].Remark)
	}
	return code
}

func wrong(code string) string {
	if code == "000000"[:len(code)] {
		return "111111"[:len(code)]
	}
	return "000000"[:len(code)]
}

// The transfer goes to the account of the form; wrong codes count down
// to a failure, a corrected account gets a new transfer, and its code
// verifies the account.
func TestFinVerify(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.arrange(e.draft(), renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyPending})
		_, err := e.svc.SubmitFinVerifyCode(ctx, e.clerk, a.ID, renewal.FinVerifyCodeRequest{Version: a.Version, Code: "123456"})
		wantCode(t, err, renewal.CodeActionNotAllowed) // nothing sent yet
		_, err = e.svc.StartFinVerify(ctx, e.otherClerk, a.ID, renewal.VersionRequest{Version: a.Version})
		wantCode(t, err, renewal.CodeNotFound)
		tr, err := e.svc.StartFinVerify(ctx, e.clerk, a.ID, renewal.VersionRequest{Version: a.Version})
		if err != nil {
			t.Fatal(err)
		}
		st, v := tr.Status, tr.Version
		if v != a.Version+1 || st.SentAt == nil || st.TriesLeft != 3 || e.counts["finverify_transfer"] != 1 {
			t.Fatalf("started: %+v at version %d, %d transfers counted", st, v, e.counts["finverify_transfer"])
		}
		code := e.lastCode(a.Form.Bank.AccountNumber)
		for left := 2; left >= 1; left-- {
			_, err = e.svc.SubmitFinVerifyCode(ctx, e.clerk, a.ID, renewal.FinVerifyCodeRequest{Version: v, Code: wrong(code)})
			wantCode(t, err, renewal.CodeFinVerifyCodeWrong)
			if !strings.Contains(err.Error(), map[int]string{2: "2 tries left", 1: "1 tries left"}[left]) {
				t.Fatalf("after a wrong code: %v", err)
			}
		}
		_, err = e.svc.SubmitFinVerifyCode(ctx, e.clerk, a.ID, renewal.FinVerifyCodeRequest{Version: v, Code: wrong(code)})
		wantCode(t, err, renewal.CodeFinVerifyTooManyTries)
		got, err := e.svc.FinVerifyStatus(ctx, e.clerk, a.ID)
		if err != nil || got.State != renewal.FinVerifyFailed || got.TriesLeft != 0 {
			t.Fatalf("after the last try %+v, %v", got, err)
		}

		fixed := a.Form.Bank
		fixed.AccountNumber = "6222020200112233445"
		cur, _ := e.svc.Get(ctx, e.clerk, a.ID)
		tr, err = e.svc.CorrectBank(ctx, e.clerk, a.ID, renewal.CorrectBankRequest{Version: cur.Version, Bank: fixed})
		if err != nil {
			t.Fatal(err)
		}
		st, v = tr.Status, tr.Version
		if st.State != renewal.FinVerifyPending || !strings.HasSuffix(fixed.AccountNumber, strings.TrimLeft(st.Account, "*")) {
			t.Fatalf("corrected: %+v", st)
		}
		done, err := e.svc.SubmitFinVerifyCode(ctx, e.clerk, a.ID, renewal.FinVerifyCodeRequest{Version: v, Code: e.lastCode(fixed.AccountNumber)})
		if err != nil {
			t.Fatal(err)
		}
		if done.FinVerify != renewal.FinVerifyVerified || done.Form.Bank.AccountNumber != fixed.AccountNumber {
			t.Fatalf("verified %+v", done)
		}
	})
}

// At most MaxTransfers transfers go out for one application.
func TestFinVerifyTransfersAreBounded(t *testing.T) {
	dialects(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := e.arrange(e.draft(), renewal.State{Status: renewal.StatusApproved, Payment: renewal.PaymentPaid, FinVerify: renewal.FinVerifyPending})
		v := a.Version
		for range 3 {
			tr, err := e.svc.StartFinVerify(ctx, e.clerk, a.ID, renewal.VersionRequest{Version: v})
			if err != nil {
				t.Fatal(err)
			}
			v = tr.Version
		}
		_, err := e.svc.StartFinVerify(ctx, e.clerk, a.ID, renewal.VersionRequest{Version: v})
		wantCode(t, err, renewal.CodeRateLimited)
		if n := len(e.Bank.Transfers("")); n != 3 {
			t.Fatalf("%d transfers sent, want 3", n)
		}
	})
}
