package model

import (
	"os/exec"
	"strings"
	"testing"
)

// drawing are the packages that draw or lay out a window: a view-model
// holds state in bindings and never a widget, so none of them may be
// among this package's dependencies, direct or not.
var drawing = []string{
	"fyne.io/fyne/v2/app",
	"fyne.io/fyne/v2/canvas",
	"fyne.io/fyne/v2/container",
	"fyne.io/fyne/v2/dialog",
	"fyne.io/fyne/v2/driver",
	"fyne.io/fyne/v2/layout",
	"fyne.io/fyne/v2/theme",
	"fyne.io/fyne/v2/widget",
	"github.com/ukeyrenew/ukeyrenew/app/internal/widget",
}

func TestViewModelsDrawNothing(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies:", err)
	}
	out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !strings.Contains(string(out), "fyne.io/fyne/v2/data/binding") {
		t.Fatalf("go list gave %d packages, without fyne's binding: not this package's dependencies", len(deps))
	}
	for _, d := range deps {
		for _, bad := range drawing {
			if d == bad || strings.HasPrefix(d, bad+"/") {
				t.Errorf("the view-models depend on %s", d)
			}
		}
	}
}
