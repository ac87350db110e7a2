package app

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
)

// pinDialog asks for a token's PIN. It shows the PIN state from its PINVM,
// sends each PIN exactly once when the clerk presses OK or Enter, and empties
// the entry straight away. Fyne's entry keeps its text as a Go string, which
// cannot be overwritten; the dialog copies it to a byte slice that the
// view-model wipes, and drops the string at once so it is only garbage.
type pinDialog struct {
	vm     *model.PINVM
	ctx    context.Context
	dlg    *dialog.CustomDialog
	entry  *appwidget.PINEntry
	ok     *widget.Button
	cancel *widget.Button
	note   *appwidget.Badge
	body   *fyne.Container
	onDone func()
}

// newPINDialog builds the dialog for vm over win. onDone (may be nil) runs on
// the UI goroutine after the action succeeded and the dialog closed.
func newPINDialog(ctx context.Context, vm *model.PINVM, win fyne.Window, onDone func()) *pinDialog {
	d := &pinDialog{vm: vm, ctx: ctx, onDone: onDone}
	d.makeUI(win)
	return d
}

func (d *pinDialog) makeUI(win fyne.Window) {
	who := widget.NewLabel(lang.X("pin.for_token", "UKey 序列号 {{.Serial}}", map[string]any{"Serial": d.vm.Serial()}))
	who.Importance = widget.LowImportance
	d.note = newBadge("", model.LevelOK)
	d.note.Hide()
	d.entry = appwidget.NewPINEntry(d.cancelNow)
	d.entry.SetPlaceHolder(lang.X("pin.placeholder", "UKey 口令"))
	d.entry.OnSubmitted = func(string) { d.submit() }
	d.entry.OnChanged = func(string) { d.updateButtons() }
	msg := widget.NewLabelWithData(d.vm.Message)
	msg.Wrapping = fyne.TextWrapWord
	d.vm.Failed.AddListener(binding.NewDataListener(func() {
		if failed, _ := d.vm.Failed.Get(); failed {
			msg.Importance = widget.DangerImportance
		} else {
			msg.Importance = widget.MediumImportance
		}
		msg.Refresh()
	}))
	hint := widget.NewLabel(lang.X("pin.hint", "口令只用于这一次操作，不会被保存。输错多次会锁定 UKey。"))
	hint.Wrapping = fyne.TextWrapWord
	hint.Importance = widget.LowImportance
	d.cancel = widget.NewButtonWithIcon(lang.X("pin.cancel", "取消"), theme.CancelIcon(), d.cancelNow)
	d.ok = widget.NewButtonWithIcon(lang.X("pin.ok_button", "确定"), theme.ConfirmIcon(), d.submit)
	d.ok.Importance = widget.HighImportance
	d.ok.Disable()

	d.body = container.NewVBox(who, container.NewHBox(d.note), d.entry, msg, hint,
		container.NewGridWithColumns(2, d.cancel, d.ok))
	d.dlg = dialog.NewCustomWithoutButtons(lang.X("pin.title", "输入 UKey 口令"), d.body, win)
	d.dlg.Resize(fyne.NewSize(420, 0))

	d.vm.Note.AddListener(binding.NewDataListener(d.noteChanged))
	d.vm.NoteLevel.AddListener(binding.NewDataListener(d.noteChanged))
	d.vm.Busy.AddListener(binding.NewDataListener(d.updateButtons))
	d.vm.Locked.AddListener(binding.NewDataListener(d.updateButtons))
	d.vm.Done.AddListener(binding.NewDataListener(func() {
		if done, _ := d.vm.Done.Get(); done {
			d.dlg.Hide()
			if d.onDone != nil {
				d.onDone()
			}
		}
	}))
}

// Show opens the dialog, reads the PIN state in the background and puts the
// focus in the entry. Esc cancels, wherever the focus is in the dialog.
func (d *pinDialog) Show(win fyne.Window) {
	onEscWhileOpen(win, d.dlg, d.cancelNow)
	d.dlg.Show()
	win.Canvas().Focus(d.entry)
	go func() { _ = d.vm.LoadState(d.ctx) }()
}

// cancelNow closes the dialog unless a PIN is on its way to the token: the
// token's answer decides what happens next (a write starts on a right PIN),
// so the dialog stays until it comes.
func (d *pinDialog) cancelNow() {
	if busy, _ := d.vm.Busy.Get(); busy {
		return
	}
	d.entry.SetText("")
	d.dlg.Hide()
}

func (d *pinDialog) noteChanged() {
	note, _ := d.vm.Note.Get()
	lvl, _ := d.vm.NoteLevel.Get()
	setBadge(d.note, note, model.Level(lvl))
	if note == "" {
		d.note.Hide()
	} else {
		d.note.Show()
	}
	d.note.Refresh()
	d.body.Refresh() // lay out again: the note appeared or went
	d.dlg.Resize(fyne.NewSize(420, 0))
}

func (d *pinDialog) updateButtons() {
	busy, _ := d.vm.Busy.Get()
	locked, _ := d.vm.Locked.Get()
	if busy || locked {
		d.entry.Disable()
	} else {
		d.entry.Enable()
	}
	if busy {
		d.cancel.Disable()
	} else {
		d.cancel.Enable()
	}
	if busy || locked || d.entry.Text == "" {
		d.ok.Disable()
	} else {
		d.ok.Enable()
	}
}

// submit hands the typed PIN to the view-model once and clears the entry.
func (d *pinDialog) submit() {
	if d.ok.Disabled() {
		return
	}
	pin := []byte(d.entry.Text)
	d.entry.SetText("")
	d.ok.Disable()
	go func() { _ = d.vm.Submit(d.ctx, pin) }()
}
