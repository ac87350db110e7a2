package widget

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// KeyEntry is an entry that hands Esc and Ctrl+Enter (Cmd+Enter on macOS)
// to the screen: a multi-line field keeps Enter for new lines, so
// Ctrl+Enter submits; in a dialog Esc cancels, as a focused entry takes
// every key the dialog would otherwise see.
type KeyEntry struct {
	widget.Entry
	OnEsc, OnCtrlEnter func()
}

// NewKeyEntry returns an empty entry, multi-line and word-wrapped if asked.
func NewKeyEntry(multiLine bool) *KeyEntry {
	e := &KeyEntry{}
	e.MultiLine = multiLine
	if multiLine {
		e.Wrapping = fyne.TextWrapWord
	}
	e.ExtendBaseWidget(e)
	return e
}

// AsEntry is the Fyne entry underneath.
func (e *KeyEntry) AsEntry() *widget.Entry { return &e.Entry }

// TypedKey hands Esc to OnEsc, every other key to the entry.
func (e *KeyEntry) TypedKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyEscape && e.OnEsc != nil {
		e.OnEsc()
		return
	}
	e.Entry.TypedKey(k)
}

// TypedShortcut hands Ctrl+Enter to OnCtrlEnter, every other shortcut to
// the entry.
func (e *KeyEntry) TypedShortcut(s fyne.Shortcut) {
	if cs, ok := s.(*desktop.CustomShortcut); ok && e.OnCtrlEnter != nil &&
		(cs.KeyName == fyne.KeyReturn || cs.KeyName == fyne.KeyEnter) &&
		(cs.Modifier == fyne.KeyModifierControl || cs.Modifier == fyne.KeyModifierShortcutDefault) {
		e.OnCtrlEnter()
		return
	}
	e.Entry.TypedShortcut(s)
}

// KeyButton is a button that Enter presses too, not only Space: the
// screens put the focus on the button that comes next, and Enter is what
// a clerk presses.
type KeyButton struct {
	widget.Button
}

// NewKeyButton returns a button with label and icon that calls tapped.
func NewKeyButton(label string, icon fyne.Resource, tapped func()) *KeyButton {
	b := &KeyButton{}
	b.Text, b.Icon, b.OnTapped = label, icon, tapped
	b.ExtendBaseWidget(b)
	return b
}

// TypedKey presses the button on Enter; Space and the rest as a button does.
func (b *KeyButton) TypedKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyReturn || k.Name == fyne.KeyEnter {
		b.Tapped(nil)
		return
	}
	b.Button.TypedKey(k)
}

// PINEntry is a password entry on which Esc closes the dialog (Fyne's
// custom dialogs do not handle Esc, and a focused entry takes every key).
type PINEntry struct {
	widget.Entry
	onEsc func()
}

// NewPINEntry returns an empty password entry that calls onEsc on Esc.
func NewPINEntry(onEsc func()) *PINEntry {
	e := &PINEntry{onEsc: onEsc}
	e.Password = true
	e.Wrapping = fyne.TextWrapOff
	e.ExtendBaseWidget(e)
	return e
}

// AsEntry is the Fyne entry underneath.
func (e *PINEntry) AsEntry() *widget.Entry { return &e.Entry }

// TypedKey closes the dialog on Esc and leaves every other key to the entry.
func (e *PINEntry) TypedKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyEscape {
		e.onEsc()
		return
	}
	e.Entry.TypedKey(k)
}
