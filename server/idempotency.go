package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/renewals"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Idempotency keys: a POST that carries an Idempotency-Key and succeeded
// is answered again, byte for byte, when the same user sends the same key
// with the same request (a client retrying after a lost answer: the
// document is stored once, the application created once), by whichever
// replica of the service the retry reaches: the answer is kept in the
// store. The same key with another request is refused. A duplicate that
// arrives while the first is still running waits for it in the same
// process, and is told to retry (503 busy, Retry-After) by another replica. Only
// successes are remembered, for IdempotencyTTL: at most IdempotencyPerUser
// of one user, the oldest going first (so one account cannot push the
// others' keys out); the minute's cleanup (Server.CleanSharedState) keeps
// at most IdempotencyMaxKeys in all and IdempotencyMaxBytes of answers. A
// request still running is never forgotten, unless its replica stopped:
// after IdempotencyStaleAfter it may run again.
const (
	IdempotencyHeader     = "Idempotency-Key"
	IdempotencyTTL        = 24 * time.Hour
	IdempotencyMaxKeys    = 10_000
	IdempotencyPerUser    = 100
	IdempotencyMaxBytes   = 32 << 20
	IdempotencyStaleAfter = 10 * time.Minute // over the longest request: a 60 s read, a 60 s write, the work between
	maxIdempotencyKey     = 255
	maxRememberedBody     = 1 << 20  // larger answers are not remembered
	maxRememberedHeader   = 16 << 10 // nor answers with more header bytes than this
)

var idemLimits = store.IdemLimits{TTL: IdempotencyTTL, StaleAfter: IdempotencyStaleAfter, PerUser: IdempotencyPerUser}

// idemLocal holds this process's requests being run under an idempotency
// key (user and key): a duplicate here waits for the first to end, then
// asks the store again.
type idemLocal struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func newIdemLocal() *idemLocal { return &idemLocal{m: map[string]chan struct{}{}} }

// enter makes the caller the one of this process to ask the store about
// ck, or returns the channel of the one who is (closed when it is done).
func (l *idemLocal) enter(ck string) (chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ch, ok := l.m[ck]; ok {
		return ch, false
	}
	ch := make(chan struct{})
	l.m[ck] = ch
	return ch, true
}

func (l *idemLocal) leave(ck string, ch chan struct{}) {
	l.mu.Lock()
	delete(l.m, ck)
	l.mu.Unlock()
	close(ch)
}

// capture records what a handler writes while passing it through.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	big    bool
}

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.body.Len()+len(b) <= maxRememberedBody {
		c.body.Write(b)
	} else {
		c.big = true
	}
	return c.ResponseWriter.Write(b)
}

// beforeBody runs pre, the checks of a request that need no byte of its
// body, then h; but not when the request carries an Idempotency-Key the
// user's earlier request is remembered by: the retry of a success (or of
// a request still running) must get its answer even if pre would now
// refuse it (the upload that filled the application, say).
func (s *Server) beforeBody(pre, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		key := r.Header.Get(IdempotencyHeader)
		known := false
		if r.Method == http.MethodPost && key != "" {
			var err error
			if known, err = s.store.IdempotentKnown(r.Context(), principalOf(r.Context()).user.ID, key, IdempotencyTTL); err != nil {
				return err
			}
		}
		if !known {
			if err := pre(w, r); err != nil {
				return err
			}
		}
		return h(w, r)
	}
}

// idempotent reads the body once, within the route's limit (bodyLimit),
// into a spool: memory up to MaxJSONBody, a temporary file beyond (a
// document). Its hash is taken on the way; the handler reads the spool.
func (s *Server) idempotent(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		key := r.Header.Get(IdempotencyHeader)
		if r.Method != http.MethodPost || key == "" {
			return h(w, r)
		}
		if len(key) > maxIdempotencyKey || !printableASCII(key) {
			return renewal.Errorf(renewal.CodeInvalidField, IdempotencyHeader, "an idempotency key is 1 to %d printable ASCII characters", maxIdempotencyKey)
		}
		user := principalOf(r.Context()).user.ID
		ck := user + "\x00" + key
		sp, err := spoolBody(r, MaxJSONBody, nil)
		if err != nil {
			return err
		}
		defer sp.close()
		hash := sha256.New()
		hash.Write([]byte(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + "\n"))
		hash.Write(sp.sum[:])
		k := store.IdemKey{User: user, Key: key, Hash: hash.Sum(nil)}
		owner := store.NewID()
		var ch chan struct{}
		for {
			var mine bool
			if ch, mine = s.idem.enter(ck); !mine {
				select { // a duplicate in this process: wait for it, then ask again
				case <-ch:
					continue
				case <-r.Context().Done():
					return context.Cause(r.Context())
				}
			}
			st, ans, err := s.store.BeginIdempotent(r.Context(), k, owner, idemLimits)
			if err == nil && st == store.IdemLeader {
				break
			}
			s.idem.leave(ck, ch)
			switch {
			case err != nil:
				return err
			case st == store.IdemMismatch:
				return renewal.Errorf(renewal.CodeConflict, IdempotencyHeader, "this idempotency key was used for another request")
			case st == store.IdemRunning:
				// Run by another replica: its answer is not here yet. 503
				// with Retry-After: clients retry it (and then get the answer).
				return renewals.WithRetryAfter(renewal.Errorf(renewal.CodeBusy, IdempotencyHeader,
					"a request with this idempotency key is still running; send it again in a moment"), 1)
			}
			var hdr http.Header
			if err := json.Unmarshal(ans.Header, &hdr); err != nil {
				return fmt.Errorf("remembered answer: %w", err)
			}
			for k, v := range hdr {
				w.Header()[k] = v
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(ans.Status)
			_, _ = w.Write(ans.Body)
			return nil
		}
		defer s.idem.leave(ck, ch)
		body, err := sp.reader()
		if err == nil {
			r.Body = &spoolReader{Reader: body, sp: sp}
			rec := &capture{ResponseWriter: w}
			err = h(rec, r)
			var ans *store.IdemAnswer
			if err == nil && rec.status >= 200 && rec.status < 300 && !rec.big {
				hdr, _ := json.Marshal(w.Header())
				if len(hdr) <= maxRememberedHeader {
					ans = &store.IdemAnswer{Status: rec.status, Header: hdr, Body: rec.body.Bytes()}
				}
			}
			// Kept (or forgotten: a failure may be retried for real) even
			// when the client has hung up: the work is done.
			if ferr := s.store.FinishIdempotent(context.WithoutCancel(r.Context()), user, key, owner, ans); ferr != nil {
				s.log.ErrorContext(r.Context(), "idempotent answer not kept", "err", ferr.Error())
			}
			return err
		}
		_ = s.store.FinishIdempotent(context.WithoutCancel(r.Context()), user, key, owner, nil)
		return err
	}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
