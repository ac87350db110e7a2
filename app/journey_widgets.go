package app

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// heading is a screen's title.
func heading(text string) *widget.Label {
	l := widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.SizeName = theme.SizeNameHeadingText
	return l
}

// fieldMsg is the message under a form field, bound to msg, in the danger colour.
func fieldMsg(msg binding.String) *widget.Label {
	l := widget.NewLabelWithData(msg)
	l.Importance = widget.DangerImportance
	l.Wrapping = textWrap()
	l.SizeName = theme.SizeNameCaptionText
	msg.AddListener(binding.NewDataListener(func() { // no gap under a field without a message
		if v, _ := msg.Get(); v == "" {
			l.Hide()
		} else {
			l.Show()
		}
	}))
	return l
}

// messageLabel is a wrapped label bound to an outcome message.
func messageLabel(msg binding.String) *widget.Label {
	l := widget.NewLabelWithData(msg)
	l.Wrapping = textWrap()
	return l
}

// hintLabel is a wrapped low-importance hint.
func hintLabel(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = textWrap()
	l.Importance = widget.LowImportance
	return l
}

// textWrap wraps Chinese between any two characters (it has no spaces to
// break at: word wrapping would cut it at the few Latin words inside) and
// English between words.
func textWrap() fyne.TextWrap {
	if CurrentLang() == LangEN {
		return fyne.TextWrapWord
	}
	return fyne.TextWrapBreak
}

// bindEnabled enables w while b is true (inverted with not).
func bindEnabled(b binding.Bool, w fyne.Disableable, not bool) {
	b.AddListener(binding.NewDataListener(func() {
		v, _ := b.Get()
		if v != not {
			w.Enable()
		} else {
			w.Disable()
		}
	}))
}

// bindVisible shows o while b is true (hides it with not).
func bindVisible(b binding.Bool, o fyne.CanvasObject, not bool) {
	b.AddListener(binding.NewDataListener(func() {
		v, _ := b.Get()
		if v != not {
			o.Show()
		} else {
			o.Hide()
		}
	}))
}

// boundEntry is an entry bound to s without Fyne's own validation mark: the
// shared validators' message under the field says what is wrong, and a tick
// next to a value they refuse would contradict it.
func boundEntry(s binding.String) *widget.Entry {
	e := widget.NewEntryWithData(s)
	e.Validator = nil
	return e
}

// tickEvery calls tick every d until ctx is done (a countdown's display;
// the view-models compute from their clocks, so a late tick shows no drift).
func tickEvery(ctx context.Context, d time.Duration, tick func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tick()
		}
	}
}
