// Command ukeyctl lists, watches and renews certificates on USB tokens
// (UKeys) through PKCS#11, for scripts at service counters and for support
// staff. Its JSON output is stable and documented in docs/ukeyctl.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/ukeyrenew/ukeyrenew/token"
)

// Exit statuses, documented in docs/ukeyctl.md.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitPIN      = 3 // PIN incorrect, locked, expired or invalid
	exitNotFound = 4 // no such token or object
)

type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	summary string
}

var commands = map[string]command{
	"modules":      {cmdModules, "list the PKCS#11 modules in use and what they report"},
	"tokens":       {cmdTokens, "list the initialised tokens"},
	"certs":        {cmdCerts, "list certificates (and with --login keys, ghosts, orphans)"},
	"watch":        {cmdWatch, "report token insertion, removal and change until interrupted"},
	"keygen":       {cmdKeygen, "generate a key pair on a token"},
	"csr":          {cmdCSR, "make a certificate request signed on the token"},
	"install-cert": {cmdInstallCert, "write a renewed certificate to a token safely"},
	"recover":      {cmdRecover, "complete or roll back an interrupted install"},
	"change-pin":   {cmdChangePIN, "change a token's user PIN"},
	// Service commands (service*.go, docs/ukeyctl-service.md).
	"login":         {cmdLogin, "sign in to the renewal service (SMS code or password)"},
	"logout":        {cmdLogout, "sign out of the renewal service"},
	"apps":          {cmdApps, "list renewal applications"},
	"fetch-install": {cmdFetchInstall, "fetch an application's renewed certificate, install it on a token, confirm"},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ukeyctl: unknown command %q (run `ukeyctl help`)\n", args[0])
		return exitUsage
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "ukeyctl: %s\n", oneLine(err.Error()))
	return exitCode(err)
}

func exitCode(err error) int {
	var ue usageError
	var pe *token.PINError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &pe), errors.Is(err, token.ErrPINIncorrect), errors.Is(err, token.ErrPINLocked),
		errors.Is(err, token.ErrPINExpired), errors.Is(err, token.ErrPINInvalid):
		return exitPIN
	case errors.Is(err, token.ErrTokenNotFound), errors.Is(err, token.ErrObjectNotFound), errors.Is(err, errNoSuchToken):
		return exitNotFound
	}
	return exitError
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ukeyctl COMMAND [flags]   (ukeyctl COMMAND -h for its flags)")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "module: --module PATH, else $%s, else the config file ($%s or the user config dir's ukeyrenew/ukeyctl.json), else well-known modules\n", envModule, envConfig)
}
