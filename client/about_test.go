package client_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// A real renewd says what it is, and this client speaks its API version.
func TestAboutRenewd(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.client()
	a, err := c.About(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if a.Product != renewal.Product || a.APIVersion != renewal.APIVersion || a.Version == "" {
		t.Errorf("about %+v", a)
	}
	if err := client.CheckAPIVersion(a, client.MinAPIVersion, client.MaxAPIVersion); err != nil {
		t.Errorf("this client does not speak its own service's API: %v", err)
	}
}

// Whatever else answers at an address is told apart: an error status, a
// web page, another program's JSON, a flood; a busy service or a proxy's
// 5xx stays the *APIError (try again later), not "not a renewd".
func TestAboutNotRenewd(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.client(client.WithRetry(0, 1, 1))
	for name, g := range map[string]struct {
		status int
		ctype  string
		body   string
		page   bool
	}{
		"a 404 page":            {404, "text/html", "<html><body>Not Found</body></html>", false},
		"a 200 web page":        {200, "text/html; charset=utf-8", "<!doctype html><title>欢迎</title>", true},
		"JSON of another kind":  {200, "application/json", `{"name":"gitea","version":"1.21"}`, false},
		"another product":       {200, "application/json", `{"product":"nginx","api_version":1,"version":"1.25"}`, false},
		"not JSON":              {200, "text/plain", "OK", false},
		"over MaxAbout":         {200, "application/json", `{"product":"renewd","version":"` + strings.Repeat("9", client.MaxAbout) + `"}`, false},
		"a 400 (http to https)": {400, "text/plain", "Client sent an HTTP request to an HTTPS server.", false},
	} {
		e.setGate(func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", g.ctype)
			w.WriteHeader(g.status)
			_, _ = w.Write([]byte(g.body))
			return true
		})
		_, err := c.About(t.Context())
		var nr *client.NotRenewdError
		if !errors.Is(err, client.ErrNotRenewd) || !errors.As(err, &nr) || nr.Status != g.status || nr.Page != g.page {
			t.Errorf("%s: %v (%+v), want ErrNotRenewd with status %d, page %v", name, err, nr, g.status, g.page)
		}
	}
	for _, status := range []int{502, 503, 429} {
		e.setGate(func(w http.ResponseWriter, r *http.Request) bool { w.WriteHeader(status); return true })
		_, err := c.About(t.Context())
		var api *client.APIError
		if errors.Is(err, client.ErrNotRenewd) || !errors.As(err, &api) || api.Status != status {
			t.Errorf("%d: %v, want the *APIError", status, err)
		}
	}
}

// The versions a client speaks against the service's: each side behind is
// told apart, and the message names both versions and who must update.
func TestCheckAPIVersion(t *testing.T) {
	a := renewal.About{Product: renewal.Product, APIVersion: 2, Version: "0.9.0"}
	for _, ok := range [][2]int{{2, 2}, {1, 2}, {2, 3}} {
		if err := client.CheckAPIVersion(a, ok[0], ok[1]); err != nil {
			t.Errorf("%v speaks 2: %v", ok, err)
		}
	}
	var ve *client.APIVersionError
	err := client.CheckAPIVersion(a, 3, 4)
	if !errors.As(err, &ve) || !ve.ServiceOlder() || !strings.Contains(err.Error(), "API version 2, older than this client's 3–4: the CA must update renewd") {
		t.Errorf("service behind: %v", err)
	}
	err = client.CheckAPIVersion(a, 1, 1)
	if !errors.As(err, &ve) || ve.ServiceOlder() || !strings.Contains(err.Error(), "API version 2, newer than this client's 1: install a newer client") {
		t.Errorf("client behind: %v", err)
	}
}
