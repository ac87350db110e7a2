package update_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ukeyrenew/ukeyrenew/internal/testenv"
)

// TestInstallHandsOverToMsiexecUnderWine runs the hand-over as a released
// client does it, under Wine: a Windows program signed by the test
// publisher calls Updater.Install, which checks the MSI's signer against
// its own and starts msiexec detached. The MSI of the same publisher gets
// installed; another publisher's MSI, or any MSI from an unsigned program,
// is refused and nothing is installed.
func TestInstallHandsOverToMsiexecUnderWine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Wine prefix (about 30 s)")
	}
	for _, tool := range []string{"wine", "wineboot", "wineserver", "xvfb-run"} {
		testenv.LookPath(t, tool)
	}
	goCmd := testenv.LookPath(t, "go")
	k := newKit(t)
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	build := exec.Command(goCmd, "build", "-o", p("handoff-unsigned.exe"), "./testdata/handoff")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the hand-over program: %v\n%s", err, out)
	}
	k.publisher.sign(t, p("handoff-unsigned.exe"), p("handoff.exe"))
	shim, err := filepath.Abs("../../packaging/wine")
	if err != nil {
		t.Fatal(err)
	}
	// Wine 8 lacks bcryptprimitives.dll, which Go 1.22+ programs import:
	// the test-only stand-in of scripts/package-check.sh goes into the
	// prefix. wineserver -w waits until every Wine process, the detached
	// msiexec included, has ended.
	script := `set -u
wineboot -i >"$D/wineboot.log" 2>&1; wineserver -w
x86_64-w64-mingw32-gcc -shared -O2 -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" "$SHIM/bcryptprimitives.c" "$SHIM/bcryptprimitives.def" -ladvapi32 || exit 9
echo "unsigned: $(wine "$D/handoff-unsigned.exe" "$GOOD" 2>/dev/null)"; wineserver -w
echo "other: $(wine "$D/handoff.exe" "$OTHER" 2>/dev/null)"; wineserver -w
echo "before: $(ls "$WINEPREFIX/drive_c/Program Files (x86)/UKeyRenewUpdateTest" 2>&1 | head -1)"
echo "good: $(wine "$D/handoff.exe" "$GOOD" 2>/dev/null)"; wineserver -w
echo "after: $(ls "$WINEPREFIX/drive_c/Program Files (x86)/UKeyRenewUpdateTest" 2>&1)"
`
	cmd := exec.Command("xvfb-run", "-a", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "WINEPREFIX="+p("prefix"), "WINEARCH=win64", "WINEDEBUG=-all", "HOME="+p("home"),
		"WINEDLLOVERRIDES=mscoree,mshtml=;winemenubuilder.exe=d", "D="+dir, "SHIM="+shim, "GOOD="+k.good, "OTHER="+k.other)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("under Wine: %v\n%s", err, out)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok {
			lines[k] = v
		}
	}
	for what, want := range map[string]string{
		"unsigned": "refused: this program is not signed",
		"other":    "refused: the installer is signed by another publisher",
		"before":   "No such file",
		"good":     "handed over",
		"after":    "payload.exe",
	} {
		if !strings.Contains(lines[what], want) {
			t.Errorf("%s: %q, want %q\n%s", what, lines[what], want, out)
		}
	}
}
