package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ukeyrenew/ukeyrenew/client"
	clientconfig "github.com/ukeyrenew/ukeyrenew/client/config"
	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// Environment variables of the service commands.
const (
	envServiceCA      = clientconfig.EnvServiceCA // PEM file of the CA to pin for the service's TLS
	envSessionAccount = "UKEY_SESSION_ACCOUNT"    // names the saved session (one per account name)
	// maxAppsPages bounds `apps --all`: at most this many pages of renewal.MaxPageSize.
	maxAppsPages = 50
)

// serviceCmds are the commands that talk to the renewal service. The
// session store is opened through openStore, so a test can hand every
// command the same store.
type serviceCmds struct {
	openStore func(ctx context.Context) (*session.Store, error)
	stdin     *os.File
}

func defaultServiceCmds() *serviceCmds {
	return &serviceCmds{
		openStore: func(ctx context.Context) (*session.Store, error) {
			return session.Open(ctx, session.Options{Account: os.Getenv(envSessionAccount)})
		},
		stdin: os.Stdin,
	}
}

func cmdLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return defaultServiceCmds().login(ctx, args, stdout, stderr)
}

func cmdLogout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return defaultServiceCmds().logout(ctx, args, stdout, stderr)
}

func cmdApps(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return defaultServiceCmds().apps(ctx, args, stdout, stderr)
}

func cmdFetchInstall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return defaultServiceCmds().fetchInstall(ctx, args, stdout, stderr)
}

// caFlag is --ca FILE (else $UKEY_SERVICE_CA): the CA certificate(s) to
// trust for the service's TLS instead of the system roots.
func caFlag(fs *flag.FlagSet) *string {
	return fs.String("ca", os.Getenv(envServiceCA), "PEM file of the CA to pin for the service's TLS (default $"+envServiceCA+")")
}

func clientOptions(caFile string) ([]client.Option, error) {
	if caFile == "" {
		return pinnedOptions(nil), nil
	}
	pem, err := readLimited("pinned CA", caFile)
	if err != nil {
		return nil, err
	}
	return pinnedOptions(pem), nil
}

// pinnedOptions are ukeyctl's client options, pinning caPEM for the
// service's TLS when it is not nil (else the system's roots).
func pinnedOptions(caPEM []byte) []client.Option {
	opts := []client.Option{client.WithUserAgent("ukeyctl/1")}
	if caPEM != nil {
		opts = append(opts, client.WithCA(caPEM))
	}
	return opts
}

// secretReader reads a sign-in code or password the way PINs are read:
// from the terminal without echo, or the first line of stdin or a file,
// never from an argument.
func (s *serviceCmds) readSecret(stdin bool, file, prompt string, stderr io.Writer) ([]byte, error) {
	r, err := newPINReader(pinFlags{stdin: stdin, file: file}, s.stdin, stderr)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Read(prompt)
}

// login signs in and keeps the session (the refresh token only) with client/session.
func (s *serviceCmds) login(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("login", stderr)
	service := fs.String("service", "", "base URL of the renewal service (default $"+clientconfig.EnvService+", else the user's, else the machine's config file, else the build's default)")
	ca := caFlag(fs)
	mobile := fs.String("mobile", "", "sign in with this mobile number and an SMS code")
	sendCode := fs.Bool("send-code", false, "with --mobile: only send the SMS code and stop (then login --code-stdin or --code-file)")
	codeStdin := fs.Bool("code-stdin", false, "read the SMS code from the first line of standard input (the code is not sent again)")
	codeFile := fs.String("code-file", "", "read the SMS code from the first line of this file (the code is not sent again)")
	account := fs.String("account", "", "sign in with this account and a password")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	pwFile := fs.String("password-file", "", "read the password from the first line of this file")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case (*mobile == "") == (*account == ""):
		return usagef("login: give either --mobile or --account")
	case *mobile != "" && (*pwStdin || *pwFile != ""):
		return usagef("login: --password-* goes with --account")
	case *account != "" && (*codeStdin || *codeFile != "" || *sendCode):
		return usagef("login: --send-code and --code-* go with --mobile")
	case *sendCode && (*codeStdin || *codeFile != ""):
		return usagef("login: --send-code sends the code; sign in with --code-* in a second call")
	}
	svc, err := clientconfig.Find(clientconfig.Default(*service, *ca))
	if err != nil {
		return usagef("login: %v", err)
	}
	if svc.URL == "" {
		return usagef("login: --service URL is required (or set %s, or write {\"service\": URL} to %s)", clientconfig.EnvService, clientconfig.MachineFile())
	}
	// The CA that goes with the service found: a file's, or the one baked
	// into a branded build.
	pem, err := svc.CA()
	if err != nil {
		return err
	}
	c, err := client.New(svc.URL, pinnedOptions(pem)...)
	if err != nil {
		return usagef("login: %v", err)
	}
	var tok *renewal.Tokens
	if *mobile != "" {
		if !*codeStdin && *codeFile == "" || *sendCode {
			sent, err := c.SendSMSCode(ctx, renewal.SMSCodeRequest{Mobile: *mobile})
			if err != nil {
				return fmt.Errorf("login: send code: %w", err)
			}
			fmt.Fprintf(stderr, "code sent to %s, valid %d s\n", renewal.MaskMobile(renewal.NormalizeMobile(*mobile)), sent.ExpiresIn)
			if *sendCode {
				return nil
			}
		}
		code, err := s.readSecret(*codeStdin, *codeFile, "SMS code", stderr)
		if err != nil {
			return err
		}
		tok, err = c.LoginSMS(ctx, renewal.SMSLoginRequest{Mobile: *mobile, Code: strings.TrimSpace(string(code))})
		wipe(code)
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
	} else {
		pw, err := s.readSecret(*pwStdin, *pwFile, "password of "+*account, stderr)
		if err != nil {
			return err
		}
		tok, err = c.Login(ctx, renewal.PasswordLoginRequest{Account: *account, Password: string(pw)})
		wipe(pw)
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	st, err := s.openStore(ctx)
	if err != nil {
		return err
	}
	who := tok.User.Name
	if tok.User.Mobile != "" {
		who += " " + tok.User.Mobile
	} else if tok.User.Account != "" {
		who += " " + tok.User.Account
	}
	where, err := st.Save(ctx, session.Record{ServiceURL: c.BaseURL(), User: who, RefreshToken: tok.RefreshToken, Expiry: tok.RefreshExpiresAt})
	if err != nil {
		return fmt.Errorf("login: keep the session: %w", err)
	}
	if !where.Persistent() {
		fmt.Fprintf(stderr, "ukeyctl: warning: the session is kept in memory only (%v): the next command will not be signed in\n", st.Unavailable())
	}
	out := loginJSON{Service: c.BaseURL(), User: tok.User, KeptIn: where.String(), Expires: tok.RefreshExpiresAt}
	if *asJSON {
		return writeJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "signed in to %s as %s (%s); session kept in %s until %s\n", out.Service, who, tok.User.Role, where, tok.RefreshExpiresAt.Format(time.DateOnly))
	return nil
}

type loginJSON struct {
	Service string       `json:"service"`
	User    renewal.User `json:"user"`
	KeptIn  string       `json:"kept_in"`
	Expires time.Time    `json:"session_expires"`
}

// errNotSignedIn says how to sign in.
var errNotSignedIn = errors.New("not signed in to the renewal service: run `ukeyctl login`")

// resume makes a client from the saved session. Every rotated refresh
// token is saved back at once, since the old one stops working.
func (s *serviceCmds) resume(ctx context.Context, caFile string, stderr io.Writer) (*client.Client, *session.Store, error) {
	st, err := s.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	rec, err := st.Load(ctx)
	switch {
	case errors.Is(err, session.ErrNoSession), errors.Is(err, session.ErrExpired):
		return nil, nil, errNotSignedIn
	case errors.Is(err, session.ErrCorrupt), errors.Is(err, session.ErrSealedElsewhere), errors.Is(err, session.ErrInvalid):
		return nil, nil, fmt.Errorf("%w (%v)", errNotSignedIn, err)
	case err != nil:
		return nil, nil, err
	}
	opts, err := clientOptions(caFile)
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, client.WithRefreshToken(rec.RefreshToken),
		client.WithTokenCallback(func(ctx context.Context, t renewal.Tokens) {
			r := rec
			r.RefreshToken, r.Expiry = t.RefreshToken, t.RefreshExpiresAt
			if _, err := st.Save(ctx, r); err != nil {
				fmt.Fprintf(stderr, "ukeyctl: warning: could not keep the renewed session: %v\n", err)
			}
		}))
	c, err := client.New(rec.ServiceURL, opts...)
	if err != nil {
		return nil, nil, err
	}
	return c, st, nil
}

// sessionErr turns an ended session into the advice to sign in again.
func sessionErr(st *session.Store, ctx context.Context, err error) error {
	if errors.Is(err, client.ErrSessionEnded) {
		_ = st.Delete(ctx)
		return fmt.Errorf("%w: %v", errNotSignedIn, err)
	}
	return err
}

// logout ends the session at the service and removes it from every place.
func (s *serviceCmds) logout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("logout", stderr)
	ca := caFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, st, err := s.resume(ctx, *ca, stderr)
	if errors.Is(err, errNotSignedIn) {
		fmt.Fprintln(stdout, "not signed in")
		return nil
	}
	if err != nil {
		return err
	}
	serviceErr := c.Logout(ctx)
	if err := st.Delete(ctx); err != nil {
		return fmt.Errorf("logout: remove the saved session: %w", err)
	}
	if serviceErr != nil {
		fmt.Fprintf(stderr, "ukeyctl: warning: the service was not told (%v); the session was removed here\n", serviceErr)
	}
	fmt.Fprintln(stdout, "signed out")
	return nil
}

// apps lists the organisation's applications (staff: all).
func (s *serviceCmds) apps(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("apps", stderr)
	ca := caFlag(fs)
	status := fs.String("status", "", "only these statuses, comma-separated (editing, pending_review, ..., ready_to_download, installed)")
	serial := fs.String("serial", "", "only applications for this certificate serial (hex)")
	all := fs.Bool("all", false, fmt.Sprintf("follow every page (at most %d)", maxAppsPages))
	asJSON := fs.Bool("json", false, "print the applications as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	req := renewal.ListApplicationsRequest{CertSerial: *serial, PageSize: renewal.MaxPageSize}
	if *status != "" {
		for _, v := range strings.Split(*status, ",") {
			st := renewal.Status(strings.TrimSpace(v))
			if !st.Valid() {
				return usagef("apps: --status: unknown status %q", v)
			}
			req.Status = append(req.Status, st)
		}
	}
	c, st, err := s.resume(ctx, *ca, stderr)
	if err != nil {
		return err
	}
	var items []renewal.Application
	for page := 0; ; page++ {
		p, err := c.ListApplications(ctx, req)
		if err != nil {
			return sessionErr(st, ctx, fmt.Errorf("apps: %w", err))
		}
		items = append(items, p.Items...)
		if !*all || p.NextPageToken == "" {
			break
		}
		if page+1 >= maxAppsPages {
			fmt.Fprintf(stderr, "ukeyctl: warning: stopped after %d pages\n", maxAppsPages)
			break
		}
		req.PageToken = p.NextPageToken
	}
	if *asJSON {
		if items == nil {
			items = []renewal.Application{}
		}
		return writeJSON(stdout, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(stdout, "no applications")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSERIAL\tSTATUS\tPAYMENT\tFINVERIFY\tVERSION\tACTIONS")
	for _, a := range items {
		acts := make([]string, len(a.Actions))
		for i, x := range a.Actions {
			acts[i] = string(x)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.ID, a.CertSerial, a.Status, a.Payment, a.FinVerify, a.Version, strings.Join(acts, ","))
	}
	return tw.Flush()
}
