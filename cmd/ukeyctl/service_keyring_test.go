package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

// The commands as shipped (defaultServiceCmds): each opens its own session
// store, so the session must survive between them in the OS keyring (a
// real Secret Service: gnome-keyring under scripts/test.sh).
func TestServiceSessionInKeyring(t *testing.T) {
	e := newSvcEnv(t)
	ctx := t.Context()
	t.Setenv(envSessionAccount, fmt.Sprintf("ukeyctl-test-%d", time.Now().UnixNano()))
	probe, err := defaultServiceCmds().openStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if probe.Where() != session.InKeyring {
		testenv.Missing(t, "a Secret Service on the session bus")
	}
	t.Cleanup(func() { _ = probe.Delete(ctx) })
	run := func(f func(*serviceCmds, context.Context, []string, *bytes.Buffer, *bytes.Buffer) error, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := f(defaultServiceCmds(), ctx, args, &out, &errOut)
		e.Clock.Advance(time.Second)
		return out.String() + errOut.String(), err
	}
	if _, err := run(svcLogin, "--service", e.URL, "--mobile", svcClerkMobile, "--send-code"); err != nil {
		t.Fatal(err)
	}
	m, _ := e.SMS.Last(svcClerkMobile)
	out, err := run(svcLogin, "--service", e.URL, "--mobile", svcClerkMobile, "--code-file", e.file(t, "code", m.Code))
	if err != nil || !strings.Contains(out, "kept in keyring") {
		t.Fatalf("login: %v %s", err, out)
	}
	// A later command, with a store of its own, is signed in; twice, so the
	// rotated refresh token was saved back to the keyring.
	for i := 0; i < 2; i++ {
		if out, err := run(svcApps); err != nil || !strings.Contains(out, "no applications") {
			t.Fatalf("apps %d: %v %s", i, err, out)
		}
	}
	if _, err := run(svcLogout); err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Load(ctx); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("keyring after logout: %v", err)
	}
}
