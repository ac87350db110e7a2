//go:build cgo

package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// P11Source is the TokenSource and PINSource over real PKCS#11 modules,
// through the token package. It needs cgo (the module is a C library), so
// it is not part of CGO_ENABLED=0 builds; the view-models do not depend on it.
//
// A token seen through two modules (the same serial) is listed once, from
// the first module that shows it.
type P11Source struct {
	watch token.WatchOptions
	paths []string // modules still to open, on first use

	once    sync.Once
	mods    []*token.Module
	openErr error
}

// newP11Source reads tokens through mods; opts tune the insertion watcher
// (ReloadEvery > 0 for SoftHSM2, which sees tokens made by other processes
// only after re-initialising).
func newP11Source(mods []*token.Module, opts token.WatchOptions) *P11Source {
	s := &P11Source{mods: mods, watch: opts}
	s.once.Do(func() {})
	return s
}

// OpenP11Source returns a source over the module files at paths, opened on
// first use from the caller's goroutine (the view-model's, not the UI's): a
// vendor module can take long to initialise. Modules that fail to load are
// skipped; if none loads, List says why. The watcher re-initialises SoftHSM2
// modules every second, so tokens made by other processes appear.
func OpenP11Source(paths []string) *P11Source {
	opts := token.WatchOptions{}
	for _, p := range paths {
		if strings.Contains(strings.ToLower(filepath.Base(p)), "softhsm") {
			opts.ReloadEvery = softHSMReloadEvery
		}
	}
	return &P11Source{paths: paths, watch: opts}
}

// softHSMReloadEvery is how often the watcher re-initialises a SoftHSM2
// module (it reads its token directory only in C_Initialize).
const softHSMReloadEvery = time.Second

// modules opens the modules on first use.
func (s *P11Source) modules() ([]*token.Module, error) {
	s.once.Do(func() {
		var errs []error
		for _, p := range s.paths {
			m, err := token.OpenModule(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.mods = append(s.mods, m)
		}
		if len(s.mods) == 0 {
			if len(s.paths) == 0 {
				errs = append(errs, errors.New("no module file found; install the UKey vendor's driver or pass --module"))
			}
			s.openErr = fmt.Errorf("%w: %w", model.ErrNoModule, errors.Join(errs...))
		}
	})
	return s.mods, s.openErr
}

// Close releases the modules.
func (s *P11Source) Close() error {
	mods, _ := s.modules()
	var errs []error
	for _, m := range mods {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

var (
	_ model.DetailSource = (*P11Source)(nil)
	_ model.PINSource    = (*P11Source)(nil)
)

// List reads every module's tokens and their certificates (ListDetails
// without the details).
func (s *P11Source) List(ctx context.Context) ([]model.Token, error) {
	details, err := s.ListDetails(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]model.Token, len(details))
	for i, d := range details {
		out[i] = d.Token
	}
	return out, nil
}

// ListDetails reads every module's tokens, their certificates, which of
// them have their key pair on the token, and the objects that cannot be
// read (one damaged object no longer hides the rest of the token). No PIN
// is used: a key pair is known by its public key object; on a token that
// shows no key object without a PIN, every holder's certificate counts as
// having its pair. A module that fails makes it fail only when no module
// answered.
func (s *P11Source) ListDetails(ctx context.Context) ([]model.TokenDetail, error) {
	mods, err := s.modules()
	if err != nil {
		return nil, err
	}
	var out []model.TokenDetail
	seen := map[string]bool{}
	var errs []error
	ok := 0
	for _, m := range mods {
		infos, err := m.Tokens(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ok++
		for _, ti := range infos {
			if seen[ti.Serial] {
				continue
			}
			seen[ti.Serial] = true
			out = append(out, s.read(ctx, m, ti))
		}
	}
	if ok == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Serial < out[j].Serial })
	return out, nil
}

func (s *P11Source) read(ctx context.Context, m *token.Module, ti token.TokenInfo) model.TokenDetail {
	t := model.TokenDetail{Token: model.Token{
		Serial: ti.Serial, Label: ti.Label, Manufacturer: ti.Manufacturer, Model: ti.Model,
		PIN: pinState(ti.PIN),
	}}
	if ti.LabelEncoding == "hex" {
		t.LabelErr = fmt.Errorf("label is neither UTF-8 nor GBK: %s", ti.Label)
		t.Label = ""
	}
	tok, err := m.Open(ctx, ti.Serial)
	if err != nil {
		t.CertsErr = err
		return t
	}
	defer tok.Close()
	inv, err := tok.Objects(ctx)
	if err != nil {
		t.CertsErr = err
		return t
	}
	// Without a PIN a token shows its public key objects, if it keeps
	// any; one that shows no key object at all cannot tell which
	// certificate has its pair, and a holder's certificate (not a CA's)
	// is then taken to have it: the write step logs in and checks.
	blind := !inv.LoggedIn && len(inv.PrivateKeys) == 0 && len(inv.PublicKeys) == 0
	for _, c := range inv.Certificates {
		t.Certs = append(t.Certs, certOf(c))
		t.KeyPair = append(t.KeyPair, c.Info != nil && (c.PrivateKey != nil || c.PublicKey != nil || (blind && !c.Info.IsCA)))
	}
	for _, d := range inv.Damaged {
		t.Damaged = append(t.Damaged, model.DamagedObject{Label: d.Label, Reason: d.Reason, Repairable: d.Remains})
	}
	return t
}

func certOf(c *token.Certificate) model.Cert {
	out := model.Cert{Label: c.Label, ID: c.ID}
	ci := c.Info
	if ci == nil {
		why := c.ParseError
		if why == "" {
			why = "unknown format"
		}
		out.Err = errors.New(why)
		return out
	}
	out.Holder = ci.Subject.Holder()
	out.Serial = ci.Serial
	out.Issuer = ci.Issuer.CommonName
	if out.Issuer == "" {
		out.Issuer = ci.Issuer.Holder()
	}
	out.NotBefore, out.NotAfter = ci.NotBefore, ci.NotAfter
	out.KeyType = keyType(ci)
	return out
}

func keyType(ci *token.CertInfo) string {
	switch {
	case ci.KeyAlgorithm == "SM2" || ci.Curve == "SM2":
		return "SM2"
	case ci.KeyAlgorithm == "RSA" && ci.KeyBits > 0:
		return fmt.Sprintf("RSA %d", ci.KeyBits)
	case ci.KeyAlgorithm == "ECDSA" && ci.Curve != "":
		return "ECDSA " + ci.Curve
	}
	return strings.TrimSpace(ci.KeyAlgorithm + " " + ci.Curve)
}

func pinState(p token.PINState) model.PINState {
	return model.PINState{CountLow: p.CountLow, FinalTry: p.FinalTry, Locked: p.Locked, MustChange: p.MustChange}
}

// Watch follows every module with the token package's poller and signals
// each insertion, removal or change. The channel closes when ctx is done or
// every module's watcher has stopped.
func (s *P11Source) Watch(ctx context.Context) (<-chan struct{}, error) {
	mods, err := s.modules()
	if err != nil {
		// List reports the missing module; there is nothing to watch.
		return make(chan struct{}), nil
	}
	ch := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for _, m := range mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = m.Watch(ctx, s.watch, func(ev token.Event) {
				if ev.Kind == token.Present {
					return // the view-model lists once at start
				}
				select {
				case ch <- struct{}{}:
				default: // a signal is pending; the next List sees this change too
				}
			})
		}()
	}
	go func() { wg.Wait(); close(ch) }()
	return ch, nil
}

// find returns the module that shows the token with serial.
func (s *P11Source) find(ctx context.Context, serial string) (*token.Module, token.TokenInfo, error) {
	mods, err := s.modules()
	if err != nil {
		return nil, token.TokenInfo{}, err
	}
	for _, m := range mods {
		infos, err := m.Tokens(ctx)
		if err != nil {
			continue
		}
		for _, ti := range infos {
			if ti.Serial == serial {
				return m, ti, nil
			}
		}
	}
	return nil, token.TokenInfo{}, fmt.Errorf("token %s: %w", serial, model.ErrTokenRemoved)
}

// PINState reads the token's PIN flags.
func (s *P11Source) PINState(ctx context.Context, serial string) (model.PINState, error) {
	_, ti, err := s.find(ctx, serial)
	if err != nil {
		return model.PINState{}, err
	}
	return pinState(ti.PIN), nil
}

// CheckPIN logs in once with pin and out again. pin is wiped.
func (s *P11Source) CheckPIN(ctx context.Context, serial string, pin []byte) error {
	defer clear(pin)
	m, _, err := s.find(ctx, serial)
	if err != nil {
		return err
	}
	tok, err := m.Open(ctx, serial)
	if err != nil {
		return mapTokenErr(err)
	}
	defer tok.Close()
	if err := tok.Login(ctx, pin); err != nil {
		return mapTokenErr(err)
	}
	if err := tok.Logout(ctx); err != nil {
		return mapTokenErr(err)
	}
	return nil
}

// mapTokenErr adds the view-models' sentinel to a token package error.
func mapTokenErr(err error) error {
	switch {
	case errors.Is(err, token.ErrPINLocked):
		return fmt.Errorf("%w: %w", model.ErrPINLocked, err)
	case errors.Is(err, token.ErrPINIncorrect):
		return fmt.Errorf("%w: %w", model.ErrPINIncorrect, err)
	case errors.Is(err, token.ErrTokenRemoved), errors.Is(err, token.ErrTokenNotFound):
		return fmt.Errorf("%w: %w", model.ErrTokenRemoved, err)
	}
	return err
}
