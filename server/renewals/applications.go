package renewals

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Eligibility says whether the certificate of req may be renewed now, and
// names the caller's open application for it if there is one.
func (s *Service) Eligibility(ctx context.Context, c Caller, req renewal.EligibilityRequest) (*renewal.Eligibility, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	kc, err := s.knownCertificate(ctx, c, renewal.NormalizeSerial(req.Serial))
	if err != nil {
		return nil, err
	}
	e := s.policy.Eligibility(kc.Certificate, s.now())
	if !renewsAsIs(kc) {
		e.RekeyRequired = true
	}
	switch next, err := s.store.Successor(ctx, kc.Serial); {
	case err == nil:
		e.Supersede(next)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	switch a, err := s.store.OpenApplicationFor(ctx, c.Scope(), kc.Serial); {
	case err == nil:
		e.OpenApplicationID = a.ID
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return &e, nil
}

// knownCertificate finds a certificate the caller may renew; unknown ones
// and other organisations' answer not_eligible alike.
func (s *Service) knownCertificate(ctx context.Context, c Caller, serial string) (*store.CertificateRecord, error) {
	kc, err := s.store.Certificate(ctx, c.Scope(), serial)
	if errors.Is(err, store.ErrNotFound) {
		return nil, renewal.Errorf(renewal.CodeNotEligible, "cert_serial", "the CA does not know certificate %s", serial)
	}
	return kc, err
}

// renewsAsIs reports whether the issuer renews certificate kc's key as it
// is: issuer.CheckKey, the rule issuance applies to the key it certifies.
// A key it refuses (RSA under 2048 bits, a curve other than P-256, P-384
// or SM2) is renewed only with a new key pair.
func renewsAsIs(kc *store.CertificateRecord) bool {
	pub, err := smx509.ParsePKIXPublicKey(kc.PublicKey)
	return err == nil && issuer.CheckKey(pub) == nil
}

// rekey says whether application a's renewal makes a new key pair: asked
// for, required by the policy, or the old key no longer renewed as it is.
func (s *Service) rekey(asked bool, kc *store.CertificateRecord) bool {
	return asked || s.policy.RekeyRequired || !renewsAsIs(kc)
}

// MayCreate refuses anyone but a clerk of an organisation: only they start
// a renewal. Create checks it too; the HTTP layer asks first, before it
// reads the request.
func MayCreate(c Caller) error {
	if c.User.Role != renewal.RoleClerk || c.User.OrganisationID == "" {
		return renewal.Errorf(renewal.CodeForbidden, "", "only a clerk of an organisation starts a renewal")
	}
	return nil
}

// Create starts the renewal of a certificate the caller's organisation
// holds, within the policy's window; without a form it is pre-filled.
func (s *Service) Create(ctx context.Context, c Caller, req renewal.CreateApplicationRequest) (*renewal.Application, error) {
	if err := MayCreate(c); err != nil {
		return nil, err
	}
	kc, err := s.knownCertificate(ctx, c, req.CertSerial)
	if err != nil {
		return nil, err
	}
	if next, err := s.store.Successor(ctx, kc.Serial); err == nil {
		if _, err := s.store.OpenApplicationFor(ctx, c.Scope(), kc.Serial); err == nil {
			// Issued, not yet installed: the renewal is to be finished.
			return nil, errInProgress()
		}
		return nil, renewal.Superseded("cert_serial", next)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err := s.policy.CheckRenewable(kc.Certificate, s.now()); err != nil {
		e := renewal.AsError(err)
		e.Field = "cert_serial"
		return nil, e
	}
	org, err := s.store.Organisation(ctx, kc.OrganisationID)
	if err != nil {
		return nil, fmt.Errorf("organisation of certificate %s: %w", kc.Serial, err)
	}
	if req.Form != nil {
		if err := matchRegistered(*req.Form, registeredOrg(org), "form."); err != nil {
			return nil, err
		}
	}
	form, err := s.prefill(ctx, c, kc, org, req.Form)
	if err != nil {
		return nil, err
	}
	price, _ := s.policy.PriceFen(form.Years)
	a := &renewal.Application{OrganisationID: kc.OrganisationID, CreatedBy: c.User.ID, CertSerial: kc.Serial,
		Form: form, State: renewal.InitialState(s.policy), Rekey: s.rekey(req.Rekey, kc), PriceFen: price}
	err = s.store.Write(ctx, func(tx *store.Tx) error {
		if err := tx.CreateApplication(ctx, a, c.Change("application.create")); err != nil {
			return err
		}
		// Checked after the insert, in its transaction: a renewal that
		// completes meanwhile (its application no longer open, so the
		// insert went through) is seen here and the insert undone.
		return s.notSuperseded(ctx, tx, kc.Serial)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, errInProgress()
	}
	if err != nil {
		return nil, err
	}
	return s.present(c, a), nil
}

// errInProgress refuses a second open application for a certificate.
func errInProgress() error {
	return renewal.Errorf(renewal.CodeConflict, "cert_serial", "an application for this certificate is already in progress")
}

// notSuperseded refuses to renew certificate serial again once it was
// renewed (its successor issued).
func (s *Service) notSuperseded(ctx context.Context, tx *store.Tx, serial string) error {
	next, err := tx.Successor(ctx, serial)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return renewal.Superseded("cert_serial", next)
}

// registeredOrg is the organisation as the CA registered it.
func registeredOrg(o *store.Organisation) renewal.Organisation {
	return renewal.Organisation{Name: o.Name, CreditCode: o.CreditCode}
}

// matchOrg refuses a form whose organisation is not the one application
// a's certificate is registered to, or whose bank account is not that
// organisation's; prefix as MatchRegistered's.
func (s *Service) matchOrg(ctx context.Context, tx *store.Tx, a *renewal.Application, f renewal.ApplicationForm, prefix string) error {
	org, err := tx.Organisation(ctx, a.OrganisationID)
	if err != nil {
		return fmt.Errorf("organisation of application %s: %w", a.ID, err)
	}
	return matchRegistered(f, registeredOrg(org), prefix)
}

// matchRegistered refuses form f unless its organisation is the
// registered one and its bank account bears the registered name: the
// verification transfer goes to no one else's account.
func matchRegistered(f renewal.ApplicationForm, registered renewal.Organisation, prefix string) error {
	if err := f.Organisation.MatchRegistered(registered, prefix); err != nil {
		return err
	}
	return f.Bank.MatchHolder(registered, prefix)
}

// prefill returns the given form, or the organisation's last application's
// form, or one started from the certificate; a pre-filled form names the
// organisation as registered (org), even if it was renamed since the last
// application.
func (s *Service) prefill(ctx context.Context, c Caller, kc *store.CertificateRecord, org *store.Organisation, given *renewal.ApplicationForm) (renewal.ApplicationForm, error) {
	if given != nil {
		return *given, nil
	}
	last, err := s.store.LastApplication(ctx, c.Scope(), kc.OrganisationID)
	switch {
	case err == nil:
		f := last.Form
		if f.Years < renewal.MinYears || f.Years > renewal.MaxYears {
			f.Years = 1
		}
		f.Organisation = registeredOrg(org)
		return f, nil
	case !errors.Is(err, store.ErrNotFound):
		return renewal.ApplicationForm{}, err
	}
	f := renewal.ApplicationForm{Years: 1, Invoice: renewal.Invoice{Kind: renewal.InvoiceNone}, Pickup: renewal.Pickup{Method: renewal.PickupOnSite}}
	f.Organisation, f.Bank.AccountName = registeredOrg(org), org.Name
	return f, nil
}

// Get reads application id as the caller sees it.
func (s *Service) Get(ctx context.Context, c Caller, id string) (*renewal.Application, error) {
	a, err := s.load(ctx, c, id, "")
	if err != nil {
		return nil, err
	}
	return s.present(c, a), nil
}

// Update replaces the form of a draft (action edit). The price follows
// the years while nothing is paid: a QR code still open at the old price
// is closed first, so the old amount can no longer be paid for the new
// years. Once paid, the years (and the price) stay: a change is refused
// (price_locked), unless it goes back to years whose price is what was
// paid.
func (s *Service) Update(ctx context.Context, c Caller, id string, req renewal.UpdateApplicationRequest) (*renewal.Application, error) {
	price, _ := s.policy.PriceFen(req.Form.Years)
	var paid int64
	if s.pay != nil {
		a, err := s.load(ctx, c, id, renewal.ActionEdit)
		if err != nil {
			return nil, err
		}
		if a.Payment == renewal.PaymentUnpaid && price != a.PriceFen {
			// If it was paid meanwhile, it is paid now and the change
			// below is refused.
			if _, err := s.pay.CloseOpen(ctx, id); err != nil {
				return nil, fmt.Errorf("close the QR order of %s before its price changes: %w", id, err)
			}
		}
		if paid, err = s.pay.PaidFen(ctx, id); err != nil {
			return nil, err
		}
	}
	return s.act(ctx, c, id, req.Version, renewal.ActionEdit, func(tx *store.Tx, a *renewal.Application) error {
		if err := s.matchOrg(ctx, tx, a, req.Form, "form."); err != nil {
			return err
		}
		kc, err := tx.Certificate(ctx, c.Scope(), a.CertSerial)
		if err != nil {
			return fmt.Errorf("certificate of application %s: %w", a.ID, err)
		}
		switch {
		case a.Payment == renewal.PaymentUnpaid:
			a.PriceFen = price
		case req.Form.Years == a.Form.Years:
			// Paid: the price stays what it was, even if the policy's changed.
		case paid > 0 && price == paid:
			a.PriceFen = price
		default:
			return renewal.Errorf(renewal.CodePriceLocked, "form.years",
				"the application is paid (%s) for %d years: the period can no longer be changed; cancel it (refunded) and apply again", a.Payment, a.Form.Years)
		}
		a.Form = req.Form
		a.Rekey = s.rekey(req.Rekey, kc)
		return nil
	})
}

// Delete deletes application id at version (action delete).
func (s *Service) Delete(ctx context.Context, c Caller, id string, version int64) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if s.pay != nil {
		// A draft may have a live QR code (pay before review): it is closed
		// first, so no money comes for a deleted application; if it was paid
		// meanwhile the application is paid now and the delete is refused.
		if _, err := s.load(ctx, c, id, ""); err != nil {
			return err
		}
		if _, err := s.pay.CloseOpen(ctx, id); err != nil {
			return fmt.Errorf("close the QR order before deleting %s: %w", id, err)
		}
	}
	err := s.store.DeleteApplication(ctx, c.Scope(), id, version, c.Change("application.delete"),
		func(a *renewal.Application) error { return s.allowed(c, a, renewal.ActionDelete) })
	return StoreError(err, "")
}

// Submit sends a draft to review; the form must be complete by then, and
// a paid one paid in full (paidInFull).
func (s *Service) Submit(ctx context.Context, c Caller, id string, req renewal.SubmitRequest) (*renewal.Application, error) {
	if err := s.mayProceed(ctx, c, id); err != nil {
		return nil, err
	}
	return s.act(ctx, c, id, req.Version, renewal.ActionSubmit, func(tx *store.Tx, a *renewal.Application) error {
		// A pre-filled draft may be incomplete; review needs it whole.
		a.Form.Normalize()
		if err := a.Form.ValidateAt(s.now()); err != nil {
			return err
		}
		if err := s.matchOrg(ctx, tx, a, a.Form, ""); err != nil {
			return err
		}
		now := s.now().UTC()
		a.Comment = strings.TrimSpace(req.Comment)
		a.SubmittedAt = &now
		return nil
	})
}

// mayProceed reads application id as the caller sees it and refuses it if
// it is paid, but not in full (paidInFull). Read before the change's
// transaction: a paid application's price no longer changes (Update).
func (s *Service) mayProceed(ctx context.Context, c Caller, id string) error {
	a, err := s.load(ctx, c, id, "")
	if err != nil {
		return err
	}
	return s.paidInFull(ctx, a)
}

// Review is a reviewer's approve, reject, hold or release.
func (s *Service) Review(ctx context.Context, c Caller, id string, action renewal.Action, req renewal.ReviewRequest) (*renewal.Application, error) {
	if err := req.ValidateFor(action); err != nil {
		return nil, err
	}
	if action == renewal.ActionApprove {
		if err := s.mayProceed(ctx, c, id); err != nil {
			return nil, err
		}
	}
	return s.act(ctx, c, id, req.Version, action, func(tx *store.Tx, a *renewal.Application) error {
		now := s.now().UTC()
		a.ReviewedAt = &now
		a.ReviewReason = strings.TrimSpace(req.Reason)
		return nil
	})
}

// List pages through the applications the caller sees that match req.
func (s *Service) List(ctx context.Context, c Caller, req renewal.ListApplicationsRequest) (*renewal.ApplicationPage, error) {
	items, next, err := s.store.ListApplications(ctx, c.Scope(), req)
	if err != nil {
		return nil, StoreError(err, "")
	}
	page := &renewal.ApplicationPage{Items: make([]renewal.Application, 0, len(items)), NextPageToken: next}
	for _, a := range items {
		page.Items = append(page.Items, *s.present(c, a))
	}
	return page, nil
}
