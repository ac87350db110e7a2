package server

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// auditStreamStall is how long an export may wait for the client to take
// the next MiB before the connection is dropped (the server's write timeout
// bounds a request; a long export extends it as it makes progress).
const (
	auditStreamStall = 60 * time.Second
	auditStreamStep  = 1 << 20
	// auditBusyRetry is the Retry-After of an export or verification
	// refused because AuditStreams are running.
	auditBusyRetry = 10
)

// auditSlot takes one of the Limits.AuditStreams places for a walk over
// the whole log (export, verify), or refuses: each holds a database
// snapshot, and the log is as large as the service is old.
func (s *Server) auditSlot() (release func(), err error) {
	select {
	case s.auditStreams <- struct{}{}:
		return func() { <-s.auditStreams }, nil
	default:
		return nil, renewals.WithRetryAfter(renewal.NewError(renewal.CodeRateLimited, ""), auditBusyRetry)
	}
}

func (s *Server) auditVerify(w http.ResponseWriter, r *http.Request) error {
	release, err := s.auditSlot()
	if err != nil {
		return err
	}
	defer release()
	v, err := s.store.VerifyAudit(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// auditExport streams the log (GET /v1/audit/export?format=csv|json
// &since=RFC3339&until=RFC3339): each row is written as it is read, so
// memory does not grow with the log. A failure midway drops the
// connection: the client sees a cut transfer, never a complete-looking file.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var rng store.AuditRange
	if err := parseAuditTimes(q, &rng.Since, &rng.Until); err != nil {
		return err
	}
	format := q.Get("format")
	var export func(io.Writer) error
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		export = func(out io.Writer) error { return s.store.ExportAuditCSV(r.Context(), out, rng) }
	case "json":
		w.Header().Set("Content-Type", "application/json")
		export = func(out io.Writer) error { return s.store.ExportAuditJSON(r.Context(), out, rng) }
	default:
		return renewal.Errorf(renewal.CodeInvalidField, "format", "format is csv or json")
	}
	release, err := s.auditSlot()
	if err != nil {
		w.Header().Del("Content-Type")
		return err
	}
	defer release()
	w.Header().Set("Content-Disposition", `attachment; filename="audit.`+format+`"`)
	out := &progressWriter{w: w, rc: http.NewResponseController(w)}
	out.extend()
	if err := export(out); err != nil {
		if out.n == 0 {
			return err
		}
		if r.Context().Err() != nil {
			return nil // the client went away: nobody to tell
		}
		s.log.ErrorContext(r.Context(), "audit export cut", "err", err.Error(), "bytes", out.n)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// progressWriter counts what was written and moves the write deadline on
// every auditStreamStep bytes.
type progressWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	n    int64
	next int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.n >= p.next {
		p.extend()
	}
	return n, err
}

func (p *progressWriter) extend() {
	_ = p.rc.SetWriteDeadline(time.Now().Add(auditStreamStall)) // not every writer has deadlines
	p.next = p.n + auditStreamStep
}

// parseAuditTimes reads since and until (RFC 3339) from q.
func parseAuditTimes(q url.Values, since, until *time.Time) error {
	for name, dst := range map[string]*time.Time{"since": since, "until": until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return renewal.Errorf(renewal.CodeInvalidField, name, "%s is an RFC 3339 time", name)
			}
			*dst = t
		}
	}
	return nil
}

// auditList pages through the audit log (admin): GET /v1/audit?target=..
// &actor=..&workstation_id=..&since=RFC3339&until=RFC3339&after_seq=N&page_size=N, in
// sequence order; the next page starts after the last seq returned.
func (s *Server) auditList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := renewal.AuditQuery{Target: q.Get("target"), Actor: q.Get("actor"), WorkstationID: q.Get("workstation_id")}
	if err := parseAuditTimes(q, &req.Since, &req.Until); err != nil {
		return err
	}
	if v := q.Get("after_seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return renewal.Errorf(renewal.CodeInvalidField, "after_seq", "after_seq is a number")
		}
		req.AfterSeq = n
	}
	if err := parsePageSize(q.Get("page_size"), &req.PageSize); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	entries, err := s.store.ListAudit(r.Context(), req)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []renewal.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, struct {
		Items []renewal.AuditEntry `json:"items"`
	}{entries})
	return nil
}
