package renewals

import (
	"context"
	"errors"
	"fmt"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

const codePurposeFinVerify = "finverify"

func (s *Service) finVerifyView(a *renewal.Application, f *store.FinVerifyAttempt) renewal.FinVerifyStatus {
	st := renewal.FinVerifyStatus{State: a.FinVerify, Account: a.Form.Bank.Masked(), BankName: a.Form.Bank.BankName,
		TriesLeft: s.policy.FinVerifyMaxTries}
	if f != nil {
		t := f.SentAt
		st.SentAt = &t
		st.Account, st.BankName = f.Bank.Masked(), f.Bank.BankName
		st.TriesLeft = max(0, f.MaxTries-f.Tries)
	}
	return st
}

// FinVerifyStatus is where the bank account verification of application
// id stands: the account (masked), the last transfer, the tries left.
func (s *Service) FinVerifyStatus(ctx context.Context, c Caller, id string) (renewal.FinVerifyStatus, error) {
	a, err := s.load(ctx, c, id, "")
	if err != nil {
		return renewal.FinVerifyStatus{}, err
	}
	f, err := s.store.LatestFinVerifyAttempt(ctx, c.Scope(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return renewal.FinVerifyStatus{}, err
	}
	return s.finVerifyView(a, f), nil
}

// Transfer is a verification transfer sent: the status the clerk sees and
// the application's version after it.
type Transfer struct {
	Status  renewal.FinVerifyStatus
	Version int64
}

// StartFinVerify sends (or sends again) the verification transfer to the
// application's bank account (action start_finverify).
func (s *Service) StartFinVerify(ctx context.Context, c Caller, id string, req renewal.VersionRequest) (*Transfer, error) {
	return s.transfer(ctx, c, id, req.Version, renewal.ActionStartFinVerify, nil)
}

// CorrectBank replaces the bank account and sends the transfer to it
// (action correct_bank): only once the check failed (too many wrong codes,
// or the bank refused the transfer), and only to an account bearing the
// organisation's registered name. The change is audited with the account
// before and after, and shows in the application's form for staff. It
// needs no new review: the account is still the organisation's own (its
// name is the registered one) and the transfer proves the clerk reads it.
func (s *Service) CorrectBank(ctx context.Context, c Caller, id string, req renewal.CorrectBankRequest) (*Transfer, error) {
	return s.transfer(ctx, c, id, req.Version, renewal.ActionCorrectBank, &req.Bank)
}

// transfer sends a verification transfer for application id and records it
// with the action (start_finverify or correct_bank, which may also replace
// the bank account) in one transaction. The bank is called first, outside
// the transaction, so the database is never held across it; its reference
// makes a retry idempotent at the bank. The account must bear the
// organisation's registered name. An account that cannot take the transfer
// (refused by the bank, or, on the form, not the organisation's) fails a
// pending check, so the clerk may correct it.
func (s *Service) transfer(ctx context.Context, c Caller, id string, version int64, action renewal.Action,
	newBank *renewal.BankAccount) (*Transfer, error) {
	a, err := s.load(ctx, c, id, "")
	if err != nil {
		return nil, err
	}
	if a.Version != version {
		return nil, renewal.NewError(renewal.CodeStaleVersion, "version")
	}
	if err := s.allowed(c, a, action); err != nil {
		return nil, err
	}
	acct, prefix := a.Form.Bank, "form."
	if newBank != nil {
		acct, prefix = *newBank, ""
	}
	org, err := s.store.Organisation(ctx, a.OrganisationID)
	if err != nil {
		return nil, fmt.Errorf("organisation of application %s: %w", id, err)
	}
	if err := acct.MatchHolder(registeredOrg(org), prefix); err != nil {
		if newBank == nil {
			return nil, s.failTransfer(ctx, c, a, "the form's account is not the organisation's", err)
		}
		return nil, err
	}
	sends, err := s.store.CountFinVerifyAttempts(ctx, c.Scope(), id)
	if err != nil {
		return nil, StoreError(err, "")
	}
	if sends >= s.maxTransfers {
		return nil, renewal.Errorf(renewal.CodeRateLimited, "", "at most %d verification transfers an application", s.maxTransfers)
	}
	code, err := auth.NewCode(renewal.FinVerifyCodeDigits)
	if err != nil {
		return nil, err
	}
	ref := fmt.Sprintf("fv-%s-%d", id, version)
	err = s.bank.Transfer(ctx, bank.Transfer{Reference: ref, AccountName: acct.AccountName, BankName: acct.BankName,
		AccountNumber: acct.AccountNumber, AmountFen: bank.AmountFen, Remark: "UKey续期验证码" + code})
	if errors.Is(err, bank.ErrRejected) {
		refused := renewal.Errorf(renewal.CodeBankAccount, "bank.account_number", "the bank refused the transfer: check the account")
		refused.MessageZH = "银行拒绝向该账户转账（账户不存在或已销户），请核对并更正对公账户"
		return nil, s.failTransfer(ctx, c, a, err.Error(), refused)
	}
	if err != nil {
		return nil, fmt.Errorf("bank transfer: %w", err)
	}
	s.count("finverify_transfer")
	f := &store.FinVerifyAttempt{ApplicationID: id, CodeHash: s.pepper.HashCode(codePurposeFinVerify, id, code),
		MaxTries: s.policy.FinVerifyMaxTries, Bank: acct, AmountFen: bank.AmountFen}
	out, err := s.act(ctx, c, id, version, action, func(tx *store.Tx, a *renewal.Application) error {
		if a.Form.Bank != acct {
			// Staff find the change by its own entry, before and after.
			if err := tx.Audit(c.Change("finverify.bank_changed"), "application/"+id, a.Form.Bank, acct); err != nil {
				return err
			}
		}
		a.Form.Bank = acct
		return tx.AddFinVerifyAttempt(ctx, f, c.Change("finverify.transfer"))
	})
	if err != nil {
		return nil, err
	}
	return &Transfer{Status: s.finVerifyView(out, f), Version: out.Version}, nil
}

// failTransfer answers refused, the reason a transfer to application a's
// account cannot be made; a pending check fails with it (fail_finverify, as
// the system, audited with why), so the clerk may correct the account.
func (s *Service) failTransfer(ctx context.Context, c Caller, a *renewal.Application, why string, refused error) error {
	if a.FinVerify != renewal.FinVerifyPending {
		return refused
	}
	err := s.store.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.UpdateApplication(ctx, c.Scope(), a.ID, a.Version, c.Change("application."+string(renewal.ActionFailFinVerify)), func(a *renewal.Application) error {
			next, err := renewal.Apply(a.State, s.policy, renewal.RoleSystem, renewal.ActionFailFinVerify)
			if err != nil {
				return err
			}
			a.State = next
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Audit(c.Change("finverify.transfer_refused"), "application/"+a.ID, nil, map[string]string{"reason": why, "account": a.Form.Bank.Masked()})
	})
	if err != nil {
		return StoreError(err, "")
	}
	return refused
}

// SubmitFinVerifyCode checks the code from the transfer's remark (action
// submit_finverify). Every try counts; the last wrong one fails the
// verification (fail_finverify, as the system) and the clerk corrects the
// bank account.
func (s *Service) SubmitFinVerifyCode(ctx context.Context, c Caller, id string, req renewal.FinVerifyCodeRequest) (*renewal.Application, error) {
	// Refuse before counting a try when the state does not take a code.
	if _, err := s.load(ctx, c, id, renewal.ActionSubmitFinVerify); err != nil {
		return nil, err
	}
	out, result := s.store.SubmitFinVerifyCode(ctx, c.Scope(), id, req.Version,
		s.pepper.HashCode(codePurposeFinVerify, id, req.Code), c.Change("application.submit_finverify"),
		func(a *renewal.Application, result error) error {
			action, role := renewal.ActionSubmitFinVerify, c.User.Role
			if result != nil {
				action, role = renewal.ActionFailFinVerify, renewal.RoleSystem
			}
			next, err := renewal.Apply(a.State, s.policy, role, action)
			if err != nil {
				return err
			}
			a.State = next
			return nil
		})
	switch {
	case result == nil:
		return s.present(c, out), nil
	case errors.Is(result, store.ErrMismatch):
		left := s.policy.FinVerifyMaxTries
		if f, err := s.store.LatestFinVerifyAttempt(ctx, c.Scope(), id); err == nil {
			left = max(0, f.MaxTries-f.Tries)
		}
		return nil, renewal.Errorf(renewal.CodeFinVerifyCodeWrong, "code", "wrong transfer code; %d tries left", left)
	case errors.Is(result, store.ErrTooManyTries):
		return nil, renewal.NewError(renewal.CodeFinVerifyTooManyTries, "code")
	case errors.Is(result, store.ErrNotFound) && out == nil:
		if _, err := s.store.LatestFinVerifyAttempt(ctx, c.Scope(), id); errors.Is(err, store.ErrNotFound) {
			return nil, renewal.Errorf(renewal.CodeActionNotAllowed, "", "no transfer was sent yet: start the verification first")
		}
		return nil, StoreError(result, "")
	case errors.Is(result, store.ErrUsed):
		return nil, renewal.Errorf(renewal.CodeActionNotAllowed, "", "the transfer code was already accepted")
	}
	return nil, StoreError(result, "")
}
