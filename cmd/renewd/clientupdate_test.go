package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

const goodClientUpdate = `, "client_update": {"windows-x64": {"version": "1.2.4",
    "url": "https://ca.example/dl/ukeyrenew-1.2.4-x64.msi",
    "sha256": "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", "size": 12582912,
    "notes_zh": "修复：拔出 UKey 后列表不刷新。", "notes_en": "Fix: the list did not refresh.", "minimum_version": "1.1.0"}}`

// TestProductionClientUpdate: renewd announces the configured release, and
// refuses to start on a wrong one, naming the key.
func TestProductionClientUpdate(t *testing.T) {
	setup := newProdSetup(t)
	bin := renewdBinary(t)
	bad := strings.NewReplacer(`"https://ca.example`, `"http://ca.example`, `"0f0f`, `"zz0f`, `"1.2.4"`, `"1.2"`).Replace(goodClientUpdate)
	out, err := exec.Command(bin, "--config", setup.config(t, bad)).CombinedOutput()
	if err == nil {
		t.Fatalf("started with a bad client_update:\n%s", out)
	}
	for _, want := range []string{"client_update.windows-x64.url", "https://", "client_update.windows-x64.sha256", "64 hex",
		"client_update.windows-x64.version", "MAJOR.MINOR.PATCH"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(bin, "--config", setup.config(t, `, "client_update": {"macos": {}}`)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "client_update.macos: unknown platform") {
		t.Errorf("an unknown platform: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "--config", setup.config(t, goodClientUpdate))
	cmd.Env = prodEnv()
	p := startCmd(t, cmd)
	res, err := setup.tlsClient().Get("https://" + p.addr + "/v1/client/update?platform=windows-x64&version=1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var u renewal.ClientUpdate
	if err := json.Unmarshal(body, &u); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if !u.Available || !u.Required || u.Version != "1.2.4" || u.Size != 12582912 {
		t.Fatalf("announced %+v", u)
	}
}

func TestDevClientUpdateFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cu.json")
	loopback := strings.Replace(strings.TrimPrefix(goodClientUpdate, `, "client_update": `), "https://ca.example", "http://127.0.0.1:8081", 1)
	if err := os.WriteFile(file, []byte(loopback), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := readClientUpdates(file)
	if err != nil || c[renewal.PlatformWindowsX64].Version != "1.2.4" {
		t.Fatalf("%v %+v", err, c)
	}
	// Production refuses the same loopback http address.
	if err := c.validate(false); err == nil || !strings.Contains(err.Error(), "client_update.windows-x64.url") {
		t.Fatalf("loopback http in production: %v", err)
	}
	lan := strings.Replace(loopback, "127.0.0.1", "192.168.1.5", 1)
	if err := os.WriteFile(file, []byte(lan), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readClientUpdates(file); err == nil || !strings.Contains(err.Error(), "client_update.windows-x64.url") {
		t.Fatalf("http on a LAN address in --dev: %v", err)
	}
}
