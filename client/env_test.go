package client_test

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/internal/fakeclock"
	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
	"github.com/ukeyrenew/ukeyrenew/server/issuer"
)

var start = renewdtest.Start

const (
	clerkMobile      = renewdtest.ClerkMobile
	otherClerkMobile = renewdtest.OtherClerkMobile
	reviewerPassword = renewdtest.ReviewerPassword
	adminPassword    = renewdtest.AdminPassword
)

var validForm = renewdtest.ValidForm

type holder = renewdtest.Holder

// env is a real renewd (internal/renewdtest, without payments) whose clock
// moves a millisecond with every request (rows stamped in the same instant
// would tie) and when a test says so.
type env struct {
	*renewdtest.Renewd
	t        testing.TB
	holders  map[string]*holder
	requests atomic.Int64 // requests that reached the service
	// gate, if set, may answer a request before the service does (a
	// gateway in front of it); it returns true when it answered.
	gate atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
}

type envOptions struct {
	// wrapListener wraps the listener (to drop connections).
	wrapListener func(net.Listener) net.Listener
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{t: t, holders: map[string]*holder{}}
	r := renewdtest.New(t, renewdtest.Options{Listener: o.wrapListener, Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
			e.Clock.Advance(time.Millisecond)
			if g := e.gate.Load(); g != nil && (*g)(w, q) {
				return
			}
			e.requests.Add(1)
			h.ServeHTTP(w, q)
		})
	}})
	e.Renewd = r
	e.holders["rsa"] = r.AddHolder(issuer.RSA, e.Org, start.AddDate(0, 0, 30))
	e.holders["ecdsa"] = r.AddHolder(issuer.ECDSA, e.Org, start.AddDate(0, 0, 45))
	e.holders["far"] = r.AddHolder(issuer.ECDSA, e.Org, start.AddDate(0, 0, 200))
	return e
}

// setGate puts a gateway in front of the service (nil removes it).
func (e *env) setGate(g func(w http.ResponseWriter, r *http.Request) bool) {
	if g == nil {
		e.gate.Store(nil)
		return
	}
	e.gate.Store(&g)
}

// client makes a client of the env with a test clock and no jitter.
func (e *env) client(opts ...client.Option) (*client.Client, *fakeclock.Clock) {
	e.t.Helper()
	clk := fakeclock.New(start)
	all := append([]client.Option{client.WithClock(clk), client.WithJitter(func(max time.Duration) time.Duration { return max }),
		client.WithTimeout(10 * time.Second)}, opts...)
	c, err := client.New(e.URL, all...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, clk
}

// smsSignIn signs the clerk in through the client, with the code from the outbox.
func (e *env) smsSignIn(c *client.Client, mobile string) *renewal.Tokens {
	e.t.Helper()
	ctx := e.t.Context()
	if _, err := c.SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: mobile}); err != nil {
		e.t.Fatal(err)
	}
	tok, err := c.LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: mobile, Code: e.SMSCode(mobile)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.Clock.Advance(61 * time.Second)
	return tok
}

func serverOpenAPI() []byte { return server.OpenAPI() }

// loseFirstAnswer lets the next POST to path reach the service and answers
// the client 502, as a gateway that lost the answer. With forget, the
// service does not see the Idempotency-Key either (as after a restart that
// emptied its memory of keys). It returns how many POSTs to path came.
func (e *env) loseFirstAnswer(path string, forget bool) *atomic.Int64 {
	return e.loseFirst(http.MethodPost, path, forget)
}

func (e *env) loseFirst(method, path string, forget bool) *atomic.Int64 {
	var n atomic.Int64
	e.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != method || r.URL.Path != path {
			return false
		}
		if n.Add(1) > 1 {
			return false
		}
		if forget {
			r.Header.Del(client.IdempotencyKeyHeader)
		}
		e.Server.Handler().ServeHTTP(discard{}, r)
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	return &n
}
