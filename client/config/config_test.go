package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The first source that names a service wins, in the documented order;
// a CA from the command line or environment goes with any of them.
func TestFindOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	user := write("user.json", `{"service": "https://user.example/", "service_ca": "/u/ca.pem"}`)
	machine := write("machine.json", "\ufeff"+`{"service": "https://machine.example"}`)
	env := map[string]string{}
	in := Inputs{FlagService: "https://flag.example", Getenv: func(k string) string { return env[k] },
		UserFile: user, MachineFile: machine, BuildService: "https://build.example", BuildServiceCA: "/b/ca.pem"}
	want := func(url string, from Source, ca string) {
		t.Helper()
		got, err := Find(in)
		if err != nil || got.URL != url || got.From != from || got.CAFile != ca {
			t.Fatalf("got %+v, %v; want %s from %s with CA %q", got, err, url, from, ca)
		}
	}
	env[EnvService] = "https://env.example"
	env[EnvServiceOld] = "https://old.example"
	want("https://flag.example", FromCommandLine, "")
	in.FlagService = ""
	want("https://env.example", FromEnvironment, "")
	delete(env, EnvService)
	want("https://old.example", FromEnvironment, "") // the older name, for one release
	delete(env, EnvServiceOld)
	want("https://user.example", FromUserFile, "/u/ca.pem")
	env[EnvServiceCA] = "/e/ca.pem"
	want("https://user.example", FromUserFile, "/e/ca.pem")
	delete(env, EnvServiceCA)
	in.UserFile = filepath.Join(dir, "absent.json")
	want("https://machine.example", FromMachineFile, "")
	in.MachineFile = ""
	want("https://build.example", FromBuild, "/b/ca.pem")
	in.BuildService = ""
	if got, err := Find(in); err != nil || got.URL != "" || got.From != FromNowhere {
		t.Fatalf("nothing configured: %+v, %v", got, err)
	}
	// A user file that sets no service leaves the machine's in force.
	in.UserFile, in.MachineFile = write("empty.json", `{}`), machine
	want("https://machine.example", FromMachineFile, "")
}

// A config file that is there but wrong stops the search with its path
// named: the clerk must not be sent to another service than the CA set.
func TestFindRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for content, says := range map[string]string{
		`{"service": "ftp://x.example"}`:             "must start with https://",
		`{"service": "https://"}`:                    "no host",
		`{"service": "https://u:p@x.example"}`:       "plain base URL",
		`{"servce": "https://x.example"}`:            "unknown field",
		`service=https://x.example`:                  "not a UKey Renew config file",
		`{"service": "https://x.example"} {}`:        "data after",
		strings.Repeat(" ", MaxFileBytes+1) + `{}`:   "larger than",
		`{"service": "https://x.example?next=evil"}`: "plain base URL",
	} {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Find(Inputs{UserFile: p, BuildService: "https://build.example"})
		if err == nil || !strings.Contains(err.Error(), says) || !strings.Contains(err.Error(), p) {
			t.Errorf("%.40q: %v, want it to say %q and name the file", content, err, says)
		}
	}
	if _, err := Find(Inputs{FlagService: "127.0.0.1:8080"}); err == nil || !strings.Contains(err.Error(), "command line") {
		t.Errorf("a flag without a scheme: %v", err)
	}
}

// On Windows the machine's step reads the registry first, then the
// machine's file; a registry key that is there but wrong stops the search
// with the key named.
func TestFindMachineRegistry(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(dir, "user.json")
	machine := filepath.Join(dir, "machine.json")
	if err := os.WriteFile(machine, []byte(`{"service": "https://file.example", "service_ca": "/f/ca.pem"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	in := Inputs{Getenv: func(k string) string { return env[k] }, UserFile: user, MachineFile: machine,
		MachineRegistry: Registry{Service: "https://reg.example/", ServiceCA: `C:\ca.pem`}.Check()}
	got, err := Find(in)
	if err != nil || got.URL != "https://reg.example" || got.From != FromMachineFile || got.Path != MachineKeyName || got.CAFile != `C:\ca.pem` {
		t.Fatalf("registry before the machine's file: %+v, %v", got, err)
	}
	env[EnvServiceCA] = "/e/ca.pem"
	if got, _ := Find(in); got.CAFile != "/e/ca.pem" {
		t.Fatalf("the environment's CA goes with the registry's service: %+v", got)
	}
	delete(env, EnvServiceCA)
	if err := os.WriteFile(user, []byte(`{"service": "https://user.example"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := Find(in); got.From != FromUserFile {
		t.Fatalf("the user's file before the registry: %+v", got)
	}
	if err := os.Remove(user); err != nil {
		t.Fatal(err)
	}
	// A CA alone names no service: the machine's file is next, with its own CA.
	in.MachineRegistry = Registry{ServiceCA: `C:\ca.pem`}
	if got, err := Find(in); err != nil || got.URL != "https://file.example" || got.CAFile != "/f/ca.pem" {
		t.Fatalf("registry without ServiceURL: %+v, %v", got, err)
	}
	in.MachineRegistry = Registry{Service: "  https://reg.example  "}.Check()
	if got, err := Find(in); err != nil || got.URL != "https://reg.example" {
		t.Fatalf("white space around the registry's address: %+v, %v", got, err)
	}
	for name, r := range map[string]Registry{
		"http no host":  {Service: "https://"},
		"ftp":           {Service: "ftp://reg.example"},
		"query":         {Service: "https://reg.example?next=evil"},
		"too long":      {Service: "https://reg.example/" + strings.Repeat("a", MaxRegistryChars)},
		"long CA":       {Service: "https://reg.example", ServiceCA: strings.Repeat("a", MaxRegistryChars+1)},
		"unreadable":    {Err: os.ErrPermission},
		"no scheme":     {Service: "reg.example"},
		"user in there": {Service: "https://u:p@reg.example"},
	} {
		in.MachineRegistry = r.Check()
		_, err := Find(in)
		if err == nil || !strings.Contains(err.Error(), MachineKeyName) || !strings.Contains(err.Error(), string(FromMachineFile)) {
			t.Errorf("%s: %v, want an error naming %s", name, err, MachineKeyName)
		}
	}
}
