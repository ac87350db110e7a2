// Package bank makes the small transfer of financial verification
// (金融认证): the CA sends 0.01 CNY to the company's bank account with a
// random code in the remark; the clerk reads the code on the statement and
// types it in, which proves they control the account.
//
// The service depends on the Transferer interface. Outbox is the
// development transferer: it records each transfer (with its code) where a
// developer or a test can read it, and never moves money. A production
// adapter (the CA's bank's corporate API) implements the same interface.
package bank

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
)

// AmountFen is the verification amount: 0.01 CNY.
const AmountFen = 1

// Transfer is one verification payment.
type Transfer struct {
	// Reference is the service's id for the transfer (idempotency key).
	Reference     string    `json:"reference"`
	AccountName   string    `json:"account_name"`
	BankName      string    `json:"bank_name"`
	AccountNumber string    `json:"account_number"`
	AmountFen     int64     `json:"amount_fen"`
	Remark        string    `json:"remark"` // holds the code
	At            time.Time `json:"at"`
}

// Transferer sends a verification transfer.
type Transferer interface {
	Transfer(ctx context.Context, t Transfer) error
}

// ErrRejected means the bank refused the transfer (closed or unknown account).
var ErrRejected = errors.New("bank: transfer rejected")

var accountRE = regexp.MustCompile(`^[0-9]{8,32}$`)

// Validate checks a transfer before it is sent.
func (t Transfer) Validate() error {
	switch {
	case t.Reference == "" || len(t.Reference) > 64:
		return errors.New("bank: reference must be 1 to 64 characters")
	case t.AccountName == "" || len([]rune(t.AccountName)) > 100:
		return errors.New("bank: account name must be 1 to 100 characters")
	case t.BankName == "" || len([]rune(t.BankName)) > 100:
		return errors.New("bank: bank name must be 1 to 100 characters")
	case !accountRE.MatchString(t.AccountNumber):
		return errors.New("bank: account number must be 8 to 32 digits")
	case t.AmountFen != AmountFen:
		return fmt.Errorf("bank: verification amount must be %d fen", AmountFen)
	case t.Remark == "" || len([]rune(t.Remark)) > 30:
		return errors.New("bank: remark must be 1 to 30 characters")
	}
	return nil
}

// OutboxCapacity is how many transfers an Outbox keeps.
const OutboxCapacity = 1000

// Outbox records transfers instead of making them. A transfer to an account
// number in Refuse is rejected, as a bank would for a closed account, so the
// "correct the bank account" path can be tried in development.
type Outbox struct {
	now    func() time.Time
	Refuse map[string]bool

	mu   sync.Mutex
	list []Transfer
}

// NewOutbox returns an empty outbox.
func NewOutbox(now func() time.Time) *Outbox {
	return &Outbox{now: now, Refuse: map[string]bool{}}
}

// Transfer implements Transferer; a repeated reference is recorded once.
func (o *Outbox) Transfer(ctx context.Context, t Transfer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Refuse[t.AccountNumber] {
		return fmt.Errorf("%w: account closed", ErrRejected)
	}
	for _, x := range o.list {
		if x.Reference == t.Reference {
			return nil
		}
	}
	t.At = o.now().UTC()
	if len(o.list) == OutboxCapacity {
		o.list = append(o.list[:0], o.list[1:]...)
	}
	o.list = append(o.list, t)
	return nil
}

// Transfers returns recorded transfers to accountNumber (all if empty).
func (o *Outbox) Transfers(accountNumber string) []Transfer {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Transfer
	for _, t := range o.list {
		if accountNumber == "" || t.AccountNumber == accountNumber {
			out = append(out, t)
		}
	}
	return out
}
