package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// tokenLog records what the token callback is handed (what the app saves).
type tokenLog struct {
	mu    sync.Mutex
	pairs []renewal.Tokens
}

func (l *tokenLog) save(_ context.Context, t renewal.Tokens) {
	l.mu.Lock()
	l.pairs = append(l.pairs, t)
	l.mu.Unlock()
}

func (l *tokenLog) all() []renewal.Tokens {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]renewal.Tokens(nil), l.pairs...)
}

func TestRefreshOn401(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	var log tokenLog
	c, _ := e.client(client.WithTokenCallback(log.save))
	first := e.smsSignIn(c, clerkMobile)

	// The access token expires (15 min): the next calls refresh once,
	// together, and go through; the new refresh token reaches the callback.
	e.Clock.Advance(16 * time.Minute)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Me(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d after expiry: %v", i, err)
		}
	}
	pairs := log.all()
	if len(pairs) != 2 {
		t.Fatalf("%d token pairs saved, want sign-in + one refresh", len(pairs))
	}
	rotated := pairs[1].RefreshToken
	if rotated == first.RefreshToken || pairs[1].AccessToken == first.AccessToken {
		t.Fatal("refresh did not rotate the tokens")
	}

	// An explicit refresh rotates again and answers the whole pair.
	now, err := c.Refresh(ctx)
	if err != nil || now.RefreshToken == rotated || now.ExpiresAt.IsZero() || now.User.ID == "" {
		t.Fatalf("refresh: %+v, %v", now, err)
	}
	rotated = now.RefreshToken

	// A new process resumes from the saved refresh token alone.
	resumed, _ := e.client(client.WithRefreshToken(rotated), client.WithTokenCallback(log.save))
	me, err := resumed.Me(ctx)
	if err != nil || me.OrganisationID != e.Org.ID {
		t.Fatalf("resumed: %+v, %v", me, err)
	}
	if u, ok := resumed.User(); !ok || u.ID != me.ID {
		t.Fatalf("user after resume: %+v", u)
	}
	// The first client still holds the rotated token, now spent by the
	// resumed one: the service ends the session, and the client says so.
	e.Clock.Advance(16 * time.Minute)
	_, err = c.Me(ctx)
	if !errors.Is(err, client.ErrSessionEnded) || !errors.Is(err, renewal.NewError(renewal.CodeTokenRevoked, "")) {
		t.Fatalf("spent refresh token: %v", err)
	}
	if c.SignedIn() {
		t.Fatal("tokens kept after the session ended")
	}
	// Reuse of a spent token revoked the whole family, as the service promises.
	_, err = resumed.Me(ctx)
	if !errors.Is(err, client.ErrSessionEnded) {
		t.Fatalf("family after reuse: %v", err)
	}
}

func TestRefreshNotRetried(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := t.Context()
	c, _ := e.client()
	e.smsSignIn(c, clerkMobile)
	e.Clock.Advance(16 * time.Minute)
	// The refresh's answer is lost: sending the spent token again would
	// end the session, so the client does not.
	var refreshes int
	e.setGate(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v1/auth/refresh" {
			return false
		}
		refreshes++
		w.WriteHeader(http.StatusBadGateway)
		return true
	})
	_, err := c.Me(ctx)
	wantCode(t, err, http.StatusBadGateway, renewal.CodeUnknown)
	if refreshes != 1 {
		t.Fatalf("refresh sent %d times", refreshes)
	}
	if !c.SignedIn() {
		t.Fatal("a lost refresh answer dropped the session")
	}
}
