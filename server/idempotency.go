package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Idempotency keys: a POST that carries an Idempotency-Key and succeeded
// is answered again, byte for byte, when the same user sends the same key
// with the same request (a client retrying after a lost answer: the
// document is stored once, the application created once). The same key
// with another request is refused. A duplicate that arrives while the
// first is still running waits for it. Only successes are remembered,
// in memory, for IdempotencyTTL, at most IdempotencyMaxKeys of them: a
// restart of the service forgets them (the store's own uniqueness rules
// still stop a second application for one certificate).
const (
	IdempotencyHeader  = "Idempotency-Key"
	IdempotencyTTL     = 24 * time.Hour
	IdempotencyMaxKeys = 10_000
	maxIdempotencyKey  = 255
	maxRememberedBody  = 1 << 20 // larger answers are not remembered
)

type idemEntry struct {
	sum    [32]byte
	done   chan struct{}
	ok     bool
	status int
	header http.Header
	body   []byte
	at     time.Time
}

type idemCache struct {
	now   func() time.Time
	mu    sync.Mutex
	m     map[string]*idemEntry
	order []idemSlot // oldest first; a slot whose entry was replaced or dropped is skipped
}

type idemSlot struct {
	key string
	e   *idemEntry
}

func newIdemCache(now func() time.Time) *idemCache {
	return &idemCache{now: now, m: map[string]*idemEntry{}}
}

// begin returns the entry for key and whether the caller runs the request.
func (c *idemCache) begin(key string, sum [32]byte) (*idemEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if e, ok := c.m[key]; ok && now.Sub(e.at) < IdempotencyTTL {
		return e, false
	}
	for len(c.order) > 0 {
		old := c.order[0]
		live := c.m[old.key] == old.e
		if live && len(c.m) < IdempotencyMaxKeys && now.Sub(old.e.at) < IdempotencyTTL {
			break
		}
		if live {
			delete(c.m, old.key)
		}
		c.order = c.order[1:]
	}
	e := &idemEntry{sum: sum, done: make(chan struct{}), at: now}
	c.m[key] = e
	c.order = append(c.order, idemSlot{key, e})
	return e, true
}

// known reports whether key is remembered (a success, or a request still running).
func (c *idemCache) known(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return ok && c.now().Sub(e.at) < IdempotencyTTL
}

func (c *idemCache) finish(key string, e *idemEntry, ok bool) {
	c.mu.Lock()
	e.ok = ok
	if !ok && c.m[key] == e {
		delete(c.m, key) // a failure may be retried for real
	}
	c.mu.Unlock()
	close(e.done)
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
		if r.Method != http.MethodPost || key == "" || !s.idem.known(principalOf(r.Context()).user.ID+"\x00"+key) {
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
		ck := principalOf(r.Context()).user.ID + "\x00" + key
		sp, err := spoolBody(r, MaxJSONBody, nil)
		if err != nil {
			return err
		}
		defer sp.close()
		hash := sha256.New()
		hash.Write([]byte(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + "\n"))
		hash.Write(sp.sum[:])
		var sum [32]byte
		copy(sum[:], hash.Sum(nil))
		e, leader := s.idem.begin(ck, sum)
		body, err := sp.reader()
		if err != nil {
			return err
		}
		r.Body = &spoolReader{Reader: body, sp: sp}
		if !leader {
			if e.sum != sum {
				return renewal.Errorf(renewal.CodeConflict, IdempotencyHeader, "this idempotency key was used for another request")
			}
			select {
			case <-e.done:
			case <-r.Context().Done():
				return context.Cause(r.Context())
			}
			if e.ok {
				for k, v := range e.header {
					w.Header()[k] = v
				}
				w.Header().Set("Idempotent-Replayed", "true")
				w.WriteHeader(e.status)
				_, _ = w.Write(e.body)
				return nil
			}
			return h(w, r) // the first attempt failed: this one runs for real
		}
		rec := &capture{ResponseWriter: w}
		err = h(rec, r)
		ok := err == nil && rec.status >= 200 && rec.status < 300 && !rec.big
		if ok {
			e.status, e.body, e.header = rec.status, rec.body.Bytes(), w.Header().Clone()
		}
		s.idem.finish(ck, e, ok)
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
