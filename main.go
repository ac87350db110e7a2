// Command ukeyrenew is the UKey Renew desktop client (证书续期助手): it shows
// the certificates on the inserted UKeys and, in later versions, renews them
// through the CA's renewal service.
//
// It only wires the parts together: the PKCS#11 modules (--module, else
// $UKEY_PKCS11_MODULE, else the well-known vendor modules found on this PC),
// the language, the theme and the window of package app.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/ukeyrenew/ukeyrenew/app"
	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
	"github.com/ukeyrenew/ukeyrenew/assets"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// appID must match FyneApp.toml: preferences and storage live under it.
const appID = "cn.ukeyrenew.client"

func main() {
	module := flag.String("module", "", "PKCS#11 module file(s), separated by "+string(filepath.ListSeparator)+
		" (default $UKEY_PKCS11_MODULE, else the well-known vendor modules found on this PC)")
	counter := flag.Bool("counter", false, "counter mode for CA service counters: keep no session on disk")
	flag.Parse()

	if _, err := app.SetupLanguage(); err != nil {
		fmt.Fprintln(os.Stderr, "ukeyrenew:", err) // the window still works, in the fallback strings
	}
	src := app.OpenP11Source(modulePaths(*module, os.Getenv("UKEY_PKCS11_MODULE")))
	defer src.Close()

	a := fyneapp.NewWithID(appID)
	a.SetIcon(assets.Icon())
	a.Settings().SetTheme(apptheme.New())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ui := app.New(ctx, a, app.Deps{Tokens: src, PINs: src, Counter: *counter})
	go ui.Run()

	// Quit through Fyne on SIGINT/SIGTERM so preferences are written whole.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fyne.Do(a.Quit)
	}()

	ui.Win.SetMaster()
	ui.Win.ShowAndRun()
}

// modulePaths picks the module files: the flag, else the environment, else
// the well-known modules present on this machine.
func modulePaths(flagValue, env string) []string {
	for _, v := range []string{flagValue, env} {
		if v != "" {
			return filepath.SplitList(v)
		}
	}
	var paths []string
	for _, km := range token.DiscoverModules() {
		paths = append(paths, km.Path)
	}
	return paths
}
