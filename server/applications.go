package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

func etag(version int64) string { return fmt.Sprintf(`"v%d"`, version) }

// writeApplication answers an application, its version as the ETag.
func writeApplication(w http.ResponseWriter, status int, a *renewal.Application) {
	w.Header().Set("ETag", etag(a.Version))
	writeJSON(w, status, a)
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
	if err := s.readRequestAt(w, r, &req); err != nil {
		return err
	}
	a, err := s.apps.Create(r.Context(), s.caller(r), req)
	if err != nil {
		return err
	}
	writeApplication(w, http.StatusCreated, a)
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
	writeApplication(w, http.StatusOK, a)
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
	if err := renewals.CheckID(id); err != nil {
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
		writeApplication(w, http.StatusOK, a)
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
	return s.apps.SetPaymentState(ctx, tx, applicationID, state)
}

// Issued reports whether the renewed certificate of an application was
// issued (then a cancellation is not refunded).
func (s *Server) Issued(ctx context.Context, tx *store.Tx, applicationID string) (bool, error) {
	return s.apps.Issued(ctx, tx, applicationID)
}
