package widget

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// ActivitySensor wraps the window's content and reports the pointer input
// that reaches it: moves, presses and scrolls over any part of the window
// that no button, entry, list or scroller claims (Fyne delivers pointer
// events to the deepest object that handles them, so a widget over the
// sensor takes its own events; entering or leaving such a widget still
// reaches the sensor as MouseOut or MouseIn). It passes nothing on and
// changes nothing: the wrapped content works as before.
type ActivitySensor struct {
	widget.BaseWidget
	content fyne.CanvasObject
	input   func()
}

var (
	_ desktop.Hoverable = (*ActivitySensor)(nil)
	_ desktop.Mouseable = (*ActivitySensor)(nil)
	_ fyne.Scrollable   = (*ActivitySensor)(nil)
)

// NewActivitySensor wraps content and calls input on every pointer event
// that reaches the sensor.
func NewActivitySensor(content fyne.CanvasObject, input func()) *ActivitySensor {
	s := &ActivitySensor{content: content, input: input}
	s.ExtendBaseWidget(s)
	return s
}

// CreateRenderer is Fyne's: the wrapped content, as it is.
func (s *ActivitySensor) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(s.content)
}

func (s *ActivitySensor) MouseIn(*desktop.MouseEvent)    { s.input() }
func (s *ActivitySensor) MouseMoved(*desktop.MouseEvent) { s.input() }
func (s *ActivitySensor) MouseOut()                      { s.input() }
func (s *ActivitySensor) MouseDown(*desktop.MouseEvent)  { s.input() }
func (s *ActivitySensor) MouseUp(*desktop.MouseEvent)    { s.input() }
func (s *ActivitySensor) Scrolled(*fyne.ScrollEvent)     { s.input() }
