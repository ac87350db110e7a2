//go:build cgo

package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/renewflow"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// P11Installer is the Installer over real PKCS#11 tokens: it opens tokens
// through a P11Source's modules and runs client/renewflow (the same flow as
// `ukeyctl fetch-install`), with the install journal in JournalDir.
type P11Installer struct {
	src        *P11Source
	journalDir string
	now        func() time.Time

	mu  sync.Mutex
	tok *token.Token
}

// NewP11Installer returns the installer; journalDir "" is the default
// journal directory, now nil the wall clock.
func NewP11Installer(src *P11Source, journalDir string, now func() time.Time) *P11Installer {
	if now == nil {
		now = time.Now
	}
	return &P11Installer{src: src, journalDir: journalDir, now: now}
}

var _ model.Installer = (*P11Installer)(nil)

// Login opens the token and logs in; pin is wiped.
func (p *P11Installer) Login(ctx context.Context, serial string, pin []byte) error {
	defer clear(pin)
	m, _, err := p.src.find(ctx, serial)
	if err != nil {
		return err
	}
	tok, err := m.Open(ctx, serial)
	if err != nil {
		return mapTokenErr(err)
	}
	if err := tok.Login(ctx, pin); err != nil {
		tok.Close()
		return mapTokenErr(err)
	}
	p.mu.Lock()
	if p.tok != nil {
		p.tok.Close()
	}
	p.tok = tok
	p.mu.Unlock()
	return nil
}

func (p *P11Installer) token() (*token.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tok == nil {
		return nil, errors.New("not logged in to the token")
	}
	return p.tok, nil
}

// Install runs renewflow.Fetch on the logged-in token.
func (p *P11Installer) Install(ctx context.Context, c *client.Client, a *renewal.Application, progress func(model.WriteStep)) error {
	tok, err := p.token()
	if err != nil {
		return err
	}
	j, err := token.OpenJournal(p.journalDir, p.now)
	if err != nil {
		return err
	}
	_, err = renewflow.Fetch(ctx, c, tok, a, renewflow.Options{Journal: j, Now: p.now, Progress: func(s renewflow.Step) {
		if progress != nil {
			progress(model.WriteStep(s))
		}
	}})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, renewflow.ErrNotConfirmed):
		return fmt.Errorf("%w: %w", model.ErrNotConfirmed, err)
	case errors.Is(err, token.ErrInstallInProgress):
		return fmt.Errorf("%w: %w", model.ErrJobUnfinished, err)
	}
	err = mapTokenErr(err)
	if !errors.Is(err, model.ErrTokenRemoved) && ctx.Err() == nil {
		// A token pulled out mid-call does not always say so: modules
		// answer with whatever their next call meets (SoftHSM2 lists
		// the objects of a vanished token as unreadable). Whether it is
		// still inserted decides.
		if _, _, ferr := p.src.find(ctx, tok.Serial()); errors.Is(ferr, model.ErrTokenRemoved) {
			return fmt.Errorf("%w: %w", model.ErrTokenRemoved, err)
		}
	}
	return err
}

// Finish runs token.Recover on the logged-in token.
func (p *P11Installer) Finish(ctx context.Context) (model.FinishOutcome, error) {
	tok, err := p.token()
	if err != nil {
		return "", err
	}
	res, err := token.Recover(ctx, tok, p.journalDir)
	if err != nil {
		return "", mapTokenErr(err)
	}
	return model.FinishOutcome(res.Outcome), nil
}

// Unfinished lists inserted tokens with a journal entry of an interrupted
// write. A re-key whose new key pair waits for its certificate is not one:
// the next write of that application takes the pending key pair.
func (p *P11Installer) Unfinished(ctx context.Context) ([]string, error) {
	toks, err := p.src.List(ctx)
	if err != nil {
		return nil, err
	}
	j, err := token.OpenJournal(p.journalDir, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range toks {
		e, err := j.Load(t.Serial)
		if err != nil {
			out = append(out, t.Serial) // an unreadable journal: Recover says what it finds
			continue
		}
		if e != nil && !(e.Mode == token.Rekey && e.Step == token.StepAwaitingCert && e.Hold) {
			out = append(out, t.Serial)
		}
	}
	return out, nil
}

// Close logs out and closes the token.
func (p *P11Installer) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tok != nil {
		_ = p.tok.Logout(context.Background())
		p.tok.Close()
		p.tok = nil
	}
}
