package server

import (
	"context"
	"net/http"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// caller is who sends r, as the domain layer knows them.
func (s *Server) caller(r *http.Request) renewals.Caller {
	p := principalOf(r.Context())
	return renewals.Caller{User: p.user, IP: s.clientIP(r), WorkstationID: p.workstation}
}

// change describes the caller's change for the audit log.
func (s *Server) change(r *http.Request, action string) store.Change {
	return s.caller(r).Change(action)
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
