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
