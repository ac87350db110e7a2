//go:build cgo

// Command minimalwindow is the baseline for the desktop client's start-up
// figures (docs/benchmarks/gui.md): the smallest Fyne program that opens a
// window of the client's size, built the same way, so that start-up time and
// memory can be compared in one run (scripts/screenshots.sh).
package main

import (
	"flag"
	"os"
	"os/signal"
	"syscall"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/widget"

	apptheme "github.com/ukeyrenew/ukeyrenew/app/theme"
)

func main() {
	cjk := flag.Bool("cjk", false, "use the client's theme (bundled CJK font) and a Chinese label, to split the client's cost")
	flag.Parse()
	a := app.NewWithID("cn.ukeyrenew.minimalwindow")
	label := "minimal window"
	if *cjk {
		a.Settings().SetTheme(apptheme.New())
		label = "最小窗口 minimal window"
	}
	w := a.NewWindow("minimal window")
	w.SetContent(widget.NewLabel(label))
	w.Resize(fyne.NewSize(960, 680))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fyne.Do(a.Quit)
	}()
	w.ShowAndRun()
}
