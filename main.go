// Command ukeyrenew is the UKey Renew desktop client (证书续期助手): it shows
// the certificates on the inserted UKeys and renews them through the CA's
// renewal service.
//
// It only wires the parts together: the PKCS#11 modules (--module, else
// $UKEY_PKCS11_MODULE, else the well-known vendor modules found on this PC),
// the renewal service (found by client/config: --service, $UKEY_SERVICE_URL,
// the user's config file, the machine's registry (Windows) and config file,
// the build's default with its pinned CA; with none, the first-run dialog
// asks and saves the answer for this user; --show-service[=FILE] prints which
// one and where it was found, and exits), the session store (keyring, TPM or
// memory; memory only with --counter), the language, the theme and the
// window of package app.
//
// Start-up is arranged for the first frame: the garbage collector waits for
// it (the heap only grows until then), and the PKCS#11 modules, the session
// store and the reminders start once it is on screen (Fyne draws the first
// frame inside ShowAndRun, before it calls the OnStarted hook).
// docs/benchmarks/gui.md has the figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/storage"

	"github.com/ukeyrenew/ukeyrenew/app"
	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
	"github.com/ukeyrenew/ukeyrenew/assets"
	"github.com/ukeyrenew/ukeyrenew/client"
	clientconfig "github.com/ukeyrenew/ukeyrenew/client/config"
	"github.com/ukeyrenew/ukeyrenew/client/session"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// appID must match FyneApp.toml: preferences and storage live under it.
const appID = "cn.ukeyrenew.client"

func main() {
	module := flag.String("module", "", "PKCS#11 module file(s), separated by "+string(filepath.ListSeparator)+
		" (default $UKEY_PKCS11_MODULE, else the well-known vendor modules found on this PC)")
	counter := flag.Bool("counter", false, "counter mode for CA service counters: keep no session on disk")
	idle := flag.Duration("idle", app.IdleAfterDefault, "with --counter: sign the customer out after this long without input (0: never)")
	service := flag.String("service", "", "base URL of the renewal service (default $"+clientconfig.EnvService+
		", else the user's, else the machine's config file, else the build's default, else the first-run dialog asks)")
	serviceCA := flag.String("ca", "", "PEM file of the CA to pin for the service's TLS (default $"+clientconfig.EnvServiceCA+")")
	var show showFlag
	flag.Var(&show, "show-service", "print the service this client would use and where it was found, then exit; --show-service=FILE writes it to FILE")
	flag.Parse()
	if show.set {
		os.Exit(showService(show.file, clientconfig.Default(*service, *serviceCA)))
	}
	resumeGC := pauseGC(startupHeapLimit)

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
	deps := app.Deps{Tokens: src, PINs: src, Counter: *counter, IdleAfter: *idle, SystemIdle: app.SystemIdle, DeferJourney: true,
		Installer: app.NewP11Installer(src, "", nil),
		Open: func(path string) error {
			u, err := url.Parse(storage.NewFileURI(path).String())
			if err != nil {
				return err
			}
			return a.OpenURL(u)
		},
		OpenURL: a.OpenURL}
	if *idle == 0 {
		deps.IdleAfter = -1 // never
	}
	if !*counter { // counter mode keeps the session in memory only
		deps.OpenStore = func(ctx context.Context) (*session.Store, error) { return session.Open(ctx, session.Options{}) }
	}
	opts := []client.Option{}
	if app.CurrentLang() == app.LangEN {
		opts = append(opts, client.WithLanguage("en"))
	} else {
		opts = append(opts, client.WithLanguage("zh-CN"))
	}
	svcURL, caPEM, err := findService(clientconfig.Default(*service, *serviceCA))
	switch {
	case err != nil: // the journey's tabs say it; the Tokens screen still works
		fmt.Fprintln(os.Stderr, "ukeyrenew:", err)
		deps.ServiceProblem = err.Error()
	case svcURL == "":
		user, _ := clientconfig.UserFile() // "": the dialog says it cannot save
		deps.FirstRun = app.NewFirstRun(user, opts...)
	default:
		if caPEM != nil {
			opts = append(opts, client.WithCA(caPEM))
		}
		if acc, err := app.NewAccount(svcURL, nil, opts...); err != nil {
			fmt.Fprintln(os.Stderr, "ukeyrenew:", err)
			deps.ServiceProblem = err.Error()
		} else {
			deps.Account = acc
		}
	}
	if up, err := newUpdater(a, svcURL, opts); err != nil {
		fmt.Fprintln(os.Stderr, "ukeyrenew: no update checks:", err)
	} else {
		deps.Updater = up
	}
	ui := app.New(ctx, a, deps)
	a.Lifecycle().SetOnStarted(func() { // after the first frame
		resumeGC()
		go ui.Run()
	})

	// Quit through Fyne on SIGINT/SIGTERM so preferences are written whole.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fyne.Do(a.Quit)
	}()

	ui.Win.SetMaster()
	ui.Win.ShowAndRun()
	if err := ui.Close(); err != nil { // counter mode: the last customer's session and files
		fmt.Fprintln(os.Stderr, "ukeyrenew:", err)
	}
}

// startupHeapLimit bounds the heap while the garbage collector waits for the
// first frame (the heap is about 70 MB then, 32 MB of it live, measured with
// GODEBUG=gctrace=1): past the limit, Go collects as usual.
const startupHeapLimit = 256 << 20

// pauseGC turns garbage collection off, up to heap limit (or GOMEMLIMIT if
// lower), and returns the function that turns it back to what it was (GOGC,
// GOMEMLIMIT).
func pauseGC(limit int64) (resume func()) {
	old := debug.SetMemoryLimit(-1) // -1 reads it
	debug.SetMemoryLimit(min(old, limit))
	percent := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(old)
	}
}

// findService finds the renewal service (client/config's order) and the
// CA to pin for it (the build's baked one, or a CA file read; nil for the
// system's roots). With none configured the URL is "": the first-run
// dialog asks, rather than the client talking to some default address.
func findService(in clientconfig.Inputs) (string, []byte, error) {
	svc, err := clientconfig.Find(in)
	if err != nil || svc.URL == "" {
		return "", nil, err
	}
	pem, err := svc.CA()
	if err != nil {
		return "", nil, err
	}
	return svc.URL, pem, nil
}

// showFlag is --show-service: alone, the answer goes to standard output;
// with =FILE, to FILE (a GUI program's standard output may be nowhere).
type showFlag struct {
	set  bool
	file string
}

func (f *showFlag) String() string   { return f.file }
func (f *showFlag) IsBoolFlag() bool { return true }
func (f *showFlag) Set(v string) error {
	switch v {
	case "true":
		f.set, f.file = true, ""
	case "false":
		f.set, f.file = false, ""
	default:
		f.set, f.file = true, v
	}
	return nil
}

// showService writes one line to file (standard output if ""): the service
// found in in, and where, for IT to see what an installer or a config file
// set. A bad configuration is written instead, and the exit code is 1.
func showService(file string, in clientconfig.Inputs) int {
	line, code := serviceLine(in), 0
	if strings.HasPrefix(line, "ukeyrenew: ") {
		code = 1
	}
	out := io.Writer(os.Stdout)
	if file != "" {
		f, err := os.Create(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ukeyrenew:", err)
			return 2
		}
		defer f.Close()
		out = f
	}
	if _, err := fmt.Fprintln(out, line); err != nil {
		fmt.Fprintln(os.Stderr, "ukeyrenew:", err)
		return 2
	}
	return code
}

// serviceLine says which service in names and where it was found:
// "URL (SOURCE[: PATH])[, CA FILE]", or "ukeyrenew: ERROR".
func serviceLine(in clientconfig.Inputs) string {
	svc, err := clientconfig.Find(in)
	switch {
	case err != nil:
		return "ukeyrenew: " + err.Error()
	case svc.URL == "":
		return "none configured (the first-run dialog asks for the service)"
	}
	where := string(svc.From)
	if svc.Path != "" {
		where += ": " + svc.Path
	}
	line := svc.URL + " (" + where + ")"
	if svc.CAFile != "" {
		line += ", CA " + svc.CAFile
	} else if len(svc.CAPEM) > 0 {
		line += ", CA baked into the build"
	}
	return line
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
