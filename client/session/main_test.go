//go:build linux

package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"
	"github.com/zalando/go-keyring"

	"github.com/ukeyrenew/ukeyrenew/client/session"
)

// The test binary doubles as the "other process" of some tests: with
// UKEY_SESSION_CHILD set it runs one child mode and exits. go-keyring talks
// through one process-wide D-Bus connection, so every test that needs a
// different bus (none, one without a Secret Service, a hanging one) runs in
// a child with its own environment.
func TestMain(m *testing.M) {
	if mode := os.Getenv("UKEY_SESSION_CHILD"); mode != "" {
		if err := child(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childReport is what a child prints on stdout.
type childReport struct {
	Where       string
	Unavailable string
	SavedIn     string
	Loaded      *session.Record
	LoadErr     string
	DeleteErr   string
	Durations   map[string]time.Duration
}

func child(mode string) error {
	ctx := context.Background()
	timeout, _ := time.ParseDuration(os.Getenv("UKEY_SESSION_TIMEOUT"))
	opts := session.Options{
		Service: os.Getenv("UKEY_SESSION_SERVICE"),
		Dir:     os.Getenv("UKEY_SESSION_DIR"),
		Timeout: timeout,
		NoTPM:   os.Getenv("UKEY_SESSION_TPM") == "",
	}
	if sock := os.Getenv("UKEY_SESSION_TPM"); sock != "" {
		opts.OpenTPM = func() (transport.TPMCloser, error) { return linuxudstpm.Open(sock) }
		opts.NoKeyring = true
	}
	rep := childReport{Durations: map[string]time.Duration{}}
	timed := func(name string, f func()) {
		start := time.Now()
		f()
		rep.Durations[name] = time.Since(start)
	}
	switch mode {
	case "load": // load what another process saved
		st, err := session.Open(ctx, opts)
		if err != nil {
			return err
		}
		rep.Where = st.Where().String()
		r, err := st.Load(ctx)
		if err != nil {
			rep.LoadErr = err.Error()
		} else {
			rep.Loaded = &r
		}
	case "cycle": // open, save, load, delete in whatever bus the parent gave
		var st *session.Store
		var err error
		timed("open", func() { st, err = session.Open(ctx, opts) })
		if err != nil {
			return err
		}
		rep.Where = st.Where().String()
		if u := st.Unavailable(); u != nil {
			rep.Unavailable = u.Error()
		}
		var w session.Where
		timed("save", func() {
			w, err = st.Save(ctx, session.Record{
				ServiceURL: "https://renew.example.cn", User: "child",
				RefreshToken: "rt-child", Expiry: time.Now().Add(time.Hour),
			})
		})
		if err != nil {
			return err
		}
		rep.SavedIn = w.String()
		timed("load", func() {
			r, err := st.Load(ctx)
			if err != nil {
				rep.LoadErr = err.Error()
			} else {
				rep.Loaded = &r
			}
		})
		timed("delete", func() {
			if err := st.Delete(ctx); err != nil {
				rep.DeleteErr = err.Error()
			}
		})
	case "raw-keyring": // go-keyring alone, as a control for the leak check
		_, err := keyring.Get("ukeyrenew-control", "x")
		rep.LoadErr = fmt.Sprint(err)
	default:
		return fmt.Errorf("unknown child mode %q", mode)
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}
