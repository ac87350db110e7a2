package main

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ukeyrenew/ukeyrenew/token"
)

// maxCertFile bounds a certificate or chain file read by install-cert.
const maxCertFile = 1 << 20

// installFlags are the flags of `ukeyctl install-cert`.
type installFlags struct {
	module    string
	token     string
	cert      string
	chain     string
	replaceID []byte
	rekey     bool
	keyType   token.KeyPairType
	csrOut    string
	journal   string
	pins      pinFlags
	asJSON    bool
}

func parseInstallFlags(args []string, stderr io.Writer) (*installFlags, error) {
	f := &installFlags{}
	fs := newFlagSet("install-cert", stderr)
	fs.StringVar(&f.module, "module", "", "PKCS#11 module path")
	fs.StringVar(&f.token, "token", "", "serial of the token to write to (required)")
	fs.StringVar(&f.cert, "cert", "", "the renewed certificate, PEM or DER")
	fs.StringVar(&f.chain, "chain", "", "the issuer chain the certificate must verify against, PEM or DER (required with --cert)")
	replaceID := fs.String("replace-id", "", "CKA_ID (hex) of the certificate to replace (default: the one with the same key pair; on --rekey the only one with a key)")
	fs.BoolVar(&f.rekey, "rekey", false, "make a new key pair on the token: first with --csr-out, then with --cert")
	keyType := fs.String("key-type", "", "with --rekey --csr-out: rsa-2048, rsa-3072, ec-p256 or ec-p384 (default: as the old key)")
	fs.StringVar(&f.csrOut, "csr-out", "", "with --rekey: make the new key pair, write its CSR (PEM) to this file and stop")
	fs.StringVar(&f.journal, "journal", "", "journal directory (default: <user config dir>/ukeyrenew/journal)")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	f.pins.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if f.token == "" {
		return nil, usagef("install-cert: --token SERIAL is required (see `ukeyctl tokens`)")
	}
	if *replaceID != "" {
		id, err := parseHexID(*replaceID)
		if err != nil {
			return nil, usagef("install-cert: --replace-id: %v", err)
		}
		f.replaceID = id
	}
	if *keyType != "" {
		kt, err := token.ParseKeyPairType(*keyType)
		if err != nil {
			return nil, usagef("install-cert: --key-type: %v", err)
		}
		f.keyType = kt
	}
	switch {
	case f.csrOut != "" && !f.rekey:
		return nil, usagef("install-cert: --csr-out needs --rekey")
	case f.keyType != "" && f.csrOut == "":
		return nil, usagef("install-cert: --key-type goes with --rekey --csr-out (the first step of a re-key)")
	case f.csrOut != "" && f.cert != "":
		return nil, usagef("install-cert: give --csr-out (first step) or --cert (second step), not both")
	case f.csrOut == "" && f.cert == "":
		return nil, usagef("install-cert: --cert FILE is required (or --rekey --csr-out FILE to start a re-key)")
	case f.cert != "" && f.chain == "":
		return nil, usagef("install-cert: --chain FILE is required to verify the certificate")
	case f.csrOut != "" && f.chain != "":
		return nil, usagef("install-cert: --chain goes with --cert (the second step of a re-key)")
	}
	return f, nil
}

// readLimited reads a file of at most maxCertFile bytes.
func readLimited(what, path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxCertFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(b) > maxCertFile {
		return nil, fmt.Errorf("%s %s: larger than %d bytes", what, path, maxCertFile)
	}
	return b, nil
}

// installJSON is the JSON of install-cert: token.InstallResult plus the CSR
// of the first step of a re-key.
type installJSON struct {
	*token.InstallResult
	CSRPEM  string `json:"csr_pem,omitempty"`
	CSRFile string `json:"csr_file,omitempty"`
}

// cmdInstallCert writes a renewed certificate to a token safely.
func cmdInstallCert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseInstallFlags(args, stderr)
	if err != nil {
		return err
	}
	req := token.InstallRequest{Mode: token.SameKey, ReplaceID: f.replaceID, KeyType: f.keyType, Now: time.Now}
	if f.rekey {
		req.Mode = token.Rekey
	}
	if f.cert != "" {
		if req.Cert, err = readLimited("certificate", f.cert); err != nil {
			return err
		}
		if _, err := token.ParseCertificateInput(req.Cert); err != nil {
			return fmt.Errorf("install-cert: --cert %s: %w", f.cert, err)
		}
		chain, err := readLimited("chain", f.chain)
		if err != nil {
			return err
		}
		if req.Chain, err = token.ParseCertificateInput(chain); err != nil {
			return fmt.Errorf("install-cert: --chain %s: %w", f.chain, err)
		}
	}
	if req.Journal, err = token.OpenJournal(f.journal, nil); err != nil {
		return err
	}
	tok, done, err := openToken(ctx, f.module, f.token, stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := login(ctx, tok, f.pins, stderr); err != nil {
		return err
	}
	var res *token.InstallResult
	if f.csrOut != "" {
		res, err = token.PrepareRekey(ctx, tok, req)
	} else {
		res, err = token.Install(ctx, tok, req)
	}
	if err != nil {
		if errors.Is(err, token.ErrInstallInProgress) {
			return fmt.Errorf("install-cert: %w (run `ukeyctl recover --token %s`)", err, f.token)
		}
		return fmt.Errorf("install-cert: %w", err)
	}
	out := installJSON{InstallResult: res}
	if res.CSR != nil {
		csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: res.CSR})
		if err := os.WriteFile(f.csrOut, csrPEM, 0o644); err != nil {
			return fmt.Errorf("install-cert: --csr-out: %w (the new key pair stays pending; run the command again to write the CSR)", err)
		}
		out.CSRPEM, out.CSRFile = string(csrPEM), f.csrOut
	}
	if f.asJSON {
		return writeJSON(stdout, out)
	}
	if res.Status == token.CSRReady {
		fmt.Fprintf(stdout, "new %s key pair made on token %s, id %s; CSR written to %s\n", res.KeyType, res.Token, hex.EncodeToString(res.NewID), f.csrOut)
		fmt.Fprintf(stdout, "when the CA has signed it: ukeyctl install-cert --token %s --rekey --cert CERT --chain CHAIN\n", res.Token)
		return nil
	}
	fmt.Fprintf(stdout, "installed certificate %s (%s, valid until %s) on token %s, id %s, label %q\n",
		res.New.Serial, res.New.Subject, res.New.NotAfter.Format(time.DateOnly), res.Token, hex.EncodeToString(res.NewID), res.Label)
	fmt.Fprintf(stdout, "replaced certificate %s (valid until %s)", res.Replaced.Serial, res.Replaced.NotAfter.Format(time.DateOnly))
	if res.Mode == token.Rekey {
		fmt.Fprintf(stdout, " and its key pair, id %s", hex.EncodeToString(res.OldID))
	}
	fmt.Fprintln(stdout)
	return nil
}

// cmdRecover completes or rolls back an interrupted install on a token and
// removes ghosts and orphan keys.
func cmdRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("recover", stderr)
	module := fs.String("module", "", "PKCS#11 module path")
	serial := fs.String("token", "", "serial of the token (required)")
	journal := fs.String("journal", "", "journal directory (default: <user config dir>/ukeyrenew/journal)")
	abandon := fs.Bool("abandon-rekey", false, "also undo a pending two-step re-key (delete its new key pair)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var pins pinFlags
	pins.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *serial == "" {
		return usagef("recover: --token SERIAL is required (see `ukeyctl tokens`)")
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
	if err := login(ctx, tok, pins, stderr); err != nil {
		return err
	}
	var abandoned *token.RecoverResult
	if *abandon {
		e, err := j.Load(tok.Serial())
		if err != nil {
			return fmt.Errorf("recover: %w", err)
		}
		if e != nil && e.Mode == token.Rekey && e.Step == token.StepAwaitingCert {
			if abandoned, err = token.AbandonRekey(ctx, tok, j); err != nil {
				return fmt.Errorf("recover: %w", err)
			}
		}
	}
	res, err := token.Recover(ctx, tok, j.Dir())
	if err != nil {
		return err
	}
	if abandoned != nil {
		res.Outcome, res.Journal = abandoned.Outcome, abandoned.Journal
		res.Removed = append(abandoned.Removed, res.Removed...)
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	printRecover(stdout, res)
	return nil
}

func printRecover(w io.Writer, res *token.RecoverResult) {
	switch res.Outcome {
	case token.OutcomeNothingToDo:
		fmt.Fprintf(w, "token %s: no interrupted install\n", res.Token)
	case token.OutcomeCompleted:
		fmt.Fprintf(w, "token %s: the interrupted %s install was completed: the new certificate is in place\n", res.Token, res.Journal.Mode)
	case token.OutcomeRolledBack:
		fmt.Fprintf(w, "token %s: the interrupted %s install was undone: the old certificate is in place\n", res.Token, res.Journal.Mode)
	case token.OutcomePending:
		fmt.Fprintf(w, "token %s: a re-key waits for its certificate (ukeyctl install-cert --rekey --cert ...), or undo it with --abandon-rekey\n", res.Token)
	}
	for _, o := range res.Removed {
		fmt.Fprintf(w, "removed %s id %s %q: %s\n", o.Class, o.ID, o.Label, o.Reason)
	}
	for _, o := range res.Relabelled {
		fmt.Fprintf(w, "relabelled %s id %s to %q\n", o.Class, o.ID, o.Label)
	}
	for _, o := range res.Kept {
		fmt.Fprintf(w, "kept %s id %s %q: %s\n", o.Class, o.ID, o.Label, o.Reason)
	}
}
