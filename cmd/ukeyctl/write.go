package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ukeyrenew/ukeyrenew/token"
)

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func cmdKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", stderr)
	module := fs.String("module", "", "PKCS#11 module path")
	serial := fs.String("token", "", "serial of the token (required)")
	keyType := fs.String("type", string(token.ECP256), "key type: rsa-2048, rsa-3072, ec-p256, ec-p384")
	idHex := fs.String("id", "", "CKA_ID in hex (default: 20 random bytes)")
	label := fs.String("label", "", "CKA_LABEL of both halves")
	asJSON := fs.Bool("json", false, "print JSON")
	var pins pinFlags
	pins.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	kt, err := token.ParseKeyPairType(*keyType)
	if err != nil {
		return usagef("keygen: %v", err)
	}
	var id []byte
	if *idHex != "" {
		if id, err = parseHexID(*idHex); err != nil {
			return usagef("keygen: --id: %v", err)
		}
	}
	if len(*label) > token.MaxLabelLen {
		return usagef("keygen: --label longer than %d bytes", token.MaxLabelLen)
	}
	tok, done, err := openToken(ctx, *module, *serial, stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := login(ctx, tok, pins, stderr); err != nil {
		return err
	}
	s, err := tok.GenerateKeyPair(ctx, token.KeySpec{Type: kt, ID: id, Label: *label})
	if err != nil {
		return err
	}
	spki, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return err
	}
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	if *asJSON {
		return writeJSON(stdout, map[string]any{"serial": tok.Serial(), "id": hex.EncodeToString(s.ID()),
			"label": *label, "key_type": string(kt), "public_key_pem": pubPEM})
	}
	fmt.Fprintf(stdout, "key pair %s made on token %s, id %s\n%s", kt, tok.Serial(), hex.EncodeToString(s.ID()), pubPEM)
	return nil
}

func cmdCSR(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("csr", stderr)
	module := fs.String("module", "", "PKCS#11 module path")
	serial := fs.String("token", "", "serial of the token (required)")
	idHex := fs.String("id", "", "CKA_ID (hex) of the key pair (required)")
	var n pkix.Name
	cn := fs.String("cn", "", "subject common name (default: the subject of the certificate with this id)")
	o := fs.String("o", "", "subject organisation")
	ou := fs.String("ou", "", "subject organisational unit")
	c := fs.String("c", "", "subject country (2 letters)")
	st := fs.String("st", "", "subject province")
	l := fs.String("l", "", "subject locality")
	outFile := fs.String("out", "", "write the PEM request to this file (default: standard output)")
	asJSON := fs.Bool("json", false, "print JSON")
	var pins pinFlags
	pins.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *idHex == "" {
		return usagef("csr: --id is required")
	}
	id, err := parseHexID(*idHex)
	if err != nil {
		return usagef("csr: --id: %v", err)
	}
	if *c != "" && len(*c) != 2 {
		return usagef("csr: --c must be a 2-letter country code")
	}
	for _, f := range []*string{cn, o, ou, st, l} {
		if len(*f) > 256 {
			return usagef("csr: subject fields are limited to 256 bytes")
		}
	}
	tok, done, err := openToken(ctx, *module, *serial, stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := login(ctx, tok, pins, stderr); err != nil {
		return err
	}
	set := func(dst *[]string, v string) {
		if v != "" {
			*dst = []string{v}
		}
	}
	n.CommonName = *cn
	set(&n.Organization, *o)
	set(&n.OrganizationalUnit, *ou)
	set(&n.Country, *c)
	set(&n.Province, *st)
	set(&n.Locality, *l)
	tmpl := &x509.CertificateRequest{Subject: n}
	if n.CommonName == "" && len(n.Organization) == 0 {
		raw, err := subjectOfCertificate(ctx, tok, id)
		if err != nil {
			return err
		}
		tmpl = &x509.CertificateRequest{RawSubject: raw}
	}
	der, err := tok.CreateCSR(ctx, id, tmpl)
	if err != nil {
		return err
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	if *outFile != "" {
		if err := os.WriteFile(*outFile, csrPEM, 0o644); err != nil {
			return fmt.Errorf("csr: %w", err)
		}
	}
	if *asJSON {
		parsed, err := x509.ParseCertificateRequest(der)
		if err != nil {
			return fmt.Errorf("csr: %w", err)
		}
		return writeJSON(stdout, map[string]any{"serial": tok.Serial(), "id": hex.EncodeToString(id),
			"subject": parsed.Subject.String(), "csr_pem": string(csrPEM)})
	}
	if *outFile == "" {
		_, err = stdout.Write(csrPEM)
	}
	return err
}

// subjectOfCertificate returns the raw subject of the certificate that has
// the CKA_ID id, to renew it under the same name.
func subjectOfCertificate(ctx context.Context, tok *token.Token, id []byte) ([]byte, error) {
	certs, err := tok.Certificates(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if c.Info != nil && string(c.ID) == string(id) {
			return c.Info.RawSubject, nil
		}
	}
	return nil, usagef("csr: no certificate with id %s to take the subject from: give --cn/--o", hex.EncodeToString(id))
}

func cmdChangePIN(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("change-pin", stderr)
	module := fs.String("module", "", "PKCS#11 module path")
	serial := fs.String("token", "", "serial of the token (required)")
	pinStdin := fs.Bool("pin-stdin", false, "read the old PIN, then the new PIN, from two lines of standard input")
	pinFile := fs.String("pin-file", "", "read the old PIN from this file")
	newPINFile := fs.String("new-pin-file", "", "read the new PIN from this file (with --pin-file)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*pinFile == "") != (*newPINFile == "") {
		return usagef("change-pin: --pin-file and --new-pin-file go together")
	}
	if *pinStdin && *pinFile != "" {
		return usagef("change-pin: give either --pin-stdin or --pin-file, not both")
	}
	tok, done, err := openToken(ctx, *module, *serial, stderr)
	if err != nil {
		return err
	}
	defer done()
	var oldPIN, newPIN []byte
	defer func() { wipe(oldPIN); wipe(newPIN) }()
	if *pinFile != "" {
		r, err := newPINReader(pinFlags{file: *pinFile}, os.Stdin, stderr)
		if err != nil {
			return err
		}
		oldPIN, err = r.Read("")
		r.Close()
		if err != nil {
			return err
		}
		r, err = newPINReader(pinFlags{file: *newPINFile}, os.Stdin, stderr)
		if err != nil {
			return err
		}
		newPIN, err = r.Read("")
		r.Close()
		if err != nil {
			return err
		}
	} else {
		r, err := newPINReader(pinFlags{stdin: *pinStdin}, os.Stdin, stderr)
		if err != nil {
			return err
		}
		defer r.Close()
		if oldPIN, err = r.Read(fmt.Sprintf("current PIN of token %s", tok.Serial())); err != nil {
			return err
		}
		if newPIN, err = r.Read("new PIN"); err != nil {
			return err
		}
		if !*pinStdin {
			again, err := r.Read("new PIN again")
			if err != nil {
				return err
			}
			same := bytes.Equal(again, newPIN)
			wipe(again)
			if !same {
				return errors.New("change-pin: the new PINs differ; nothing changed")
			}
		}
	}
	if err := tok.ChangePIN(ctx, oldPIN, newPIN); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"serial": tok.Serial(), "changed": true})
	}
	fmt.Fprintf(stdout, "PIN of token %s changed\n", tok.Serial())
	return nil
}
