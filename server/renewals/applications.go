package renewals

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emmansun/gmsm/smx509"
	"github.com/ukeyrenew/ukeyrenew/renewal"
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
	if err := s.policy.CheckWindow(kc.NotAfter, s.now()); err != nil {
		e := renewal.AsError(err)
		e.Field = "cert_serial"
		return nil, e
	}
	form, err := s.prefill(ctx, c, kc, req.Form)
	if err != nil {
		return nil, err
	}
	price, _ := s.policy.PriceFen(form.Years)
	a := &renewal.Application{OrganisationID: kc.OrganisationID, CreatedBy: c.User.ID, CertSerial: kc.Serial,
		Form: form, State: renewal.InitialState(s.policy), Rekey: req.Rekey || s.policy.RekeyRequired, PriceFen: price}
	if err := s.store.CreateApplication(ctx, a, c.Change("application.create")); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, renewal.Errorf(renewal.CodeConflict, "cert_serial", "an application for this certificate is already in progress")
		}
		return nil, err
	}
	return s.present(c, a), nil
}

// prefill returns the given form, or the organisation's last application's
// form, or one started from the certificate (the holder's organisation).
func (s *Service) prefill(ctx context.Context, c Caller, kc *store.CertificateRecord, given *renewal.ApplicationForm) (renewal.ApplicationForm, error) {
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
		return f, nil
	case !errors.Is(err, store.ErrNotFound):
		return renewal.ApplicationForm{}, err
	}
	f := renewal.ApplicationForm{Years: 1, Invoice: renewal.Invoice{Kind: renewal.InvoiceNone}, Pickup: renewal.Pickup{Method: renewal.PickupOnSite}}
	f.Organisation.Name = kc.Holder
	if cert, err := smx509.ParseCertificate(kc.DER); err == nil && len(cert.Subject.Organization) > 0 {
		f.Organisation.Name = cert.Subject.Organization[0]
	}
	f.Bank.AccountName = f.Organisation.Name
	if o, err := s.store.Organisation(ctx, kc.OrganisationID); err == nil {
		f.Organisation.Name, f.Organisation.CreditCode, f.Bank.AccountName = o.Name, o.CreditCode, o.Name
	}
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

// Update replaces the form of a draft (action edit); the price follows
// the years.
func (s *Service) Update(ctx context.Context, c Caller, id string, req renewal.UpdateApplicationRequest) (*renewal.Application, error) {
	return s.act(ctx, c, id, req.Version, renewal.ActionEdit, func(tx *store.Tx, a *renewal.Application) error {
		a.Form = req.Form
		a.Rekey = req.Rekey || s.policy.RekeyRequired
		a.PriceFen, _ = s.policy.PriceFen(req.Form.Years)
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

// Submit sends a draft to review; the form must be complete by then.
func (s *Service) Submit(ctx context.Context, c Caller, id string, req renewal.SubmitRequest) (*renewal.Application, error) {
	return s.act(ctx, c, id, req.Version, renewal.ActionSubmit, func(tx *store.Tx, a *renewal.Application) error {
		// A pre-filled draft may be incomplete; review needs it whole.
		a.Form.Normalize()
		if err := a.Form.ValidateAt(s.now()); err != nil {
			return err
		}
		now := s.now().UTC()
		a.Comment = strings.TrimSpace(req.Comment)
		a.SubmittedAt = &now
		return nil
	})
}

// Review is a reviewer's approve, reject, hold or release.
func (s *Service) Review(ctx context.Context, c Caller, id string, action renewal.Action, req renewal.ReviewRequest) (*renewal.Application, error) {
	if err := req.ValidateFor(action); err != nil {
		return nil, err
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
