package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
)

// Request bodies. Every route that takes a body has its own limit (JSON
// MaxJSONBody, a public route's MaxPublicJSONBody, a payment notification
// payment.MaxNotificationBytes, a document upload Limits.MaxDocument): a
// Content-Length over it is refused before a byte is read, and a body
// without one is cut at the limit. The bytes a request may bring are
// reserved before it is read, at its Content-Length (or its limit when the
// length is not declared). A signed-in request takes them from two
// budgets: the process's (Limits.BodyBytesTotal) and its account's
// (Limits.BodyBytesPerAccount). A request before sign-in (sign-in, SMS
// codes, counter sessions, payment notifications) takes them from the
// anonymous budget (Limits.AnonBodyBytesTotal), apart from the process's,
// and its source's share of it (Limits.AnonBodyBytesPerSource; a source is
// an IPv4 address or an IPv6 /64): no anonymous sender, nor all of them,
// can take the bytes signed-in clerks upload with, and one source cannot
// take the others' sign-ins. A request that does not fit is refused at
// once, never queued: 429 rate_limited over an account's budget or a
// source's share, 503 busy over the process's or the anonymous budget, all
// with Retry-After (the client retries a 503 by itself). The reservation
// is held until the handler returns, so the bodies being read, spooled or
// written to the store at any moment add up to at most BodyBytesTotal +
// AnonBodyBytesTotal, whatever clients send.
//
// A JSON body or a notification is read within Limits.JSONBodyReadTimeout
// of the handler's start (the connection's read deadline): a sender that
// stalls is cut then, and its reservation given back, instead of holding
// it for the server's whole read timeout. Document uploads keep the
// server's.
//
// A document is not kept in memory while it arrives: it is spooled to a
// temporary file (hashed and its first bytes kept on the way) and read
// into memory once, inside the transaction that writes it to the store,
// within the reservation. A document sent to a client (getDocument) is
// reserved at its size from the same budgets.

// MaxPublicJSONBody bounds the body of a route used before sign-in (SMS
// codes, sign-in, refresh, counter sessions): a mobile number and a code,
// a user name and password, a token or a signature, all well under 1 KiB.
// It is what such a request reserves when it does not declare its length.
const MaxPublicJSONBody = 4 << 10

// bodyRetryAfter is the Retry-After (seconds) of a refusal over a budget:
// a body of the largest size arrives in about that time on a usual line.
const bodyRetryAfter = 2

// bodyBudget is a non-blocking weighted semaphore over body bytes: for the
// process and per account (signed-in requests), and for anonymous requests
// and per source.
type bodyBudget struct {
	mu        sync.Mutex
	signedIn  bodyPool
	anonymous bodyPool
}

// bodyPool is a budget of total bytes, of which each key may use share.
type bodyPool struct {
	total, share int64
	used         int64
	by           map[string]int64
}

func newBodyBudget(l Limits) *bodyBudget {
	return &bodyBudget{
		signedIn:  bodyPool{total: l.BodyBytesTotal, share: l.BodyBytesPerAccount, by: map[string]int64{}},
		anonymous: bodyPool{total: l.AnonBodyBytesTotal, share: l.AnonBodyBytesPerSource, by: map[string]int64{}},
	}
}

// acquire reserves n bytes for a signed-in user from the account's and the
// process's budgets (user "": the process's only) or says why not. release
// gives them back; call it once.
func (b *bodyBudget) acquire(user string, n int64) (release func(), err error) {
	return b.take(&b.signedIn, user, n, func(used int64) error {
		return renewal.Errorf(renewal.CodeRateLimited, "",
			"this account is already sending %d bytes; wait for its other uploads to finish", used)
	})
}

// acquireAnon reserves n bytes for a request before sign-in from source
// (sourceOf) from its share of the anonymous budget, as acquire.
func (b *bodyBudget) acquireAnon(source string, n int64) (release func(), err error) {
	return b.take(&b.anonymous, source, n, func(used int64) error {
		return renewal.Errorf(renewal.CodeRateLimited, "",
			"this address is already sending %d bytes; wait for its other requests to finish", used)
	})
}

func (b *bodyBudget) take(p *bodyPool, key string, n int64, overShare func(used int64) error) (release func(), err error) {
	if n <= 0 {
		return func() {}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if key != "" && p.by[key]+n > p.share {
		return nil, renewals.WithRetryAfter(overShare(p.by[key]), bodyRetryAfter)
	}
	if p.used+n > p.total {
		return nil, renewals.WithRetryAfter(renewal.NewError(renewal.CodeBusy, ""), bodyRetryAfter)
	}
	p.used += n
	if key != "" {
		p.by[key] += n
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			p.used -= n
			if key != "" {
				if p.by[key] -= n; p.by[key] <= 0 {
					delete(p.by, key)
				}
			}
		})
	}, nil
}

// bodyRule is a route's body limit and the code of a body over it.
type bodyRule struct {
	limit    int64
	tooLarge renewal.Code
}

type bodyRuleKey struct{}

func (br bodyRule) refuse() error {
	if br.tooLarge == renewal.CodeDocumentTooLarge {
		return renewal.Errorf(br.tooLarge, "", "the file exceeds %d bytes", br.limit)
	}
	return renewal.Errorf(br.tooLarge, "", "the request body exceeds %d bytes", br.limit)
}

// ruleOf is the request's body rule (MaxJSONBody outside bodyLimit).
func ruleOf(r *http.Request) bodyRule {
	if br, ok := r.Context().Value(bodyRuleKey{}).(bodyRule); ok {
		return br
	}
	return bodyRule{MaxJSONBody, renewal.CodeBodyTooLarge}
}

// jsonBody bounds a JSON route's body; see bodyLimit.
func (s *Server) jsonBody(h handlerFunc) handlerFunc {
	return s.smallBody(MaxJSONBody, h)
}

// publicBody bounds the body of a route used before sign-in.
func (s *Server) publicBody(h handlerFunc) handlerFunc {
	return s.smallBody(MaxPublicJSONBody, h)
}

// notifyBody bounds a payment notification's body (the provider's
// payment.MaxNotificationBytes).
func (s *Server) notifyBody(h http.HandlerFunc) handlerFunc {
	return s.smallBody(payment.MaxNotificationBytes, func(w http.ResponseWriter, r *http.Request) error {
		h(w, r)
		return nil
	})
}

// smallBody bounds a body of at most limit bytes, read within
// JSONBodyReadTimeout.
func (s *Server) smallBody(limit int64, h handlerFunc) handlerFunc {
	return s.bodyLimitWithin(bodyRule{limit, renewal.CodeBodyTooLarge}, s.cfg.Limits.JSONBodyReadTimeout, h)
}

// bodyLimit refuses a body declared over br.limit before reading it, cuts
// an undeclared one at br.limit, and reserves its bytes for as long as h
// runs: inside authed from the account's and the process's budgets, else
// from the source's share of the anonymous budget.
func (s *Server) bodyLimit(br bodyRule, h handlerFunc) handlerFunc {
	return s.bodyLimitWithin(br, 0, h)
}

// bodyLimitWithin is bodyLimit, the body to be read within readTimeout of
// h's start (0: the server's read timeout).
func (s *Server) bodyLimitWithin(br bodyRule, readTimeout time.Duration, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		r = r.WithContext(context.WithValue(r.Context(), bodyRuleKey{}, br))
		if r.Body == nil || r.Body == http.NoBody {
			return h(w, r)
		}
		if r.ContentLength > br.limit {
			refuseUnread(w)
			return br.refuse()
		}
		n := r.ContentLength
		if n < 0 {
			n = br.limit
		}
		var (
			release func()
			err     error
		)
		if user := principalOf(r.Context()).user.ID; user != "" {
			release, err = s.bodies.acquire(user, n)
		} else {
			release, err = s.bodies.acquireAnon(sourceOf(s.clientIP(r)), n)
		}
		if err != nil {
			s.metrics.count("body_refused")
			refuseUnread(w)
			return err
		}
		defer release()
		if readTimeout > 0 {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(readTimeout)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, br.limit)
		return h(w, r)
	}
}

// refuseUnread bounds the wait for a body that is refused unread. Before
// it answers, net/http reads what is left of a body under 256 KiB (to keep
// the connection), which a sender that stalls would hold up for the
// server's whole read timeout; now for refusedDrain at most, after which
// the answer goes out and the connection is closed. A larger rest closes
// the connection at once, as before.
func refuseUnread(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(refusedDrain))
}

// refusedDrain: what is left of a refused body of at most 256 KiB arrives
// within it on a usual line; the same as bodyRetryAfter.
const refusedDrain = bodyRetryAfter * time.Second

// deadlineBody lifts the read deadline bodyLimit set once the body has
// been read to its end: the connection is then read only to notice the
// client leaving (which cancels the request's context), and a handler may
// take longer than the body's deadline. A body not read to its end keeps
// the deadline, which then bounds what net/http discards of it.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// spool is a request body read to its end: in memory up to memMax bytes,
// else in a temporary file. Its SHA-256 and first bytes are known.
type spool struct {
	mem  []byte
	f    *os.File
	size int64
	sum  [32]byte
	head []byte // the first up to spoolHead bytes
}

const spoolHead = 512

// spoolBody reads r's body (already bounded by bodyLimit) to its end. A
// body over the route's limit is the route's too-large error. check, if
// given, sees the first bytes (spoolHead, or all if fewer) as soon as they
// are in: its error stops the reading there.
func spoolBody(r *http.Request, memMax int64, check func(head []byte) error) (*spool, error) {
	if sp, ok := r.Body.(*spoolReader); ok {
		// Read once already (idempotency).
		if check != nil {
			if err := check(sp.sp.head); err != nil {
				return nil, err
			}
		}
		return sp.sp, nil
	}
	h := sha256.New()
	sp := &spool{}
	buf := make([]byte, 32<<10)
	var mem []byte
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			h.Write(chunk)
			if len(sp.head) < spoolHead {
				sp.head = append(sp.head, chunk[:min(n, spoolHead-len(sp.head))]...)
				if check != nil && len(sp.head) == spoolHead {
					if cerr := check(sp.head); cerr != nil {
						sp.close()
						return nil, cerr
					}
					check = nil
				}
			}
			switch {
			case sp.f != nil:
				if _, werr := sp.f.Write(chunk); werr != nil {
					sp.close()
					return nil, fmt.Errorf("spool body: %w", werr)
				}
			case int64(len(mem)+n) <= memMax:
				mem = append(mem, chunk...)
			default:
				f, ferr := os.CreateTemp("", "renewd-body-*")
				if ferr != nil {
					return nil, fmt.Errorf("spool body: %w", ferr)
				}
				// Unlinked at once where the system allows it (Linux): the
				// file goes with the process, however that ends.
				_ = os.Remove(f.Name())
				sp.f = f
				if _, werr := f.Write(append(mem, chunk...)); werr != nil {
					sp.close()
					return nil, fmt.Errorf("spool body: %w", werr)
				}
				mem = nil
			}
			sp.size += int64(n)
		}
		if errors.Is(err, io.EOF) {
			if check != nil {
				if cerr := check(sp.head); cerr != nil {
					sp.close()
					return nil, cerr
				}
			}
			break
		}
		if err != nil {
			sp.close()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, ruleOf(r).refuse()
			}
			return nil, renewal.Errorf(renewal.CodeInvalidRequest, "", "the request body could not be read")
		}
	}
	sp.mem = mem
	copy(sp.sum[:], h.Sum(nil))
	return sp, nil
}

// reader reads the spooled body from its start.
func (sp *spool) reader() (io.Reader, error) {
	if sp.f == nil {
		return bytes.NewReader(sp.mem), nil
	}
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool body: %w", err)
	}
	return io.LimitReader(sp.f, sp.size), nil
}

// bytes returns the whole body in memory.
func (sp *spool) bytes() ([]byte, error) {
	if sp.f == nil {
		return sp.mem, nil
	}
	rd, err := sp.reader()
	if err != nil {
		return nil, err
	}
	data := make([]byte, sp.size)
	if _, err := io.ReadFull(rd, data); err != nil {
		return nil, fmt.Errorf("spool body: %w", err)
	}
	return data, nil
}

// close closes and removes the temporary file, if any.
func (sp *spool) close() {
	if sp.f != nil {
		_ = sp.f.Close()
		_ = os.Remove(sp.f.Name()) // where it could not be unlinked while open
		sp.f = nil
	}
}

// spoolReader is a spooled body handed on as a request's Body, so that a
// handler reading it again reuses the spool (spoolBody) instead of copying it.
type spoolReader struct {
	io.Reader
	sp *spool
}

func (s *spoolReader) Close() error { return nil }
