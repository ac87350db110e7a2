package renewal

import (
	"os"
	"testing"
)

// STATES.md is the state table for people; it is generated from the same
// table the code reads. Regenerate with UKEY_UPDATE_DOCS=1 go test ./renewal/.
func TestStatesDocUpToDate(t *testing.T) {
	want := "# Application states and actions\n\n" +
		"Generated from `renewal.Rules` by `UKEY_UPDATE_DOCS=1 go test ./renewal/`; do not edit by hand.\n" +
		"Several rows may share an action: the first whose conditions hold applies. \"policy\" names the CA\n" +
		"policy condition (`renewal.Policy`). After every action, an approved application that is paid and\n" +
		"needs no (more) financial verification becomes `ready_to_download` (`renewal.Settle`).\n\n" +
		RulesMarkdown()
	if os.Getenv("UKEY_UPDATE_DOCS") == "1" {
		if err := os.WriteFile("STATES.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("STATES.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("STATES.md is out of date with the rules table: run UKEY_UPDATE_DOCS=1 go test ./renewal/")
	}
}
