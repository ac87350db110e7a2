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
// in memory, for IdempotencyTTL: at most IdempotencyMaxKeys of them in
// all, IdempotencyPerUser of one user (so one account cannot push the
// others' keys out) and IdempotencyMaxBytes of answers. The oldest
// finished entry goes first; a request still running is never forgotten,
// so its duplicate waits for it rather than running beside it. A restart
// of the service forgets them (the store's own uniqueness rules still
// stop a second application for one certificate).
const (
	IdempotencyHeader   = "Idempotency-Key"
	IdempotencyTTL      = 24 * time.Hour
	IdempotencyMaxKeys  = 10_000
	IdempotencyPerUser  = 100
	IdempotencyMaxBytes = 32 << 20
	maxIdempotencyKey   = 255
	maxRememberedBody   = 1 << 20 // larger answers are not remembered
)

type idemEntry struct {
	user   string
	sum    [32]byte
	done   chan struct{}
	ok     bool
	status int
	header http.Header
	body   []byte
	size   int // bytes counted against IdempotencyMaxBytes, set when finished
	at     time.Time
}

type idemCache struct {
	now      func() time.Time
	maxKeys  int
	perUser  int
	maxBytes int
	mu       sync.Mutex
	m        map[string]*idemEntry
	users    map[string]int // live entries per user
	bytes    int
	order    []idemSlot // oldest first; a slot whose entry was replaced or dropped is skipped
}

type idemSlot struct {
	key string
	e   *idemEntry
}

func newIdemCache(now func() time.Time) *idemCache {
	return &idemCache{now: now, maxKeys: IdempotencyMaxKeys, perUser: IdempotencyPerUser, maxBytes: IdempotencyMaxBytes,
		m: map[string]*idemEntry{}, users: map[string]int{}}
}

func (e *idemEntry) running() bool {
	select {
	case <-e.done:
		return false
	default:
		return true
	}
}

// drop forgets key's entry e (the caller holds c.mu).
func (c *idemCache) drop(key string, e *idemEntry) {
	if c.m[key] != e {
		return
	}
	delete(c.m, key)
	c.bytes -= e.size
	if c.users[e.user]--; c.users[e.user] <= 0 {
		delete(c.users, e.user)
	}
}

// evict makes room for one more entry of user (the caller holds c.mu):
// it forgets expired entries and, while the cache is over a bound, the
// oldest finished ones; and if user holds IdempotencyPerUser entries, that
// user's oldest finished one. A running entry met at the front is moved
// to the back: it is never forgotten.
func (c *idemCache) evict(now time.Time, user string) {
	for n := len(c.order); n > 0 && len(c.order) > 0; n-- {
		sl := c.order[0]
		live := c.m[sl.key] == sl.e
		over := len(c.m) >= c.maxKeys || c.bytes > c.maxBytes || now.Sub(sl.e.at) >= IdempotencyTTL
		switch {
		case !live:
		case over && sl.e.running():
			c.order = append(c.order, sl)
		case over:
			c.drop(sl.key, sl.e)
		default:
			n = 0 // the oldest live entry within every bound: the rest are younger
			continue
		}
		c.order = c.order[1:]
	}
	if c.users[user] >= c.perUser {
		for i, sl := range c.order {
			if c.m[sl.key] == sl.e && sl.e.user == user && !sl.e.running() {
				c.drop(sl.key, sl.e)
				c.order = append(c.order[:i:i], c.order[i+1:]...)
				break
			}
		}
	}
	// Slots of failed or replaced entries wait behind live ones: compact
	// now and then, so the queue stays proportional to what is kept.
	if len(c.order) > 2*len(c.m)+64 {
		kept := make([]idemSlot, 0, len(c.m))
		for _, sl := range c.order {
			if c.m[sl.key] == sl.e {
				kept = append(kept, sl)
			}
		}
		c.order = kept
	}
}

// begin returns the entry for user's key (ck, which holds the user) and
// whether the caller runs the request.
func (c *idemCache) begin(user, ck string, sum [32]byte) (*idemEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if e, ok := c.m[ck]; ok && now.Sub(e.at) < IdempotencyTTL {
		return e, false
	} else if ok {
		c.drop(ck, e)
	}
	c.evict(now, user)
	e := &idemEntry{user: user, sum: sum, done: make(chan struct{}), at: now}
	c.m[ck] = e
	c.users[user]++
	c.order = append(c.order, idemSlot{ck, e})
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
	switch {
	case !ok:
		c.drop(key, e) // a failure may be retried for real
	case c.m[key] == e:
		e.size = len(e.body) + len(key) + 256 // the answer, the key and the entry's own fields
		c.bytes += e.size
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
		e, leader := s.idem.begin(principalOf(r.Context()).user.ID, ck, sum)
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
