package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/server"
)

// TestOpenAPIMatchesRouter proves the document and the router list the same
// routes, both ways, so neither can drift (responses are checked against
// the document in every end-to-end request).
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc := loadDoc(t)
	e := newEnv(t, envOptions{})
	var inRouter []string
	for _, r := range e.Server.Routes() {
		inRouter = append(inRouter, r.Method+" "+r.Path)
	}
	var inDoc []string
	for p, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			inDoc = append(inDoc, strings.ToUpper(m)+" "+p)
		}
	}
	for _, r := range inDoc {
		if !slices.Contains(inRouter, r) {
			t.Errorf("openapi.yaml has %s, the router does not", r)
		}
	}
	for _, r := range inRouter {
		if !slices.Contains(inDoc, r) {
			t.Errorf("the router has %s, openapi.yaml does not", r)
		}
	}
	if len(inDoc) < 30 {
		t.Fatalf("only %d operations in the document", len(inDoc))
	}
	// The served document is the embedded one.
	r := e.ok(200, nil, "GET", "/v1/openapi.yaml", "", nil)
	if string(r.body) != string(server.OpenAPI()) {
		t.Fatal("/v1/openapi.yaml differs from the embedded document")
	}
}
