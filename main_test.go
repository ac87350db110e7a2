package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientconfig "github.com/ukeyrenew/ukeyrenew/client/config"
)

// Nothing configured means no address at all (the first-run dialog asks),
// never a default one; a branded build's baked CA goes with its service;
// a configuration that is wrong is an error, with no address to fall back
// to.
func TestFindService(t *testing.T) {
	noEnv := func(string) string { return "" }
	dir := t.TempDir()
	in := clientconfig.Inputs{Getenv: noEnv, UserFile: filepath.Join(dir, "absent.json"), MachineFile: filepath.Join(dir, "absent-too.json")}
	if u, pem, err := findService(in); u != "" || pem != nil || err != nil {
		t.Errorf("nothing configured: %q, %q, %v; want no address", u, pem, err)
	}

	pem := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	in.BuildService, in.BuildServiceCAPEM = "https://renew.example-ca.cn", base64.StdEncoding.EncodeToString(pem)
	if u, got, err := findService(in); u != "https://renew.example-ca.cn" || !bytes.Equal(got, pem) || err != nil {
		t.Errorf("branded build: %q, %q, %v; want its service with its CA", u, got, err)
	}

	bad := filepath.Join(dir, "config.json")
	if err := os.WriteFile(bad, []byte(`{"service": "renew.example-ca.cn"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	in.UserFile = bad
	if u, _, err := findService(in); u != "" || err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a wrong user file: %q, %v; want an error naming it and no address", u, err)
	}

	in.UserFile = ""
	in.Getenv = func(k string) string {
		return map[string]string{clientconfig.EnvServiceCA: filepath.Join(dir, "gone.pem")}[k]
	}
	if u, _, err := findService(in); u != "" || err == nil || !strings.Contains(err.Error(), "gone.pem") {
		t.Errorf("a missing CA file: %q, %v; want an error naming it and no address", u, err)
	}
}

// --show-service says which service and where from, in one line, to
// standard output or a file; a bad configuration is said, with exit code 1.
func TestShowService(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	read := func() string {
		t.Helper()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	reg := clientconfig.Registry{Service: "https://renew.example-ca.cn"}
	for _, c := range []struct {
		in   clientconfig.Inputs
		code int
		want string
	}{
		{clientconfig.Inputs{MachineRegistry: reg}, 0, `https://renew.example-ca.cn (machine config: HKLM\Software\UKeyRenew)` + "\n"},
		{clientconfig.Inputs{FlagService: "https://flag.example/", FlagCA: "ca.pem", MachineRegistry: reg}, 0, "https://flag.example (command line), CA ca.pem\n"},
		{clientconfig.Inputs{}, 0, "none configured (the first-run dialog asks for the service)\n"},
		{clientconfig.Inputs{MachineRegistry: clientconfig.Registry{Service: "http//renew.example"}}, 1,
			`ukeyrenew: HKLM\Software\UKeyRenew (machine config): service address "http//renew.example" must start with https://` + "\n"},
	} {
		if code := showService(out, c.in); code != c.code || read() != c.want {
			t.Errorf("%+v: exit %d, wrote %q; want %d, %q", c.in, code, read(), c.code, c.want)
		}
	}
	if code := showService(filepath.Join(dir, "no", "such", "dir"), clientconfig.Inputs{}); code != 2 {
		t.Errorf("an unwritable file: exit %d, want 2", code)
	}
	var f showFlag
	for v, want := range map[string]showFlag{"true": {set: true}, "false": {}, `C:\out.txt`: {set: true, file: `C:\out.txt`}} {
		if err := f.Set(v); err != nil || f != want {
			t.Errorf("Set(%q): %+v, %v", v, f, err)
		}
	}
	if !strings.Contains(serviceLine(clientconfig.Inputs{FlagService: "ftp://x"}), "command line") {
		t.Error("a bad flag is named")
	}
}
