package server_test

import (
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/renewdtest"
	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

func testRelease() renewal.ClientRelease {
	return renewal.ClientRelease{Version: "1.2.4", URL: "https://ca.example/dl/ukeyrenew-1.2.4-x64.msi", SHA256: strings.Repeat("0f", 32),
		Size: 12 << 20, NotesZH: "修复：拔出 UKey 后列表不刷新。", NotesEN: "Fix: the list did not refresh.", MinimumVersion: "1.1.0"}
}

// TestClientUpdate: the announced release is offered to older clients of
// its platform only, without signing in; a bad query is a 400 naming the
// parameter.
func TestClientUpdate(t *testing.T) {
	e := newEnv(t, envOptions{cfg: func(c *server.Config) {
		c.ClientReleases = map[renewal.ClientPlatform]renewal.ClientRelease{renewal.PlatformWindowsX64: testRelease()}
	}})
	var u renewal.ClientUpdate
	e.ok(200, &u, "GET", "/v1/client/update?platform=windows-x64&version=1.2.3", "", nil)
	if !u.Available || u.Version != "1.2.4" || u.URL != testRelease().URL || u.SHA256 != testRelease().SHA256 || u.Size != 12<<20 || u.Required ||
		u.NotesZH == "" || u.NotesEN == "" {
		t.Fatalf("offer to 1.2.3: %+v", u)
	}
	u = renewal.ClientUpdate{}
	e.ok(200, &u, "GET", "/v1/client/update?platform=windows-x64&version=1.0.0", "", nil)
	if !u.Available || !u.Required {
		t.Fatalf("offer below the minimum: %+v", u)
	}
	for _, q := range []string{"platform=windows-x64&version=1.2.4", "platform=windows-x64&version=2.0.0", "platform=windows-x86&version=1.0.0",
		"platform=linux-amd64-deb&version=1.0.0"} {
		u = renewal.ClientUpdate{Available: true}
		e.ok(200, &u, "GET", "/v1/client/update?"+q, "", nil)
		if u.Available {
			t.Errorf("%s: offered %+v", q, u)
		}
	}
	for q, field := range map[string]string{"platform=windows-arm64&version=1.0.0": "platform", "version=1.0.0": "platform",
		"platform=windows-x64": "version", "platform=windows-x64&version=v1": "version"} {
		r := e.fails(400, "invalid_field", "GET", "/v1/client/update?"+q, "", nil)
		if !strings.Contains(string(r.body), `"field":"`+field+`"`) {
			t.Errorf("%s: %s", q, r.body)
		}
	}
}

// TestClientReleasesChecked: a release the client would refuse stops the
// service from starting.
func TestClientReleasesChecked(t *testing.T) {
	bad := testRelease()
	bad.URL = "http://ca.example/x.msi"
	cfg := server.DefaultConfig()
	cfg.ClientReleases = map[renewal.ClientPlatform]renewal.ClientRelease{renewal.PlatformWindowsX64: bad}
	r := renewdtest.New(t, renewdtest.Options{NoServer: true})
	_, err := server.New(cfg, server.Deps{Store: r.Store, Issuer: r.CA, SMS: r.SMS, Bank: r.Bank, Pepper: renewdtest.Pepper})
	if err == nil || !strings.Contains(err.Error(), "windows-x64") || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http release: %v", err)
	}
	cfg.ClientReleases = map[renewal.ClientPlatform]renewal.ClientRelease{"macos": testRelease()}
	if _, err := server.New(cfg, server.Deps{Store: r.Store, Issuer: r.CA, SMS: r.SMS, Bank: r.Bank, Pepper: renewdtest.Pepper}); err == nil ||
		!strings.Contains(err.Error(), "macos") {
		t.Fatalf("unknown platform: %v", err)
	}
}
