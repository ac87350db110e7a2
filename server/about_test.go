package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server"
)

// GET /v1/about answers anyone, without a session, with the product, the
// API version and the program version: those three keys and nothing else
// (the answer is public).
func TestAbout(t *testing.T) {
	e := newEnv(t, envOptions{})
	var a renewal.About
	r := e.ok(http.StatusOK, &a, "GET", "/v1/about", "", nil)
	if err := a.Validate(); err != nil {
		t.Fatalf("the answer does not validate: %v: %s", err, r.body)
	}
	if a.Product != renewal.Product || a.APIVersion != renewal.APIVersion || a.Version != server.Version {
		t.Errorf("answer %+v", a)
	}
	var keys map[string]any
	if err := json.Unmarshal(r.body, &keys); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"api_version", "product", "version"}) {
		t.Errorf("keys %v: the answer must hold the product, the API version and the version only", names)
	}
}
