package main

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// fetchInstallJSON is the JSON of fetch-install.
type fetchInstallJSON struct {
	ApplicationID string               `json:"application_id"`
	Status        renewal.Status       `json:"status"`
	Issued        bool                 `json:"issued_now"` // false: it had been issued before
	AlreadyOnKey  bool                 `json:"already_on_token"`
	Install       *token.InstallResult `json:"install,omitempty"`
	Serial        string               `json:"serial"` // of the renewed certificate, lower-case hex
	NotAfter      time.Time            `json:"not_after"`
}

// fetchInstall fetches the renewed certificate of an application (having
// it issued first, with a proof of possession signed on the token, when
// it is not yet), writes it to the token with token.Install, and tells the
// service it is installed. Each step can be run again after a crash: an
// issued certificate is fetched again, one already on the token is not
// written twice, and a confirmed application is reported as such.
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
	out := fetchInstallJSON{ApplicationID: a.ID}
	switch a.Status {
	case renewal.StatusReadyToDownload:
	case renewal.StatusInstalled:
		is, err := c.Certificate(ctx, a.ID)
		if err != nil {
			return fail(err)
		}
		out.Status, out.Serial, out.NotAfter = a.Status, is.Serial, is.NotAfter
		return printFetchInstall(stdout, *asJSON, out, "already installed and confirmed")
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
	is, err := c.Certificate(ctx, a.ID)
	if renewal.CodeOf(err) == renewal.CodeNotIssued {
		if a.Rekey {
			is, err = s.issueRekey(ctx, c, tok, j, a)
		} else {
			is, err = s.issueSameKey(ctx, c, tok, a)
		}
		out.Issued = err == nil
	}
	if err != nil {
		return fail(err)
	}
	out.Serial, out.NotAfter = is.Serial, is.NotAfter
	chain := make([]*smx509.Certificate, 0, len(is.Chain))
	for i, der := range is.Chain {
		cc, err := smx509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("fetch-install: chain certificate %d from the service: %w", i, err)
		}
		chain = append(chain, cc)
	}
	onToken, err := certOnToken(ctx, tok, is.Serial)
	if err != nil {
		return err
	}
	if onToken {
		out.AlreadyOnKey = true
	} else {
		mode := token.SameKey
		if is.Mode == renewal.IssueRekey {
			mode = token.Rekey // the second step of the re-key issueRekey began
		}
		res, err := token.Install(ctx, tok, token.InstallRequest{Mode: mode, Cert: is.Certificate, Chain: chain, Journal: j, Now: time.Now})
		if err != nil {
			if errors.Is(err, token.ErrInstallInProgress) {
				return fmt.Errorf("fetch-install: %w (run `ukeyctl recover --token %s`, then this command again)", err, *serial)
			}
			return fmt.Errorf("fetch-install: %w", err)
		}
		out.Install = res
		if res.New == nil || renewal.NormalizeSerial(res.New.Serial) != is.Serial {
			return fmt.Errorf("fetch-install: the token reads back certificate %v, not %s", res.New, is.Serial)
		}
	}
	a, err = c.ConfirmInstalled(ctx, a.ID, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: is.Serial})
	if err != nil {
		return fail(fmt.Errorf("the certificate is on the token, but the service was not told (run this command again): %w", err))
	}
	out.Status = a.Status
	return printFetchInstall(stdout, *asJSON, out, "installed and confirmed")
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

// oldCertificate finds the certificate the application renews on the
// token, with its key.
func oldCertificate(ctx context.Context, tok *token.Token, a *renewal.Application) (*token.Certificate, *token.Signer, error) {
	inv, err := tok.Objects(ctx) // logged in: certificates with their keys
	if err != nil {
		return nil, nil, err
	}
	var old *token.Certificate
	for _, tc := range inv.Certificates {
		if tc.Info != nil && renewal.NormalizeSerial(tc.Info.Serial) == a.CertSerial {
			old = tc
			break
		}
	}
	if old == nil {
		return nil, nil, fmt.Errorf("certificate %s of the application is not on token %s", a.CertSerial, tok.Serial())
	}
	if !old.HasKey() {
		return nil, nil, fmt.Errorf("certificate %s on token %s has no private key to prove possession with", a.CertSerial, tok.Serial())
	}
	signer, err := tok.Signer(ctx, old.ID)
	if err != nil {
		return nil, nil, err
	}
	return old, signer, nil
}

// signOnToken signs msg with SHA-256 on the token (RSA PKCS #1 v1.5, ECDSA
// ASN.1: the contract's algorithms).
func signOnToken(ctx context.Context, s *token.Signer, msg []byte) ([]byte, error) {
	digest := sha256.Sum256(msg)
	sig, err := s.SignContext(ctx, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign on the token: %w", err)
	}
	return sig, nil
}

// issueSameKey proves possession of the old key on the token and has the
// renewed certificate issued for the same key.
func (s *serviceCmds) issueSameKey(ctx context.Context, c *client.Client, tok *token.Token, a *renewal.Application) (*renewal.Issuance, error) {
	_, signer, err := oldCertificate(ctx, tok, a)
	if err != nil {
		return nil, err
	}
	ch, err := c.Challenge(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	sig, err := signOnToken(ctx, signer, renewal.SameKeyMessage(a.ID, a.CertSerial, ch.Nonce))
	if err != nil {
		return nil, err
	}
	return c.Issue(ctx, a.ID, renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueSameKey, Nonce: ch.Nonce, Signature: sig})
}

// issueRekey makes a new key pair on the token (or takes the one a
// previous run left pending), sends its CSR, bound to the old key while the
// old certificate is valid, and has the certificate issued. The new key
// stays pending in the journal until token.Install writes its certificate;
// `ukeyctl recover --abandon-rekey` undoes it.
func (s *serviceCmds) issueRekey(ctx context.Context, c *client.Client, tok *token.Token, j *token.Journal, a *renewal.Application) (*renewal.Issuance, error) {
	old, signer, err := oldCertificate(ctx, tok, a)
	if err != nil {
		return nil, err
	}
	prep, err := token.PrepareRekey(ctx, tok, token.InstallRequest{Mode: token.Rekey, ReplaceID: old.ID, Journal: j, Now: time.Now})
	if err != nil {
		return nil, err
	}
	ch, err := c.Challenge(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	req := renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueRekey, Nonce: ch.Nonce, CSR: prep.CSR}
	if old.Info.NotAfter.After(time.Now()) {
		if req.BindingSignature, err = signOnToken(ctx, signer, renewal.RekeyBindingMessage(a.ID, a.CertSerial, ch.Nonce, prep.CSR)); err != nil {
			return nil, err
		}
	}
	is, err := c.Issue(ctx, a.ID, req)
	if err != nil {
		return nil, fmt.Errorf("%w (the new key pair stays pending on token %s: run this command again, or `ukeyctl recover --token %s --abandon-rekey`)", err, tok.Serial(), tok.Serial())
	}
	return is, nil
}

// certOnToken reports whether a certificate with serial is on the token
// with its key (a run that wrote it and stopped before confirming).
func certOnToken(ctx context.Context, tok *token.Token, serial string) (bool, error) {
	inv, err := tok.Objects(ctx)
	if err != nil {
		return false, err
	}
	for _, tc := range inv.Certificates {
		if tc.Info != nil && renewal.NormalizeSerial(tc.Info.Serial) == serial && tc.HasKey() {
			return true, nil
		}
	}
	return false, nil
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
