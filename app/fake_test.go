package app

import (
	"fmt"
	"os"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/app/internal/langtest"
)

// TestMain pins the interface language to Chinese whatever LANG the test
// runs under (scripts/test.sh uses C.UTF-8); tests that need English switch
// with langtest.Use.
func TestMain(m *testing.M) {
	if err := langtest.Set(langtest.Default); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
