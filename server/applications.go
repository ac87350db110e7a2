package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// present fills in what the caller may do next.
func (s *Server) present(ctx context.Context, a *renewal.Application) {
	a.Actions = renewal.AllowedActions(a.State, s.cfg.Policy, principalOf(ctx).user.Role)
}

func etag(version int64) string { return fmt.Sprintf(`"v%d"`, version) }

func (s *Server) writeApplication(w http.ResponseWriter, r *http.Request, status int, a *renewal.Application) {
	s.present(r.Context(), a)
	w.Header().Set("ETag", etag(a.Version))
	writeJSON(w, status, a)
}

// act takes action on application id at version in one write transaction:
// the store checks scope and version, renewal.Apply checks the states table
// for the caller's role and policy, then more (may be nil) finishes the
// change; the store saves it at version+1 and audits before and after. Any
// error keeps nothing.
func (s *Server) act(r *http.Request, id string, version int64, action renewal.Action,
	more func(tx *store.Tx, a *renewal.Application) error) (*renewal.Application, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	role := principalOf(r.Context()).user.Role
	var out *renewal.Application
	err := s.store.Write(r.Context(), func(tx *store.Tx) error {
		var err error
		out, err = tx.UpdateApplication(r.Context(), scope(r.Context()), id, version, s.change(r, "application."+string(action)),
			func(a *renewal.Application) error {
				next, err := renewal.Apply(a.State, s.cfg.Policy, role, action)
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
		return nil, storeErr(err, "")
	}
	return out, nil
}

func (s *Server) eligibility(w http.ResponseWriter, r *http.Request) error {
	e, err := s.apps.Eligibility(r.Context(), s.caller(r), renewal.EligibilityRequest{Serial: r.PathValue("serial")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) createApplication(w http.ResponseWriter, r *http.Request) error {
	if err := renewals.MayCreate(s.caller(r)); err != nil {
		return err
	}
	var req renewal.CreateApplicationRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	a, err := s.apps.Create(r.Context(), s.caller(r), req)
	if err != nil {
		return err
	}
	s.writeApplication(w, r, http.StatusCreated, a)
	return nil
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request) error {
	a, err := s.apps.Get(r.Context(), s.caller(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag(a.Version) {
		w.Header().Set("ETag", etag(a.Version))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	s.writeApplication(w, r, http.StatusOK, a)
	return nil
}

func (s *Server) updateApplication(w http.ResponseWriter, r *http.Request) error {
	var req renewal.UpdateApplicationRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	a, err := s.apps.Update(r.Context(), s.caller(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	s.writeApplication(w, r, http.StatusOK, a)
	return nil
}

// versionFrom reads the version of a bodiless request: If-Match "vN" or ?version=N.
func versionFrom(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("version")
	if im := r.Header.Get("If-Match"); im != "" {
		v = strings.TrimPrefix(strings.Trim(strings.TrimPrefix(im, "W/"), `"`), "v")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, renewal.Errorf(renewal.CodeRequired, "version", "send the version you last read (If-Match or ?version=)")
	}
	return n, nil
}

func (s *Server) deleteApplication(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err // before the version, as ever
	}
	version, err := versionFrom(r)
	if err != nil {
		return err
	}
	if err := s.apps.Delete(r.Context(), s.caller(r), id, version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) error {
	var req renewal.SubmitRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	a, err := s.apps.Submit(r.Context(), s.caller(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	s.writeApplication(w, r, http.StatusOK, a)
	return nil
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) error {
	var req renewal.VersionRequest
	if err := readRequest(w, r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return err
	}
	if s.pay != nil {
		a, err := s.store.Application(r.Context(), scope(r.Context()), id)
		if err != nil {
			return storeErr(err, "")
		}
		if a.Payment == renewal.PaymentPaid {
			// Refused by the states table before the payment module hears of it.
			if _, err := renewal.Apply(a.State, s.cfg.Policy, principalOf(r.Context()).user.Role, renewal.ActionCancel); err != nil {
				return err
			}
			if err := s.refundBlockedByInvoice(r, id); err != nil {
				return err
			}
			// The refund and the cancel are one transaction.
			handled, err := s.cancelPaid(r, id, req.Version)
			if err != nil {
				return err
			}
			if handled {
				if a, err = s.store.Application(r.Context(), scope(r.Context()), id); err != nil {
					return storeErr(err, "")
				}
				s.writeApplication(w, r, http.StatusOK, a)
				return nil
			}
		}
	}
	a, err := s.act(r, id, req.Version, renewal.ActionCancel, nil)
	if err != nil {
		return err
	}
	if s.pay != nil {
		// A QR code still on the clerk's screen is closed, so no money comes
		// for a cancelled application; if it was paid meanwhile the payment
		// is credited (and an admin refunds it).
		if o, err := s.pay.CloseOpen(r.Context(), id); err != nil {
			s.log.WarnContext(r.Context(), "close the QR order of a cancelled application", "application", id, "err", err.Error())
		} else if o.State == payment.OrderPaid {
			if a, err = s.store.Application(r.Context(), scope(r.Context()), id); err != nil {
				return storeErr(err, "")
			}
		}
	}
	s.writeApplication(w, r, http.StatusOK, a)
	return nil
}

func (s *Server) review(action renewal.Action) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req renewal.ReviewRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		a, err := s.apps.Review(r.Context(), s.caller(r), r.PathValue("id"), action, req)
		if err != nil {
			return err
		}
		s.writeApplication(w, r, http.StatusOK, a)
		return nil
	}
}

func parsePageSize(v string, dst *int) error {
	if v == "" {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return renewal.Errorf(renewal.CodeInvalidField, "page_size", "page_size is a number")
	}
	*dst = n
	return nil
}

func (s *Server) listApplications(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := renewal.ListApplicationsRequest{
		CertSerial: q.Get("cert_serial"), OrganisationID: q.Get("organisation_id"), Query: q.Get("q"), PageToken: q.Get("page_token"),
	}
	for _, v := range q["status"] {
		req.Status = append(req.Status, renewal.Status(v))
	}
	for _, v := range q["payment"] {
		req.Payment = append(req.Payment, renewal.Payment(v))
	}
	for _, v := range q["finverify"] {
		req.FinVerify = append(req.FinVerify, renewal.FinVerify(v))
	}
	if err := parsePageSize(q.Get("page_size"), &req.PageSize); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	return s.writePage(w, r, req)
}

func (s *Server) writePage(w http.ResponseWriter, r *http.Request, req renewal.ListApplicationsRequest) error {
	page, err := s.apps.List(r.Context(), s.caller(r), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) reviewQueue(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := renewal.ListApplicationsRequest{PageToken: q.Get("page_token")}
	if err := parsePageSize(q.Get("page_size"), &req.PageSize); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	req.Status = []renewal.Status{renewal.StatusPendingReview, renewal.StatusOnHold}
	return s.writePage(w, r, req)
}

// SetPaymentState moves an application's payment state as the payment
// module does (role system, the states table, its audit entry), inside a
// store transaction: for tests and tools that stand in for a payment.
func (s *Server) SetPaymentState(ctx context.Context, tx *store.Tx, applicationID string, state renewal.Payment) (*renewal.Application, error) {
	return setPaymentState(ctx, tx, s.cfg.Policy, applicationID, state)
}

// Issued reports whether the renewed certificate of an application was
// issued (then a cancellation is not refunded).
func (s *Server) Issued(ctx context.Context, tx *store.Tx, applicationID string) (bool, error) {
	return issuedIn(ctx, tx, applicationID)
}
