package app

import (
	"sync"
	"time"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
)

// Idle sign-out in counter mode: the limits.
const (
	// IdleAfterDefault is how long a counter window waits without input
	// before it signs the customer out and wipes the screens.
	IdleAfterDefault = 5 * time.Minute
	// idleAfterMin is the shortest idle time accepted: less would sign a
	// customer out while reading a screen.
	idleAfterMin = 30 * time.Second
	// idleWarnBefore is how long before the sign-out the counter bar
	// counts down.
	idleWarnBefore = 30 * time.Second
	// idleCheckEvery is how often the counter looks at the clock and at
	// the focused field.
	idleCheckEvery = time.Second
)

// idleWatch is when the counter window last saw the customer or the clerk
// act. Input marks it; a write to the UKey or a payment being waited for
// holds it, so the idle time counts from when they end.
type idleWatch struct {
	clock model.Clock

	mu    sync.Mutex
	last  time.Time // last input, or the end of the last hold
	input time.Time // last input only
}

func newIdleWatch(c model.Clock) *idleWatch {
	now := c.Now()
	return &idleWatch{clock: c, last: now, input: now}
}

// touch records input.
func (w *idleWatch) touch() {
	w.mu.Lock()
	w.last = w.clock.Now()
	w.input = w.last
	w.mu.Unlock()
}

// touchAt records input that happened ago.
func (w *idleWatch) touchAt(ago time.Duration) {
	w.mu.Lock()
	t := w.clock.Now().Add(-ago)
	if t.After(w.last) {
		w.last = t
	}
	if t.After(w.input) {
		w.input = t
	}
	w.mu.Unlock()
}

// sinceInput is how long since the last input, holds aside: what the
// notices about a held sign-out go by.
func (w *idleWatch) sinceInput() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(w.clock.Now().Sub(w.input), 0)
}

// hold records that something the idle sign-out must not interrupt is
// still running: the idle time starts again when it ends.
func (w *idleWatch) hold() {
	w.mu.Lock()
	w.last = w.clock.Now()
	w.mu.Unlock()
}

// idle is how long nothing happened.
func (w *idleWatch) idle() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(w.clock.Now().Sub(w.last), 0)
}

// inputPrint is what typing changes on a canvas: which widget has the
// focus and, for an entry, where its cursor is and how long its text is.
// Keys go to the focused widget, not to the canvas, so the counter samples
// this every IdleCheckEvery and counts a change as input. A password entry
// (the PIN) gives only its cursor: its text is never read.
type inputPrint struct {
	focused  fyne.Focusable
	row, col int
	runes    int
}

func printOf(c fyne.Canvas) inputPrint {
	p := inputPrint{focused: c.Focused()}
	if e := entryOf(p.focused); e != nil {
		p.row, p.col = e.CursorRow, e.CursorColumn
		if !e.Password {
			p.runes = utf8.RuneCountInString(e.Text)
		}
	}
	return p
}

// entryOf is f as a Fyne entry: a *widget.Entry, or a widget built on one
// that says so (the PIN and key entries); nil for anything else.
func entryOf(f fyne.Focusable) *widget.Entry {
	switch e := f.(type) {
	case *widget.Entry:
		return e
	case entryWidget:
		return e.AsEntry()
	}
	return nil
}

// entryWidget is a widget built on a Fyne entry, which it hands out for
// the counter's input print.
type entryWidget interface {
	AsEntry() *widget.Entry
}
