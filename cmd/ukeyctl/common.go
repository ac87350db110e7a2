package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/ukeyrenew/ukeyrenew/token"
)

// Environment variables and files ukeyctl reads.
const (
	envModule = "UKEY_PKCS11_MODULE" // module path(s), separated by the OS path list separator
	envConfig = "UKEY_CONFIG"        // config file path, instead of the user config dir's
	// maxPINLen bounds a PIN read from a prompt, stdin or a file, in bytes.
	maxPINLen = 256
	// maxConfigSize bounds the config file, in bytes.
	maxConfigSize = 64 << 10
)

// usageError is a command line mistake: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// newFlagSet makes a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and refuses positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// moduleSource is where a module path came from.
type moduleSource string

const (
	fromFlag      moduleSource = "flag"
	fromEnv       moduleSource = "env"
	fromConfig    moduleSource = "config"
	fromDiscovery moduleSource = "discovery"
)

// moduleChoice is one module to try.
type moduleChoice struct {
	Path   string       `json:"path"`
	Source moduleSource `json:"source"`
	Vendor string       `json:"vendor,omitempty"`
}

// config is the optional JSON config file.
type config struct {
	Modules []string `json:"modules"`
}

func configPath() (string, error) {
	if p := os.Getenv(envConfig); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "ukeyrenew", "ukeyctl.json"), nil
}

// loadConfig reads the config file; a missing file is an empty config.
func loadConfig() (config, string, error) {
	var c config
	p, err := configPath()
	if err != nil {
		return c, "", nil
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return c, p, nil
	}
	if err != nil {
		return c, p, fmt.Errorf("config %s: %w", p, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return c, p, fmt.Errorf("config %s: %w", p, err)
	}
	if len(data) > maxConfigSize {
		return c, p, fmt.Errorf("config %s: larger than %d bytes", p, maxConfigSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, p, fmt.Errorf("config %s: %w", p, err)
	}
	for _, m := range c.Modules {
		if strings.TrimSpace(m) == "" {
			return c, p, fmt.Errorf("config %s: empty module path", p)
		}
	}
	return c, p, nil
}

// resolveModules picks the modules to use: --module, else $UKEY_PKCS11_MODULE,
// else the config file's "modules", else the well-known modules found on
// this machine. The first source that names any module wins.
func resolveModules(flagPath string) ([]moduleChoice, error) {
	if flagPath != "" {
		return []moduleChoice{{Path: flagPath, Source: fromFlag}}, nil
	}
	if env := os.Getenv(envModule); env != "" {
		var out []moduleChoice
		for _, p := range filepath.SplitList(env) {
			if p != "" {
				out = append(out, moduleChoice{Path: p, Source: fromEnv})
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	c, _, err := loadConfig()
	if err != nil {
		return nil, err
	}
	if len(c.Modules) > 0 {
		out := make([]moduleChoice, len(c.Modules))
		for i, p := range c.Modules {
			out[i] = moduleChoice{Path: p, Source: fromConfig}
		}
		return out, nil
	}
	var out []moduleChoice
	for _, k := range token.DiscoverModules() {
		out = append(out, moduleChoice{Path: k.Path, Source: fromDiscovery, Vendor: k.Vendor})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PKCS#11 module found: give --module PATH or set %s", envModule)
	}
	return out, nil
}

// openModules loads the chosen modules. A module named explicitly (flag,
// env, config) that fails is an error; a discovered one that fails is
// reported on stderr and skipped.
func openModules(flagPath string, stderr io.Writer) ([]*token.Module, error) {
	choices, err := resolveModules(flagPath)
	if err != nil {
		return nil, err
	}
	var mods []*token.Module
	for _, c := range choices {
		m, err := token.OpenModule(c.Path)
		if err != nil {
			if c.Source != fromDiscovery {
				closeModules(mods)
				return nil, err
			}
			fmt.Fprintf(stderr, "ukeyctl: warning: %v\n", err)
			continue
		}
		mods = append(mods, m)
	}
	if len(mods) == 0 {
		return nil, errors.New("no PKCS#11 module could be loaded")
	}
	return mods, nil
}

func closeModules(mods []*token.Module) {
	for _, m := range mods {
		m.Close()
	}
}

// openToken finds the token with the given serial in the chosen modules and
// opens it. The returned function closes the token and the modules.
func openToken(ctx context.Context, flagPath, serial string, stderr io.Writer) (*token.Token, func(), error) {
	if serial == "" {
		return nil, nil, usagef("--token SERIAL is required (see `ukeyctl tokens`)")
	}
	mods, err := openModules(flagPath, stderr)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range mods {
		tok, err := m.Open(ctx, serial)
		if err == nil {
			return tok, func() { tok.Close(); closeModules(mods) }, nil
		}
		if !errors.Is(err, token.ErrTokenNotFound) {
			closeModules(mods)
			return nil, nil, err
		}
	}
	closeModules(mods)
	return nil, nil, fmt.Errorf("%w %q (see `ukeyctl tokens`)", errNoSuchToken, serial)
}

var errNoSuchToken = errors.New("no token with serial")

// pinFlags are the ways a PIN may be given. A PIN is never a plain argument.
type pinFlags struct {
	stdin bool
	file  string
}

func (p *pinFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&p.stdin, "pin-stdin", false, "read the PIN from the first line of standard input")
	fs.StringVar(&p.file, "pin-file", "", "read the PIN from the first line of this file")
}

// pinReader reads one PIN after the other from the chosen source, so that
// change-pin can take the old and the new PIN from consecutive lines. It
// reads byte by byte, without a buffer of its own, so no copy of a PIN is
// left behind, and the next line stays unread for the next PIN.
type pinReader struct {
	flags  pinFlags
	stdin  *os.File
	stderr io.Writer
	src    io.Reader // nil: prompt on the terminal

	fileData []byte
}

func newPINReader(flags pinFlags, stdin *os.File, stderr io.Writer) (*pinReader, error) {
	if flags.stdin && flags.file != "" {
		return nil, usagef("give either --pin-stdin or --pin-file, not both")
	}
	r := &pinReader{flags: flags, stdin: stdin, stderr: stderr}
	switch {
	case flags.stdin:
		r.src = stdin
	case flags.file != "":
		f, err := os.Open(flags.file)
		if err != nil {
			return nil, fmt.Errorf("pin file: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(f, 4*(maxPINLen+2)))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("pin file: %w", err)
		}
		r.fileData = data
		r.src = bytes.NewReader(data)
	}
	return r, nil
}

// Close wipes what was read from a PIN file.
func (r *pinReader) Close() { wipe(r.fileData) }

// Read returns the next PIN. The caller wipes it (token.Login does).
func (r *pinReader) Read(prompt string) ([]byte, error) {
	if r.src == nil {
		fd := int(r.stdin.Fd())
		if !term.IsTerminal(fd) {
			return nil, usagef("no PIN: standard input is not a terminal; use --pin-stdin or --pin-file")
		}
		fmt.Fprint(r.stderr, prompt+": ")
		pin, err := term.ReadPassword(fd)
		fmt.Fprintln(r.stderr)
		if err != nil {
			return nil, fmt.Errorf("read pin: %w", err)
		}
		return checkPIN(pin)
	}
	pin := make([]byte, 0, maxPINLen+1)
	var b [1]byte
	for {
		n, err := r.src.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			if len(pin) == maxPINLen {
				wipe(pin)
				b[0] = 0
				return nil, fmt.Errorf("pin longer than %d bytes", maxPINLen)
			}
			pin = append(pin, b[0])
			b[0] = 0
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			wipe(pin)
			return nil, fmt.Errorf("read pin: %w", err)
		}
	}
	if n := len(pin); n > 0 && pin[n-1] == '\r' {
		pin[n-1] = 0
		pin = pin[:n-1]
	}
	return checkPIN(pin)
}

func checkPIN(pin []byte) ([]byte, error) {
	if len(pin) == 0 {
		return nil, errors.New("empty PIN")
	}
	if len(pin) > maxPINLen {
		wipe(pin)
		return nil, fmt.Errorf("pin longer than %d bytes", maxPINLen)
	}
	return pin, nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// login reads one PIN and logs in; the PIN is wiped by token.Login.
func login(ctx context.Context, tok *token.Token, flags pinFlags, stderr io.Writer) error {
	r, err := newPINReader(flags, os.Stdin, stderr)
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

// writeJSON writes v as indented JSON with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// parseHexID parses a CKA_ID given in hex (colons allowed).
func parseHexID(s string) ([]byte, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if s == "" {
		return nil, errors.New("empty id")
	}
	if len(s) > 2*token.MaxIDLen {
		return nil, fmt.Errorf("id longer than %d bytes", token.MaxIDLen)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("id %q is not hex: %w", s, err)
	}
	return b, nil
}
