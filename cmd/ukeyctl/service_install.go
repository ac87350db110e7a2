package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/renewflow"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// fetchInstallJSON is the JSON of fetch-install.
type fetchInstallJSON = renewflow.Result

// fetchInstall fetches the renewed certificate of an application (having
// it issued first, with a proof of possession signed on the token, when
// it is not yet), writes it to the token with token.Install, and tells the
// service it is installed: renewflow.Fetch, which the desktop client runs
// too. Each step can be run again after a crash.
func (s *serviceCmds) fetchInstall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fetch-install", stderr)
	ca := caFlag(fs)
	appID := fs.String("application", "", "the application's id (see `ukeyctl apps`) (required)")
	module := fs.String("module", "", "PKCS#11 module path")
	serial := fs.String("token", "", "serial of the token holding the certificate to renew (required)")
	journal := fs.String("journal", "", "journal directory (default: <user config dir>/ukeyrenew/journal)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var pins pinFlags
	pins.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *appID == "":
		return usagef("fetch-install: --application ID is required (see `ukeyctl apps`)")
	case len(*appID) > client.MaxIDBytes:
		return usagef("fetch-install: --application: at most %d bytes", client.MaxIDBytes)
	case *serial == "":
		return usagef("fetch-install: --token SERIAL is required (see `ukeyctl tokens`)")
	}
	// Read the PIN source before any network call, so a usage mistake costs nothing.
	if pins.stdin && pins.file != "" {
		return usagef("give either --pin-stdin or --pin-file, not both")
	}
	c, st, err := s.resume(ctx, *ca, stderr)
	if err != nil {
		return err
	}
	fail := func(err error) error { return sessionErr(st, ctx, fmt.Errorf("fetch-install: %w", err)) }
	a, err := c.GetApplication(ctx, *appID)
	if err != nil {
		return fail(err)
	}
	switch a.Status {
	case renewal.StatusReadyToDownload:
	case renewal.StatusInstalled:
		out, err := renewflow.Fetch(ctx, c, nil, a, renewflow.Options{})
		if err != nil {
			return fail(err)
		}
		return printFetchInstall(stdout, *asJSON, *out, "already installed and confirmed")
	default:
		return fmt.Errorf("fetch-install: application %s is %s, not ready to download (actions: %v)", a.ID, a.Status, a.Actions)
	}
	j, err := token.OpenJournal(*journal, nil)
	if err != nil {
		return err
	}
	tok, done, err := openToken(ctx, *module, *serial, stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := s.loginToken(ctx, tok, pins, stderr); err != nil {
		return err
	}
	out, err := renewflow.Fetch(ctx, c, tok, a, renewflow.Options{Journal: j, Now: time.Now})
	switch {
	case errors.Is(err, token.ErrInstallInProgress):
		return fmt.Errorf("fetch-install: %w (run `ukeyctl recover --token %s`, then this command again)", err, *serial)
	case errors.Is(err, renewflow.ErrRekeyPending):
		return fail(fmt.Errorf("%w: run this command again, or `ukeyctl recover --token %s --abandon-rekey`", err, *serial))
	case errors.Is(err, renewflow.ErrNotConfirmed):
		return fail(fmt.Errorf("%w (run this command again)", err))
	case err != nil:
		return fail(err)
	}
	return printFetchInstall(stdout, *asJSON, *out, "installed and confirmed")
}

// issueRekey has a re-key application's certificate issued without
// installing it: what a run that stopped between issue and install left.
func (s *serviceCmds) issueRekey(ctx context.Context, c *client.Client, tok *token.Token, j *token.Journal, a *renewal.Application) (*renewal.Issuance, error) {
	return renewflow.Issue(ctx, c, tok, a, renewflow.Options{Journal: j, Now: time.Now})
}

func (s *serviceCmds) loginToken(ctx context.Context, tok *token.Token, flags pinFlags, stderr io.Writer) error {
	r, err := newPINReader(flags, s.stdin, stderr)
	if err != nil {
		return err
	}
	defer r.Close()
	pin, err := r.Read(fmt.Sprintf("PIN of token %s", tok.Serial()))
	if err != nil {
		return err
	}
	return tok.Login(ctx, pin)
}

func printFetchInstall(w io.Writer, asJSON bool, out fetchInstallJSON, what string) error {
	if asJSON {
		return writeJSON(w, out)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "application %s: certificate %s (valid until %s) %s", out.ApplicationID, out.Serial, out.NotAfter.Format(time.DateOnly), what)
	if out.Install != nil && out.Install.Replaced != nil {
		fmt.Fprintf(&b, "; replaced certificate %s on token %s", out.Install.Replaced.Serial, out.Install.Token)
	}
	if out.AlreadyOnKey {
		b.WriteString("; it was already on the token")
	}
	fmt.Fprintln(w, b.String())
	return nil
}
