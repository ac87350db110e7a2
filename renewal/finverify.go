package renewal

import "time"

// Financial verification wire types: the 0.01 CNY bank transfer check.

// FinVerifyStatus shows the bank transfer check.
type FinVerifyStatus struct {
	State     FinVerify  `json:"state"`
	Account   string     `json:"account"` // masked
	BankName  string     `json:"bank_name"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	TriesLeft int        `json:"tries_left"`
}

// FinVerifyCodeRequest submits the code from the transfer's remark.
// POST /v1/applications/{id}/finverify/code
type FinVerifyCodeRequest struct {
	Version int64  `json:"version"`
	Code    string `json:"code"`
}

// Validate checks the request.
func (r *FinVerifyCodeRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	fe.add("code", ValidateDigits(trim(r.Code), FinVerifyCodeDigits, CodeFinVerifyCode))
	return fe.err()
}

// CorrectBankRequest replaces the bank account after a failed check and
// starts a new transfer. POST /v1/applications/{id}/finverify/bank
type CorrectBankRequest struct {
	Version int64       `json:"version"`
	Bank    BankAccount `json:"bank"`
}

// Validate checks the request (normalising the account in place).
func (r *CorrectBankRequest) Validate() error {
	var fe fieldErrors
	fe.add("version", validateVersion(r.Version))
	r.Bank.AccountName = NormalizeLine(r.Bank.AccountName)
	r.Bank.BankName = NormalizeLine(r.Bank.BankName)
	r.Bank.AccountNumber = NormalizeBankAccount(r.Bank.AccountNumber)
	fe.add("bank", r.Bank.Validate())
	return fe.err()
}
