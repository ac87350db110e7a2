package main

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	clientconfig "github.com/ukeyrenew/ukeyrenew/client/config"
	"github.com/ukeyrenew/ukeyrenew/client/session"
)

// A branded build's service comes with the CA baked into the build: login
// trusts it for that service, and without it the same server's certificate
// is refused before any request is sent.
func TestLoginTrustsTheBuildsBakedCA(t *testing.T) {
	var reached atomic.Bool
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Store(true)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":"invalid_credentials","message":"wrong account or password"}`))
	}))
	defer ts.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})

	for _, k := range []string{clientconfig.EnvService, clientconfig.EnvServiceOld, clientconfig.EnvServiceCA} {
		t.Setenv(k, "")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	if _, err := os.Stat(clientconfig.MachineFile()); err == nil {
		t.Skipf("%s exists on this machine: it would come before the build's default", clientconfig.MachineFile())
	}
	oldSvc, oldPEM := clientconfig.BuildService, clientconfig.BuildServiceCAPEM
	defer func() { clientconfig.BuildService, clientconfig.BuildServiceCAPEM = oldSvc, oldPEM }()
	clientconfig.BuildService = ts.URL

	pw := filepath.Join(home, "pw")
	if err := os.WriteFile(pw, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmds := &serviceCmds{openStore: func(context.Context) (*session.Store, error) {
		return nil, errors.New("no session is kept after a refused sign-in")
	}, stdin: os.Stdin}
	login := func() error {
		var out, errOut strings.Builder
		return cmds.login(t.Context(), []string{"--account", "clerk", "--password-file", pw}, &out, &errOut)
	}

	clientconfig.BuildServiceCAPEM = ""
	if err := login(); err == nil || reached.Load() || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the baked CA: %v (server reached: %v); want a certificate error before any request", err, reached.Load())
	}
	clientconfig.BuildServiceCAPEM = base64.StdEncoding.EncodeToString(caPEM)
	if err := login(); err == nil || !reached.Load() || strings.Contains(err.Error(), "certificate") {
		t.Fatalf("with the baked CA: %v (server reached: %v); want the service's own refusal", err, reached.Load())
	}
}
