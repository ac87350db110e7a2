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
