package main

import (
	"fmt"
	"runtime"

	"fyne.io/fyne/v2"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/update"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// newUpdater is the client update checker for this build: its platform,
// its version (set at link time by scripts/package.sh; in development
// FyneApp.toml's, as Fyne reads it), its own client of the service (the
// update check is public: no session) and, asked when first needed, its
// Authenticode signer.
func newUpdater(a fyne.App, serviceURL string, opts []client.Option) (*update.Updater, error) {
	p, ok := update.PlatformOf(runtime.GOOS, runtime.GOARCH)
	if !ok {
		return nil, update.ErrUnsupported
	}
	v := update.BuildVersion
	if v == "" {
		v = a.Metadata().Version
	}
	cur, err := renewal.ParseVersion(v)
	if err != nil {
		return nil, fmt.Errorf("this build's version %q: %w", v, err)
	}
	c, err := client.New(serviceURL, opts...)
	if err != nil {
		return nil, err
	}
	return update.New(update.Config{Client: c, Platform: p, Current: cur, Signer: update.ProgramSigner})
}
