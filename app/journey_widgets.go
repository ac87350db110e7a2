package app

import (
	"context"
	"reflect"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	appwidget "github.com/ukeyrenew/ukeyrenew/app/internal/widget"
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
	if model.CurrentLang() == model.LangEN {
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

// focusIn puts the keyboard focus on f in the window that shows o (a
// screen's root), after the event being handled: a tab just selected lays
// its content out first. Nothing happens outside a window or for a nil f.
func focusIn(o fyne.CanvasObject, f fyne.Focusable) {
	if v := reflect.ValueOf(f); f == nil || v.Kind() == reflect.Pointer && v.IsNil() {
		return // no widget, or a typed nil (a button not made yet)
	}
	a := fyne.CurrentApp()
	if a == nil || len(a.Driver().AllWindows()) == 0 {
		return
	}
	fyne.Do(func() {
		if c := a.Driver().CanvasForObject(o); c != nil {
			c.Focus(f)
		}
	})
}

// focusNext moves the keyboard focus on from o, as Tab does (Enter in a
// form's field goes to the next field).
func focusNext(o fyne.CanvasObject) {
	if c := fyne.CurrentApp().Driver().CanvasForObject(o); c != nil {
		c.FocusNext()
	}
}

// escCloses lets Esc close d (as Cancel does) while nothing in it has the
// focus: Fyne's dialogs take no keys themselves. The window's own key
// handler comes back when d closes.
func escCloses(win fyne.Window, d dialog.Dialog) { onEscWhileOpen(win, d, d.Hide) }

// onEscWhileOpen runs esc when Esc reaches the window's canvas while d is
// open; the window's own key handler comes back when d closes.
func onEscWhileOpen(win fyne.Window, d dialog.Dialog, esc func()) {
	if win == nil {
		return
	}
	c := win.Canvas()
	prev := c.OnTypedKey()
	c.SetOnTypedKey(func(k *fyne.KeyEvent) {
		if k.Name == fyne.KeyEscape {
			esc()
			return
		}
		if prev != nil {
			prev(k)
		}
	})
	d.SetOnClosed(func() { c.SetOnTypedKey(prev) })
}

// newBadge is a badge of text in the colours of lvl.
func newBadge(text string, lvl model.Level) *appwidget.Badge {
	bg, fg := levelColors(lvl)
	return appwidget.NewBadge(text, bg, fg)
}

// setBadge gives b text in the colours of lvl; the caller refreshes it.
func setBadge(b *appwidget.Badge, text string, lvl model.Level) {
	b.Text = text
	b.Fill, b.OnFill = levelColors(lvl)
}

// levelColors are the theme's colours of a level: the badge's and the
// text's on it.
func levelColors(lvl model.Level) (bg, fg fyne.ThemeColorName) {
	switch lvl {
	case model.LevelError:
		return theme.ColorNameError, theme.ColorNameForegroundOnError
	case model.LevelWarning:
		return theme.ColorNameWarning, theme.ColorNameForegroundOnWarning
	case model.LevelNotice:
		return theme.ColorNamePrimary, theme.ColorNameForegroundOnPrimary
	}
	return theme.ColorNameSuccess, theme.ColorNameForegroundOnSuccess
}
