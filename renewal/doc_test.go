package renewal

import (
	"os"
	"testing"
)

// STATES.md is the state table for people; it is generated from the same
// table the code reads. Regenerate with UKEY_UPDATE_DOCS=1 go test ./renewal/.
func TestStatesDocUpToDate(t *testing.T) {
	checkDoc(t, "STATES.md", statesDoc())
}

// ERRORS.md is the error code table, generated the same way.
func TestErrorsDocUpToDate(t *testing.T) {
	checkDoc(t, "ERRORS.md", "# Error codes\n\n"+
		"Generated from the code table in errors.go by `UKEY_UPDATE_DOCS=1 go test ./renewal/`; do not edit by hand.\n"+
		"The list is append-only: a code's number is its position, and it travels on the wire by name in\n"+
		"`{\"code\", \"field\", \"message\", \"message_zh\", \"fields\"}`. \"field\" is the default; an error may name a more precise one.\n\n"+
		CodesMarkdown())
}

func statesDoc() string {
	want := "# Application states and actions\n\n" +
		"Generated from `renewal.Rules` by `UKEY_UPDATE_DOCS=1 go test ./renewal/`; do not edit by hand.\n" +
		"Several rows may share an action: the first whose conditions hold applies. \"policy\" names the CA\n" +
		"policy condition (`renewal.Policy`). After every action, an approved application that is paid and\n" +
		"needs no (more) financial verification becomes `ready_to_download` (`renewal.Settle`).\n\n" +
		RulesMarkdown()
	return want
}

func checkDoc(t *testing.T, name, want string) {
	t.Helper()
	if os.Getenv("UKEY_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(name, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date with its table in the code: run UKEY_UPDATE_DOCS=1 go test ./renewal/", name)
	}
}
