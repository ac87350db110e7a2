//go:build cgo

// Command minimalwindow is the baseline for the desktop client's start-up
// figures (docs/benchmarks/gui.md): the smallest Fyne program that opens a
// window of the client's size, built the same way, so that start-up time and
// memory can be compared in one run (scripts/screenshots.sh).
package main

import (
	"os"
	"os/signal"
	"syscall"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/widget"
)

func main() {
	a := app.NewWithID("cn.ukeyrenew.minimalwindow")
	w := a.NewWindow("minimal window")
	w.SetContent(widget.NewLabel("minimal window"))
	w.Resize(fyne.NewSize(960, 680))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		fyne.Do(a.Quit)
	}()
	w.ShowAndRun()
}
