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

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
)

// Request bodies. Every route that takes a body has its own limit (JSON
// MaxJSONBody, a document upload Limits.MaxDocument): a Content-Length over
// it is refused before a byte is read, and a body without one is cut at
// the limit. The bytes a request may bring are reserved before it is read,
// at its Content-Length (or its limit when the length is not declared),
// from two budgets: the process's (Limits.BodyBytesTotal) and the signed-in
// account's (Limits.BodyBytesPerAccount). A request that does not fit is
// refused at once, never queued: 429 rate_limited over the account's
// budget, 503 busy over the process's, both with Retry-After (the client
// retries a 503 by itself). The reservation is held until the handler
// returns, so the bodies being read, spooled or written to the store at
// any moment add up to at most BodyBytesTotal, whatever clients send.
//
// A document is not kept in memory while it arrives: it is spooled to a
// temporary file (hashed and its first bytes kept on the way) and read
// into memory once, inside the transaction that writes it to the store,
// within the reservation. A document sent to a client (getDocument) is
// reserved at its size from the same budgets.

// bodyRetryAfter is the Retry-After (seconds) of a refusal over a budget:
// a body of the largest size arrives in about that time on a usual line.
const bodyRetryAfter = 2

// bodyBudget is a non-blocking weighted semaphore over body bytes, for the
// process and per account.
type bodyBudget struct {
	total, perAccount int64

	mu     sync.Mutex
	used   int64
	byUser map[string]int64
}

func newBodyBudget(total, perAccount int64) *bodyBudget {
	return &bodyBudget{total: total, perAccount: perAccount, byUser: map[string]int64{}}
}

// acquire reserves n bytes for user ("" for a request before sign-in:
// only the process's budget applies) or says why not. release gives them
// back; call it once.
func (b *bodyBudget) acquire(user string, n int64) (release func(), err error) {
	if n <= 0 {
		return func() {}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if user != "" && b.byUser[user]+n > b.perAccount {
		return nil, renewals.WithRetryAfter(renewal.Errorf(renewal.CodeRateLimited, "",
			"this account is already sending %d bytes; wait for its other uploads to finish", b.byUser[user]), bodyRetryAfter)
	}
	if b.used+n > b.total {
		return nil, renewals.WithRetryAfter(renewal.NewError(renewal.CodeBusy, ""), bodyRetryAfter)
	}
	b.used += n
	if user != "" {
		b.byUser[user] += n
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.used -= n
			if user != "" {
				if b.byUser[user] -= n; b.byUser[user] <= 0 {
					delete(b.byUser, user)
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
	return s.bodyLimit(bodyRule{MaxJSONBody, renewal.CodeBodyTooLarge}, h)
}

// bodyLimit refuses a body declared over br.limit before reading it, cuts
// an undeclared one at br.limit, and reserves its bytes from the budgets
// for as long as h runs. Inside authed, the account's budget applies too.
func (s *Server) bodyLimit(br bodyRule, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		r = r.WithContext(context.WithValue(r.Context(), bodyRuleKey{}, br))
		if r.Body == nil || r.Body == http.NoBody {
			return h(w, r)
		}
		if r.ContentLength > br.limit {
			return br.refuse()
		}
		n := r.ContentLength
		if n < 0 {
			n = br.limit
		}
		release, err := s.bodies.acquire(principalOf(r.Context()).user.ID, n)
		if err != nil {
			s.metrics.count("body_refused")
			return err
		}
		defer release()
		r.Body = http.MaxBytesReader(w, r.Body, br.limit)
		return h(w, r)
	}
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
