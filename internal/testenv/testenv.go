// Package testenv lets tests ask for the real programs and servers they need
// (SoftHSM2, pkcs11-tool, PostgreSQL, a Secret Service, swtpm, Xvfb...).
//
// A test that lacks one is skipped on a developer's machine, but fails when
// UKEY_TEST_STRICT=1 is set, as scripts/test.sh (and so CI) does: there a
// missing dependency is a broken test setup, never a silent pass.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether missing test dependencies must fail the test.
func Strict() bool { return os.Getenv("UKEY_TEST_STRICT") == "1" }

// Missing skips the test, or fails it in strict mode, because what names is absent.
func Missing(t testing.TB, what string) {
	t.Helper()
	if Strict() {
		t.Fatalf("test dependency missing: %s (UKEY_TEST_STRICT=1; run scripts/test.sh, which installs it)", what)
	}
	t.Skipf("test dependency missing: %s", what)
}

// LookPath returns the path of an executable, or skips/fails the test if absent.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name)
	}
	return p
}

// File returns path if it exists, or skips/fails the test.
func File(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, path)
	}
	return path
}

// Env returns the value of an environment variable set by scripts/test.sh
// (for example UKEY_TEST_PG_DSN), or skips/fails the test when it is unset.
func Env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, "environment variable "+name)
	}
	return v
}
