package renewals

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/auth"
	"github.com/ukeyrenew/ukeyrenew/server/bank"
	"github.com/ukeyrenew/ukeyrenew/server/invoice"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Deps are what the service is built from.
type Deps struct {
	Store  *store.Store
	Policy renewal.Policy
	Issuer issuer.Issuer
	Bank   bank.Transferer
	// Pepper keys the hashes of transfer codes.
	Pepper auth.Pepper
	// Payments takes the fee; nil: the payment methods answer that payments
	// are not configured.
	Payments *payment.Payments
	Now      func() time.Time
	Log      *slog.Logger
	// Count counts an event (certificate_issued, finverify_transfer); nil
	// counts nothing.
	Count func(event string)
	// Invoices issues e-invoices; nil: the invoice methods answer that
	// invoices are not configured.
	Invoices invoice.Issuer
	// InvoiceStuckAfter: a request still being issued after this (the
	// service died meanwhile) may be asked again.
	InvoiceStuckAfter time.Duration
	// InvoiceIssueTimeout bounds issuing an invoice and sending its link.
	InvoiceIssueTimeout time.Duration
	// ChallengeTTL is how long an issuance challenge lives.
	ChallengeTTL time.Duration
	// MaxTransfers bounds verification transfers per application.
	MaxTransfers int
	// MaxQROrdersPerDay bounds the payment QR orders an application makes
	// in payment.OrderLimitWindow; 0: no bound.
	MaxQROrdersPerDay int
}

// Service runs the application lifecycle; see the package doc.
type Service struct {
	store        *store.Store
	policy       renewal.Policy
	issuer       issuer.Issuer
	bank         bank.Transferer
	pepper       auth.Pepper
	pay          *payment.Payments
	now          func() time.Time
	log          *slog.Logger
	count        func(event string)
	challengeTTL time.Duration
	maxTransfers int
	maxQROrders  int

	invoices            invoice.Issuer
	invoiceStuckAfter   time.Duration
	invoiceIssueTimeout time.Duration
}

// New returns the service over d.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Count == nil {
		d.Count = func(string) {}
	}
	return &Service{store: d.Store, policy: d.Policy, issuer: d.Issuer, bank: d.Bank, pepper: d.Pepper, pay: d.Payments,
		now: d.Now, log: d.Log, count: d.Count, challengeTTL: d.ChallengeTTL, maxTransfers: d.MaxTransfers,
		invoices: d.Invoices, invoiceStuckAfter: d.InvoiceStuckAfter, invoiceIssueTimeout: d.InvoiceIssueTimeout,
		maxQROrders: d.MaxQROrdersPerDay}
}

// Caller is who asks: the signed-in user (its ID, Role and OrganisationID
// count), the address the request came from and the counter workstation,
// for the audit log.
type Caller struct {
	User renewal.User
	IP   string
	// WorkstationID is the counter workstation the caller signed in at,
	// recorded with each change ("" elsewhere).
	WorkstationID string
}

// Scope is what the caller may see: their organisation, or all for staff.
func (c Caller) Scope() store.Scope {
	if c.User.Role.IsStaff() {
		return store.AllScope()
	}
	return store.OrgScope(c.User.OrganisationID)
}

// Change describes the caller's change for the audit log.
func (c Caller) Change(action string) store.Change {
	actor := c.User.ID
	if actor == "" {
		actor = "anonymous"
	}
	return store.Change{Actor: actor, IP: c.IP, Action: action, WorkstationID: c.WorkstationID}
}

// StoreError maps the store's sentinel errors to the contract's codes;
// field names the request field a conflict or limit concerns.
func StoreError(err error, field string) error {
	var re *renewal.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return err
	case errors.Is(err, store.ErrNotFound):
		return renewal.Wrap(renewal.CodeNotFound, err)
	case errors.Is(err, store.ErrStaleVersion):
		e := renewal.NewError(renewal.CodeStaleVersion, "version")
		e.Err = err
		return e
	case errors.Is(err, store.ErrConflict):
		e := renewal.NewError(renewal.CodeConflict, field)
		e.Err = err
		return e
	case errors.Is(err, store.ErrPageToken):
		return renewal.NewError(renewal.CodePageToken, "page_token")
	case errors.Is(err, store.ErrReference):
		// A row names another that does not exist (or is not the caller's).
		return renewal.Wrap(renewal.CodeNotFound, err)
	case errors.Is(err, store.ErrInvalid):
		e := renewal.NewError(renewal.CodeInvalidRequest, field)
		e.Err = err
		return e
	case errors.Is(err, store.ErrLimit):
		e := renewal.Errorf(renewal.CodeTooLong, field, "limit reached")
		e.Err = err
		return e
	}
	return err
}

// CheckID refuses an id no row can have, as not found.
func CheckID(id string) error {
	if id == "" || len(id) > 64 {
		return renewal.NewError(renewal.CodeNotFound, "")
	}
	return nil
}

// present fills in what the caller may do next.
func (s *Service) present(c Caller, a *renewal.Application) *renewal.Application {
	a.Actions = renewal.AllowedActions(a.State, s.policy, c.User.Role)
	return a
}

// load reads application id as the caller sees it and, unless action is
// empty, checks that the states table lets the caller take action now.
// Every use of an existing application starts here (or in loadIn).
func (s *Service) load(ctx context.Context, c Caller, id string, action renewal.Action) (*renewal.Application, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	a, err := s.store.Application(ctx, c.Scope(), id)
	if err != nil {
		return nil, StoreError(err, "")
	}
	if err := s.allowed(c, a, action); err != nil {
		return nil, err
	}
	return a, nil
}

// loadIn is load inside a write transaction: the row is held until commit,
// so nothing slips in between the check and the change. Its store errors
// are left for the caller of Write to map.
func (s *Service) loadIn(ctx context.Context, tx *store.Tx, c Caller, id string, action renewal.Action) (*renewal.Application, error) {
	a, err := tx.Application(ctx, c.Scope(), id)
	if err != nil {
		return nil, err
	}
	if err := s.allowed(c, a, action); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Service) allowed(c Caller, a *renewal.Application, action renewal.Action) error {
	if action == "" {
		return nil
	}
	_, err := renewal.Apply(a.State, s.policy, c.User.Role, action)
	return err
}

// act takes action on application id at version in one write transaction:
// the store checks scope and version, renewal.Apply checks the states table
// for the caller's role and policy, then more (may be nil) finishes the
// change; the store saves it at version+1 and audits before and after. Any
// error keeps nothing.
func (s *Service) act(ctx context.Context, c Caller, id string, version int64, action renewal.Action,
	more func(tx *store.Tx, a *renewal.Application) error) (*renewal.Application, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	var out *renewal.Application
	err := s.store.Write(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.UpdateApplication(ctx, c.Scope(), id, version, c.Change("application."+string(action)),
			func(a *renewal.Application) error {
				next, err := renewal.Apply(a.State, s.policy, c.User.Role, action)
				if err != nil {
					return err
				}
				a.State = next
				if more != nil {
					return more(tx, a)
				}
				return nil
			})
		return err
	})
	if err != nil {
		return nil, StoreError(err, "")
	}
	return s.present(c, out), nil
}
