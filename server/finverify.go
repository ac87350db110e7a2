package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

const codePurposeFinVerify = "finverify"

func (s *Server) finVerifyView(a *renewal.Application, f *store.FinVerifyAttempt) renewal.FinVerifyStatus {
	st := renewal.FinVerifyStatus{State: a.FinVerify, Account: a.Form.Bank.Masked(), BankName: a.Form.Bank.BankName,
		TriesLeft: s.cfg.Policy.FinVerifyMaxTries}
	if f != nil {
		t := f.SentAt
		st.SentAt = &t
		st.Account, st.BankName = f.Bank.Masked(), f.Bank.BankName
		st.TriesLeft = max(0, f.MaxTries-f.Tries)
	}
	return st
}

func (s *Server) finVerifyStatus(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	a, err := s.store.Application(r.Context(), scope(r.Context()), id)
	if err != nil {
		return storeErr(err, "")
	}
	f, err := s.store.LatestFinVerifyAttempt(r.Context(), scope(r.Context()), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	writeJSON(w, http.StatusOK, s.finVerifyView(a, f))
	return nil
}

// transfer sends a verification transfer for application id and records it
// with the action (start_finverify or correct_bank, which may also replace
// the bank account) in one transaction. The bank is called first, outside
// the transaction, so the database is never held across it; its reference
// makes a retry idempotent at the bank.
func (s *Server) transfer(w http.ResponseWriter, r *http.Request, id string, version int64, action renewal.Action, newBank *renewal.BankAccount) error {
	if err := checkID(id); err != nil {
		return err
	}
	p := principalOf(r.Context())
	a, err := s.store.Application(r.Context(), scope(r.Context()), id)
	if err != nil {
		return storeErr(err, "")
	}
	if a.Version != version {
		return renewal.NewError(renewal.CodeStaleVersion, "version")
	}
	if _, err := renewal.Apply(a.State, s.cfg.Policy, p.user.Role, action); err != nil {
		return err
	}
	acct := a.Form.Bank
	if newBank != nil {
		acct = *newBank
	}
	sends, err := s.store.CountFinVerifyAttempts(r.Context(), scope(r.Context()), id)
	if err != nil {
		return storeErr(err, "")
	}
	if sends >= s.cfg.Limits.MaxTransfers {
		return renewal.Errorf(renewal.CodeRateLimited, "", "at most %d verification transfers an application", s.cfg.Limits.MaxTransfers)
	}
	code, err := auth.NewCode(renewal.FinVerifyCodeDigits)
	if err != nil {
		return err
	}
	ref := fmt.Sprintf("fv-%s-%d", id, version)
	err = s.bank.Transfer(r.Context(), bank.Transfer{Reference: ref, AccountName: acct.AccountName, BankName: acct.BankName,
		AccountNumber: acct.AccountNumber, AmountFen: bank.AmountFen, Remark: "UKey续期验证码" + code})
	if errors.Is(err, bank.ErrRejected) {
		return renewal.Errorf(renewal.CodeBankAccount, "bank.account_number", "the bank refused the transfer: check the account")
	}
	if err != nil {
		return fmt.Errorf("bank transfer: %w", err)
	}
	s.metrics.count("finverify_transfer")
	f := &store.FinVerifyAttempt{ApplicationID: id, CodeHash: s.pepper.HashCode(codePurposeFinVerify, id, code),
		MaxTries: s.cfg.Policy.FinVerifyMaxTries, Bank: acct, AmountFen: bank.AmountFen}
	out, err := s.act(r, id, version, action, func(tx *store.Tx, a *renewal.Application) error {
		a.Form.Bank = acct
		return tx.AddFinVerifyAttempt(r.Context(), f, s.change(r, "finverify.transfer"))
	})
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(out.Version))
	writeJSON(w, http.StatusOK, s.finVerifyView(out, f))
	return nil
}

func (s *Server) finVerifyStart(w http.ResponseWriter, r *http.Request) error {
	var req renewal.VersionRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	return s.transfer(w, r, r.PathValue("id"), req.Version, renewal.ActionStartFinVerify, nil)
}

func (s *Server) finVerifyBank(w http.ResponseWriter, r *http.Request) error {
	var req renewal.CorrectBankRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	return s.transfer(w, r, r.PathValue("id"), req.Version, renewal.ActionCorrectBank, &req.Bank)
}

func (s *Server) finVerifyCode(w http.ResponseWriter, r *http.Request) error {
	var req renewal.FinVerifyCodeRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	p := principalOf(r.Context())
	a, err := s.store.Application(r.Context(), scope(r.Context()), id)
	if err != nil {
		return storeErr(err, "")
	}
	// Refuse before counting a try when the state does not take a code.
	if _, err := renewal.Apply(a.State, s.cfg.Policy, p.user.Role, renewal.ActionSubmitFinVerify); err != nil {
		return err
	}
	out, result := s.store.SubmitFinVerifyCode(r.Context(), scope(r.Context()), id, req.Version,
		s.pepper.HashCode(codePurposeFinVerify, id, req.Code), s.change(r, "application.submit_finverify"),
		func(a *renewal.Application, result error) error {
			action, role := renewal.ActionSubmitFinVerify, p.user.Role
			if result != nil {
				action, role = renewal.ActionFailFinVerify, renewal.RoleSystem
			}
			next, err := renewal.Apply(a.State, s.cfg.Policy, role, action)
			if err != nil {
				return err
			}
			a.State = next
			return nil
		})
	switch {
	case result == nil:
	case errors.Is(result, store.ErrMismatch):
		left := s.cfg.Policy.FinVerifyMaxTries
		if f, err := s.store.LatestFinVerifyAttempt(r.Context(), scope(r.Context()), id); err == nil {
			left = max(0, f.MaxTries-f.Tries)
		}
		return renewal.Errorf(renewal.CodeFinVerifyCodeWrong, "code", "wrong transfer code; %d tries left", left)
	case errors.Is(result, store.ErrTooManyTries):
		return renewal.NewError(renewal.CodeFinVerifyTooManyTries, "code")
	case errors.Is(result, store.ErrNotFound) && out == nil:
		if _, err := s.store.LatestFinVerifyAttempt(r.Context(), scope(r.Context()), id); errors.Is(err, store.ErrNotFound) {
			return renewal.Errorf(renewal.CodeActionNotAllowed, "", "no transfer was sent yet: start the verification first")
		}
		return storeErr(result, "")
	case errors.Is(result, store.ErrUsed):
		return renewal.Errorf(renewal.CodeActionNotAllowed, "", "the transfer code was already accepted")
	default:
		return storeErr(result, "")
	}
	s.writeApplication(w, r, http.StatusOK, out)
	return nil
}
