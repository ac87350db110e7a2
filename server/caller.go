package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// storeErr maps the store's sentinel errors to the contract's codes; field
// names the request field a conflict or limit concerns.
func storeErr(err error, field string) error {
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

// scope is what the caller may see: their organisation, or all for staff.
func scope(ctx context.Context) store.Scope {
	p := principalOf(ctx)
	if p.user.Role.IsStaff() {
		return store.AllScope()
	}
	return store.OrgScope(p.user.OrganisationID)
}

// change describes the caller's change for the audit log.
func (s *Server) change(r *http.Request, action string) store.Change {
	actor := principalOf(r.Context()).user.ID
	if actor == "" {
		actor = "anonymous"
	}
	return store.Change{Actor: actor, IP: s.clientIP(r), Action: action}
}

// userView is the wire form of a store user, with the organisation's name
// when withOrg (one more query: only for sign-in and /v1/me).
func (s *Server) userView(ctx context.Context, u *store.User, withOrg bool) renewal.User {
	v := renewal.User{ID: u.ID, Name: u.Name, Role: u.Role, Account: u.Account, OrganisationID: u.OrganisationID}
	if u.Mobile != "" {
		v.Mobile = renewal.MaskMobile(u.Mobile)
	}
	if withOrg && u.OrganisationID != "" {
		if o, err := s.store.Organisation(ctx, u.OrganisationID); err == nil {
			v.OrganisationName = o.Name
		}
	}
	return v
}
