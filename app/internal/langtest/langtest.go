// Package langtest switches the interface language in the desktop
// client's tests: Fyne's localizer reads LC_ALL and LANGUAGE when the
// translations are loaded, so a test sets those and loads them again.
package langtest

import (
	"os"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/assets"
)

// Default is the locale the tests run in unless they switch: Chinese,
// whatever LANG the test runs under (scripts/test.sh uses C.UTF-8).
const Default = "zh_CN.UTF-8"

// Set makes locale the interface language for the whole test binary (a
// TestMain calls it with Default).
func Set(locale string) error {
	os.Setenv("LANGUAGE", "")
	os.Setenv("LC_ALL", locale)
	return assets.LoadTranslations()
}

// Use switches the interface language to locale for one test, and back
// to Default when it ends.
func Use(t *testing.T, locale string) {
	t.Helper()
	if err := Set(locale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Set(Default); err != nil {
			t.Error(err)
		}
	})
}
