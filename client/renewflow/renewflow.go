package renewflow

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// Step is one step of Fetch, in order.
type Step int

// The steps.
const (
	StepFetch   Step = iota + 1 // read or have issued the renewed certificate
	StepWrite                   // write it to the token
	StepVerify                  // read it back
	StepConfirm                 // tell the service
)

// Steps is the number of steps, for a progress bar.
const Steps = 4

func (s Step) String() string {
	switch s {
	case StepFetch:
		return "fetch"
	case StepWrite:
		return "write"
	case StepVerify:
		return "verify"
	case StepConfirm:
		return "confirm"
	}
	return fmt.Sprintf("step(%d)", int(s))
}

// Options of Fetch.
type Options struct {
	// Journal keeps the install's progress on disk (token.OpenJournal).
	Journal *token.Journal
	// Now is the clock that judges the old certificate's validity and
	// stamps the install; default time.Now.
	Now func() time.Time
	// Progress, if set, is called as each step starts (from Fetch's goroutine).
	Progress func(Step)
}

// Result is what Fetch did.
type Result struct {
	ApplicationID string               `json:"application_id"`
	Status        renewal.Status       `json:"status"`
	Issued        bool                 `json:"issued_now"` // false: it had been issued before
	AlreadyOnKey  bool                 `json:"already_on_token"`
	Install       *token.InstallResult `json:"install,omitempty"`
	Serial        string               `json:"serial"` // of the renewed certificate, lower-case hex
	NotAfter      time.Time            `json:"not_after"`
}

// ErrNotReady: the application is in a state with nothing to download.
var ErrNotReady = errors.New("application is not ready to download")

// ErrNotConfirmed wraps the service's error when the certificate is on the
// token but the service could not be told: running Fetch again finishes.
var ErrNotConfirmed = errors.New("the certificate is on the token, but the service was not told")

// Fetch fetches (having it issued first when needed) the renewed
// certificate of application a, writes it to tok, verifies it and confirms
// it to the service. tok must be logged in. An application already
// installed returns its certificate and does not touch the token.
func Fetch(ctx context.Context, c *client.Client, tok *token.Token, a *renewal.Application, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	progress := func(s Step) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	out := &Result{ApplicationID: a.ID}
	progress(StepFetch)
	switch a.Status {
	case renewal.StatusReadyToDownload:
	case renewal.StatusInstalled:
		is, err := c.Certificate(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		out.Status, out.Serial, out.NotAfter = a.Status, is.Serial, is.NotAfter
		return out, nil
	default:
		return nil, fmt.Errorf("application %s is %s (actions: %v): %w", a.ID, a.Status, a.Actions, ErrNotReady)
	}
	if o.Journal == nil {
		return nil, errors.New("renewflow: no install journal")
	}
	is, err := c.Certificate(ctx, a.ID)
	if renewal.CodeOf(err) == renewal.CodeNotIssued {
		is, err = Issue(ctx, c, tok, a, o)
		out.Issued = err == nil
	}
	if err != nil {
		return nil, err
	}
	out.Serial, out.NotAfter = is.Serial, is.NotAfter
	chain := make([]*smx509.Certificate, 0, len(is.Chain))
	for i, der := range is.Chain {
		cc, err := smx509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("chain certificate %d from the service: %w", i, err)
		}
		chain = append(chain, cc)
	}
	onToken, err := CertOnToken(ctx, tok, is.Serial)
	if err != nil {
		return nil, err
	}
	progress(StepWrite)
	if onToken {
		out.AlreadyOnKey = true
		progress(StepVerify)
	} else {
		mode := token.SameKey
		if is.Mode == renewal.IssueRekey {
			mode = token.Rekey // the second step of the re-key issueRekey began
		}
		res, err := token.Install(ctx, tok, token.InstallRequest{Mode: mode, Cert: is.Certificate, Chain: chain, Journal: o.Journal, Now: o.Now})
		if err != nil {
			return nil, err
		}
		out.Install = res
		progress(StepVerify)
		if res.New == nil || renewal.NormalizeSerial(res.New.Serial) != is.Serial {
			return nil, fmt.Errorf("the token reads back certificate %v, not %s", res.New, is.Serial)
		}
	}
	progress(StepConfirm)
	a, err = c.ConfirmInstalled(ctx, a.ID, renewal.ConfirmInstalledRequest{Version: a.Version, Serial: is.Serial})
	if err != nil {
		return out, fmt.Errorf("%w: %w", ErrNotConfirmed, err)
	}
	out.Status = a.Status
	return out, nil
}

// Issue has application a's certificate issued without writing it: a
// proof of possession signed with the old key (same key), or a new key
// pair on the token whose CSR is bound to the old key (re-key; the pair
// stays pending in o.Journal until the certificate is installed). Fetch
// calls it when the service has issued nothing yet.
func Issue(ctx context.Context, c *client.Client, tok *token.Token, a *renewal.Application, o Options) (*renewal.Issuance, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if a.Rekey {
		if o.Journal == nil {
			return nil, errors.New("renewflow: a re-key needs the install journal")
		}
		return issueRekey(ctx, c, tok, o, a)
	}
	return issueSameKey(ctx, c, tok, a)
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
func issueSameKey(ctx context.Context, c *client.Client, tok *token.Token, a *renewal.Application) (*renewal.Issuance, error) {
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

// ErrRekeyPending wraps an issue failure after the new key pair was made:
// it stays pending on the token (Fetch again takes it; token.Recover with
// abandon undoes it).
var ErrRekeyPending = errors.New("the new key pair stays pending on the token")

// issueRekey makes a new key pair on the token (or takes the one a
// previous run left pending), sends its CSR, bound to the old key while the
// old certificate is valid, and has the certificate issued. The new key
// stays pending in the journal until token.Install writes its certificate.
func issueRekey(ctx context.Context, c *client.Client, tok *token.Token, o Options, a *renewal.Application) (*renewal.Issuance, error) {
	old, signer, err := oldCertificate(ctx, tok, a)
	if err != nil {
		return nil, err
	}
	prep, err := token.PrepareRekey(ctx, tok, token.InstallRequest{Mode: token.Rekey, ReplaceID: old.ID, Journal: o.Journal, Now: o.Now})
	if err != nil {
		return nil, err
	}
	ch, err := c.Challenge(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	req := renewal.IssueRequest{Version: a.Version, Mode: renewal.IssueRekey, Nonce: ch.Nonce, CSR: prep.CSR}
	if old.Info.NotAfter.After(o.Now()) {
		if req.BindingSignature, err = signOnToken(ctx, signer, renewal.RekeyBindingMessage(a.ID, a.CertSerial, ch.Nonce, prep.CSR)); err != nil {
			return nil, err
		}
	}
	is, err := c.Issue(ctx, a.ID, req)
	if err != nil {
		return nil, fmt.Errorf("%w (%w on token %s)", err, ErrRekeyPending, tok.Serial())
	}
	return is, nil
}

// CertOnToken reports whether a certificate with serial is on the token
// with its key (a run that wrote it and stopped before confirming).
func CertOnToken(ctx context.Context, tok *token.Token, serial string) (bool, error) {
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
