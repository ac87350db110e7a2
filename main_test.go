package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientconfig "github.com/ukeyrenew/ukeyrenew/client/config"
)

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
		{clientconfig.Inputs{}, 0, defaultService + " (none configured: renewd --dev's address)\n"},
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
