package layers

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const mod = "github.com/ukeyrenew/ukeyrenew"

// rules: what the packages (and all they import) must never reach.
var rules = []struct {
	pkgs   []string
	banned []string
	why    string
}{
	{[]string{"./renewal/..."}, []string{mod + "/token", mod + "/client", mod + "/server", mod + "/app", mod + "/internal/tpmdev", "fyne.io/", "github.com/miekg/pkcs11", "github.com/google/go-tpm"},
		"renewal is the contract: app, client and server import it, it imports nothing of theirs"},
	{[]string{"./server/...", "./cmd/renewd"}, []string{mod + "/client", mod + "/app", "fyne.io/", "github.com/google/go-tpm", "github.com/zalando/go-keyring"},
		"the service shares only the contract with the client, and links no TPM or keyring code"},
	{[]string{"./client/..."}, []string{mod + "/server", mod + "/app", "fyne.io/"},
		"the client talks to the service over HTTP only, and knows no widget"},
	{[]string{"./token/..."}, []string{mod + "/renewal", mod + "/client", mod + "/server", mod + "/app", "fyne.io/"},
		"token is the PKCS#11 layer: it knows nothing of renewals, services or screens"},
	{[]string{".", "./app/...", "./client/...", "./cmd/...", "./renewal/...", "./server/...", "./token/..."}, []string{mod + "/internal/tsatest", "github.com/digitorus/"},
		"the time-stamping authority is test tooling (package-check): no shipped program links it"},
}

func TestArrowsPointOneWay(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("UKEY_TEST_STRICT") != "" {
			t.Fatalf("go not on PATH: %v", err)
		}
		t.Skip("go not on PATH")
	}
	root := repoRoot(t)
	for _, goos := range []string{"linux", "windows"} {
		g := importGraph(t, root, goos)
		for _, r := range rules {
			from := g.reach(r.pkgs)
			for dep := range from {
				for _, b := range r.banned {
					if dep == b || strings.HasPrefix(dep, strings.TrimSuffix(b, "/")+"/") {
						t.Errorf("GOOS=%s: %s reaches %s (%s)\n\t%s", goos, strings.Join(r.pkgs, " "), dep, r.why, chain(from, dep))
					}
				}
			}
		}
	}
}

// graph maps each package of the module, and each package they import, to
// its imports.
type graph map[string][]string

// importGraph reads the imports of every package in the module (tests
// left out) as the build for goos sees them.
func importGraph(t *testing.T, root, goos string) graph {
	t.Helper()
	args := []string{"list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./..."}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	g := graph{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			g[f[0]] = f[1:]
		}
	}
	return g
}

// reach returns every package the patterns' packages import, directly or
// not, each with the package that brought it in ("" for the roots). A
// pattern is "./dir" or "./dir/...".
func (g graph) reach(patterns []string) map[string]string {
	from := map[string]string{}
	var queue []string
	for p := range g {
		for _, pat := range patterns {
			dir := mod + strings.TrimPrefix(strings.TrimSuffix(pat, "/..."), ".")
			if p == dir || (strings.HasSuffix(pat, "/...") && strings.HasPrefix(p, dir+"/")) {
				from[p] = ""
				queue = append(queue, p)
			}
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range g[p] {
			if _, seen := from[imp]; !seen {
				from[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return from
}

// chain is how dep was reached: "a -> b -> dep".
func chain(from map[string]string, dep string) string {
	path := []string{dep}
	for p := from[dep]; p != ""; p = from[p] {
		path = append([]string{p}, path...)
	}
	return strings.Join(path, " -> ")
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}
