package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// installFlags are the flags of `ukeyctl install-cert`.
type installFlags struct {
	module    string
	token     string
	cert      string
	chain     string
	replaceID string
	rekey     bool
	keyType   string
	csrOut    string
	journal   string
	pinStdin  bool
	pinFile   string
	asJSON    bool
}

func parseInstallFlags(args []string, stderr io.Writer) (*installFlags, error) {
	f := &installFlags{}
	fs := flag.NewFlagSet("install-cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.module, "module", "", "PKCS#11 module path")
	fs.StringVar(&f.token, "token", "", "serial of the token to write to (required)")
	fs.StringVar(&f.cert, "cert", "", "renewed certificate, PEM or DER")
	fs.StringVar(&f.chain, "chain", "", "issuer chain, PEM or DER (required)")
	fs.StringVar(&f.replaceID, "replace-id", "", "CKA_ID (hex) of the certificate to replace; default: matched by holder")
	fs.BoolVar(&f.rekey, "rekey", false, "make a new key pair on the token: first call with --csr-out, then with --cert")
	fs.StringVar(&f.keyType, "key-type", "", "re-key: key type of the new pair (ec-p256, ec-p384, rsa-2048, rsa-3072); default: as the old key")
	fs.StringVar(&f.csrOut, "csr-out", "", "re-key: write the CSR of the new key pair to this file and stop")
	fs.StringVar(&f.journal, "journal", "", "journal directory (default: the user config dir)")
	fs.BoolVar(&f.pinStdin, "pin-stdin", false, "read the PIN from the first line of stdin")
	fs.StringVar(&f.pinFile, "pin-file", "", "read the PIN from this file")
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("install-cert: unexpected argument %q", fs.Arg(0))
	}
	if f.token == "" {
		return nil, errors.New("install-cert: --token SERIAL is required")
	}
	if f.csrOut != "" && !f.rekey {
		return nil, errors.New("install-cert: --csr-out needs --rekey")
	}
	if f.csrOut != "" && f.cert != "" {
		return nil, errors.New("install-cert: give either --csr-out (step 1) or --cert (step 2), not both")
	}
	if f.csrOut == "" && f.cert == "" {
		return nil, errors.New("install-cert: --cert FILE is required (or --rekey --csr-out FILE)")
	}
	if f.cert != "" && f.chain == "" {
		return nil, errors.New("install-cert: --chain FILE is required to verify the certificate")
	}
	return f, nil
}

// cmdInstallCert writes a renewed certificate to a token safely.
func cmdInstallCert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if _, err := parseInstallFlags(args, stderr); err != nil {
		return err
	}
	return errors.New("install-cert: not ready yet")
}

// cmdRecover completes or rolls back an interrupted install on a token.
func cmdRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("module", "", "PKCS#11 module path")
	fs.String("token", "", "serial of the token (required)")
	fs.String("journal", "", "journal directory (default: the user config dir)")
	fs.Bool("pin-stdin", false, "read the PIN from the first line of stdin")
	fs.String("pin-file", "", "read the PIN from this file")
	fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return errors.New("recover: not ready yet")
}
