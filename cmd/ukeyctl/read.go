package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/token"
)

// moduleJSON is one entry of `modules --json`.
type moduleJSON struct {
	Path            string `json:"path"`
	Source          string `json:"source"`
	Vendor          string `json:"vendor"`
	Loaded          bool   `json:"loaded"`
	Error           string `json:"error"`
	Manufacturer    string `json:"manufacturer"`
	Description     string `json:"description"`
	LibraryVersion  string `json:"library_version"`
	CryptokiVersion string `json:"cryptoki_version"`
	Tokens          int    `json:"tokens"`
}

func cmdModules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("modules", stderr)
	module := fs.String("module", "", "PKCS#11 module path")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	choices, err := resolveModules(*module)
	if err != nil {
		return err
	}
	out := []moduleJSON{}
	for _, c := range choices {
		mj := moduleJSON{Path: c.Path, Source: string(c.Source), Vendor: c.Vendor}
		m, err := token.OpenModule(c.Path)
		if err != nil {
			mj.Error = oneLine(err.Error())
			out = append(out, mj)
			continue
		}
		mj.Loaded = true
		if info, err := m.Info(ctx); err == nil {
			mj.Path, mj.Manufacturer, mj.Description = info.Path, info.Manufacturer, info.Description
			mj.LibraryVersion, mj.CryptokiVersion = info.LibraryVersion, info.CryptokiVer
		} else {
			mj.Error = oneLine(err.Error())
		}
		if toks, err := m.Tokens(ctx); err == nil {
			mj.Tokens = len(toks)
		} else if mj.Error == "" {
			mj.Error = oneLine(err.Error())
		}
		m.Close()
		out = append(out, mj)
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"modules": out})
	}
	for _, m := range out {
		if !m.Loaded {
			fmt.Fprintf(stdout, "%s (%s): NOT LOADED: %s\n", m.Path, m.Source, m.Error)
			continue
		}
		fmt.Fprintf(stdout, "%s (%s): %s %s, library %s, cryptoki %s, %d token(s)\n",
			m.Path, m.Source, m.Manufacturer, m.Description, m.LibraryVersion, m.CryptokiVersion, m.Tokens)
	}
	return nil
}

func cmdTokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokens", stderr)
	module := fs.String("module", "", "PKCS#11 module path")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	mods, err := openModules(*module, stderr)
	if err != nil {
		return err
	}
	defer closeModules(mods)
	all := []token.TokenInfo{}
	for _, m := range mods {
		toks, err := m.Tokens(ctx)
		if err != nil {
			return err
		}
		all = append(all, toks...)
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"tokens": all})
	}
	for _, t := range all {
		fmt.Fprintf(stdout, "%s  %-32s  %s %s  PIN: %s\n", t.Serial, t.Label, t.Manufacturer, t.Model, t.PIN)
	}
	return nil
}

// nameJSON is a distinguished name in `certs --json`.
type nameJSON = token.Name

// certJSON is one certificate in `certs --json`.
type certJSON struct {
	ID                 string    `json:"id"`
	Label              string    `json:"label"`
	Holder             string    `json:"holder"`
	Subject            *nameJSON `json:"subject"`
	Issuer             *nameJSON `json:"issuer"`
	Serial             string    `json:"serial"`
	NotBefore          string    `json:"not_before"`
	NotAfter           string    `json:"not_after"`
	Status             string    `json:"status"`
	DaysLeft           int       `json:"days_left"`
	DaysSinceExpiry    int       `json:"days_since_expiry"`
	KeyAlgorithm       string    `json:"key_algorithm"`
	KeyBits            int       `json:"key_bits"`
	Curve              string    `json:"curve"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	KeyUsage           []string  `json:"key_usage"`
	ExtKeyUsage        []string  `json:"ext_key_usage"`
	IsCA               bool      `json:"is_ca"`
	SHA256             string    `json:"sha256"`
	HasPrivateKey      *bool     `json:"has_private_key"` // null when not logged in
	KeyMatchedBy       string    `json:"key_matched_by"`  // "id_and_key", "id", "key" or ""
	HasPublicKey       bool      `json:"has_public_key"`
	ParseError         string    `json:"parse_error"`
}

type objectJSON struct {
	Class string `json:"class"`
	ID    string `json:"id"`
	Label string `json:"label"`
}

type keyJSON struct {
	Class   string `json:"class"`
	ID      string `json:"id"`
	Label   string `json:"label"`
	KeyType string `json:"key_type"`
	Bits    int    `json:"bits"`
	Curve   string `json:"curve"`
}

// damagedJSON is an object whose attributes cannot be read.
type damagedJSON struct {
	Class            string `json:"class"` // "unreadable" when not even the class reads
	ID               string `json:"id"`
	Label            string `json:"label"`
	Handle           uint   `json:"handle"` // valid only in this listing
	Reason           string `json:"reason"`
	RemovedByRecover bool   `json:"removed_by_recover"`
}

type tokenCertsJSON struct {
	Serial       string        `json:"serial"`
	Label        string        `json:"label"`
	Module       string        `json:"module"`
	LoggedIn     bool          `json:"logged_in"`
	Certificates []certJSON    `json:"certificates"`
	Ghosts       []objectJSON  `json:"ghosts"`
	OrphanKeys   []keyJSON     `json:"orphan_keys"`
	Damaged      []damagedJSON `json:"damaged"`
}

func certToJSON(c *token.Certificate, loggedIn bool, now time.Time, loc *time.Location) certJSON {
	cj := certJSON{ID: c.IDHex(), Label: c.Label, ParseError: c.ParseError, HasPublicKey: c.PublicKey != nil,
		KeyUsage: []string{}, ExtKeyUsage: []string{}}
	if loggedIn {
		has := c.HasKey()
		cj.HasPrivateKey = &has
		cj.KeyMatchedBy = string(c.MatchedBy)
	}
	if ci := c.Info; ci != nil {
		cj.Holder = ci.Subject.Holder()
		cj.Subject, cj.Issuer = &ci.Subject, &ci.Issuer
		cj.Serial = ci.Serial
		cj.NotBefore, cj.NotAfter = ci.NotBefore.Format(time.RFC3339), ci.NotAfter.Format(time.RFC3339)
		cj.Status = ci.Status(now)
		// One rule with the GUI: calendar days in the clerk's zone.
		n := renewal.DaysLeftIn(ci.NotAfter, now, loc)
		cj.DaysLeft, cj.DaysSinceExpiry = max(n, 0), max(-n, 0)
		cj.KeyAlgorithm, cj.KeyBits, cj.Curve = ci.KeyAlgorithm, ci.KeyBits, ci.Curve
		cj.SignatureAlgorithm = ci.SignatureAlgorithm
		cj.KeyUsage, cj.ExtKeyUsage = ci.KeyUsage, ci.ExtKeyUsage
		cj.IsCA, cj.SHA256 = ci.IsCA, ci.SHA256
	} else {
		cj.Status = "unparsable"
	}
	return cj
}

func cmdCerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseCertsFlags(args, stderr)
	if err != nil {
		return err
	}
	mods, err := openModules(o.module, stderr)
	if err != nil {
		return err
	}
	defer closeModules(mods)
	out := []tokenCertsJSON{}
	found := false
	for _, m := range mods {
		infos, err := m.Tokens(ctx)
		if err != nil {
			return err
		}
		for _, ti := range infos {
			if o.serial != "" && ti.Serial != o.serial {
				continue
			}
			found = true
			tc, err := readTokenCerts(ctx, m, ti, o.login, o.pins, o.now, o.loc, stderr)
			if err != nil {
				return err
			}
			out = append(out, tc)
		}
	}
	if o.serial != "" && !found {
		return fmt.Errorf("%w %q (see `ukeyctl tokens`)", errNoSuchToken, o.serial)
	}
	if o.json {
		return writeJSON(stdout, map[string]any{"now": o.now.UTC().Format(time.RFC3339), "time_zone": o.loc.String(), "tokens": out})
	}
	for _, tc := range out {
		printTokenCerts(stdout, tc)
	}
	return nil
}

// certsOptions are the flags of `ukeyctl certs`, checked.
type certsOptions struct {
	module, serial string
	json, login    bool
	now            time.Time
	loc            *time.Location
	pins           pinFlags
}

func parseCertsFlags(args []string, stderr io.Writer) (certsOptions, error) {
	fs := newFlagSet("certs", stderr)
	module := fs.String("module", "", "PKCS#11 module path")
	serial := fs.String("token", "", "serial of one token (default: every token)")
	asJSON := fs.Bool("json", false, "print JSON")
	doLogin := fs.Bool("login", false, "log in (needs --token) to match private keys and find orphans")
	nowFlag := fs.String("now", "", "judge validity at this RFC 3339 time instead of the current time")
	tzFlag := fs.String("tz", "", "count days left in this IANA time zone (e.g. Asia/Shanghai; default: the local zone)")
	var pins pinFlags
	pins.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return certsOptions{}, err
	}
	o := certsOptions{module: *module, serial: *serial, json: *asJSON, login: *doLogin, now: time.Now(), loc: time.Local, pins: pins}
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return o, usagef("certs: --now: %v", err)
		}
		o.now = t
	}
	if *tzFlag != "" {
		l, err := time.LoadLocation(*tzFlag)
		if err != nil {
			return o, usagef("certs: --tz: %v", err)
		}
		o.loc = l
	}
	if o.login && o.serial == "" {
		return o, usagef("certs: --login needs --token SERIAL")
	}
	if !o.login && (pins.stdin || pins.file != "") {
		return o, usagef("certs: --pin-stdin/--pin-file need --login")
	}
	return o, nil
}

// printTokenCerts is the text form of one token's listing.
func printTokenCerts(stdout io.Writer, tc tokenCertsJSON) {
	fmt.Fprintf(stdout, "token %s %q\n", tc.Serial, tc.Label)
	for _, c := range tc.Certificates {
		if c.ParseError != "" {
			fmt.Fprintf(stdout, "  [%s] %q: cannot parse: %s\n", c.ID, c.Label, c.ParseError)
			continue
		}
		when := fmt.Sprintf("%d days left", c.DaysLeft)
		switch {
		case c.Status == "expired" && c.DaysSinceExpiry == 0:
			when = "expired today"
		case c.Status == "expired":
			when = fmt.Sprintf("expired %d days ago", c.DaysSinceExpiry)
		case c.DaysLeft == 0:
			when = "expires today"
		}
		key := ""
		if c.HasPrivateKey != nil && !*c.HasPrivateKey {
			key = ", NO PRIVATE KEY"
		}
		fmt.Fprintf(stdout, "  [%s] %s, serial %s, issuer %s, %s %d, %s to %s (%s)%s\n",
			c.ID, c.Holder, c.Serial, c.Issuer.Holder(), c.KeyAlgorithm, c.KeyBits,
			c.NotBefore[:10], c.NotAfter[:10], when, key)
	}
	for _, g := range tc.Ghosts {
		fmt.Fprintf(stdout, "  ghost %s [%s] %q\n", g.Class, g.ID, g.Label)
	}
	for _, k := range tc.OrphanKeys {
		fmt.Fprintf(stdout, "  orphan %s [%s] %q %s %d\n", k.Class, k.ID, k.Label, k.KeyType, k.Bits)
	}
	for _, d := range tc.Damaged {
		advice := "the other objects are not affected; ask the CA or use the token vendor's tool"
		if d.RemovedByRecover {
			advice = "left by an interrupted write: `ukeyctl recover` removes it"
		}
		fmt.Fprintf(stdout, "  damaged %s [%s] %q (handle %d): cannot be read: %s; %s\n", d.Class, d.ID, d.Label, d.Handle, d.Reason, advice)
	}
}

func readTokenCerts(ctx context.Context, m *token.Module, ti token.TokenInfo, doLogin bool, pins pinFlags, now time.Time, loc *time.Location, stderr io.Writer) (tokenCertsJSON, error) {
	tc := tokenCertsJSON{Serial: ti.Serial, Label: ti.Label, Module: ti.Module,
		Certificates: []certJSON{}, Ghosts: []objectJSON{}, OrphanKeys: []keyJSON{}, Damaged: []damagedJSON{}}
	tok, err := m.Open(ctx, ti.Serial)
	if err != nil {
		return tc, err
	}
	defer tok.Close()
	if doLogin {
		if err := login(ctx, tok, pins, stderr); err != nil {
			return tc, err
		}
	}
	inv, err := tok.Objects(ctx)
	if err != nil {
		return tc, err
	}
	tc.LoggedIn = inv.LoggedIn
	for _, c := range inv.Certificates {
		tc.Certificates = append(tc.Certificates, certToJSON(c, inv.LoggedIn, now, loc))
	}
	for _, g := range inv.Ghosts {
		tc.Ghosts = append(tc.Ghosts, objectJSON{Class: string(g.Class), ID: g.IDHex(), Label: g.Label})
	}
	for _, k := range inv.OrphanKeys {
		tc.OrphanKeys = append(tc.OrphanKeys, keyJSON{Class: string(k.Class), ID: k.IDHex(), Label: k.Label, KeyType: string(k.KeyType), Bits: k.Bits, Curve: k.Curve})
	}
	for _, d := range inv.Damaged {
		tc.Damaged = append(tc.Damaged, damagedJSON{Class: string(d.Class), ID: d.IDHex(), Label: d.Label, Handle: uint(d.Handle),
			Reason: oneLine(d.Reason), RemovedByRecover: d.Remains})
	}
	return tc, nil
}

func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("watch", stderr)
	module := fs.String("module", "", "PKCS#11 module path")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	interval := fs.Duration("interval", token.DefaultWatchInterval, "time between polls (10ms to 10s)")
	removeAfter := fs.Int("remove-after", token.DefaultRemoveAfter, "polls a token must be missing before it is reported removed (1 to 100)")
	reload := fs.Duration("reload", 0, "re-initialise the module this often while idle (SoftHSM2 needs it to see new tokens); 0: never")
	count := fs.Int("count", 0, "exit after this many events (0: run until interrupted)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *count < 0 {
		return usagef("watch: --count must not be negative")
	}
	opts := token.WatchOptions{Interval: *interval, RemoveAfter: *removeAfter, ReloadEvery: *reload}
	if *interval == 0 {
		return usagef("watch: --interval must be positive")
	}
	mods, err := openModules(*module, stderr)
	if err != nil {
		return err
	}
	defer closeModules(mods)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan token.Event)
	errs := make(chan error, len(mods))
	for _, m := range mods {
		go func() {
			errs <- m.Watch(ctx, opts, func(e token.Event) {
				select {
				case events <- e:
				case <-ctx.Done():
				}
			})
		}()
	}
	seen, running := 0, len(mods)
	for running > 0 {
		select {
		case e := <-events:
			if *asJSON {
				if err := writeJSONLine(stdout, e); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(stdout, "%s %-8s %s %q\n", e.Time.Format(time.RFC3339Nano), e.Kind, e.Token.Serial, e.Token.Label)
			}
			if seen++; *count > 0 && seen >= *count {
				cancel()
			}
		case err := <-errs:
			running--
			if err != nil {
				return err
			}
		}
	}
	return nil
}
