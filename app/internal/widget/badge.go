package widget

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Badge is a rounded pill with short text on a theme colour ("剩余 20 天").
type Badge struct {
	widget.BaseWidget
	Text string
	// Fill is the pill's colour, OnFill the text's (a theme's pair, such as
	// ColorNameError and ColorNameForegroundOnError).
	Fill, OnFill fyne.ThemeColorName
}

// NewBadge returns a badge of text in the colours fill and onFill.
func NewBadge(text string, fill, onFill fyne.ThemeColorName) *Badge {
	b := &Badge{Text: text, Fill: fill, OnFill: onFill}
	b.ExtendBaseWidget(b)
	return b
}

// CreateRenderer is Fyne's: the pill and its text.
func (b *Badge) CreateRenderer() fyne.WidgetRenderer {
	r := &badgeRenderer{b: b, bg: canvas.NewRectangle(nil), text: canvas.NewText("", nil)}
	r.Refresh()
	return r
}

type badgeRenderer struct {
	b    *Badge
	bg   *canvas.Rectangle
	text *canvas.Text
}

const badgePadX, badgePadY = 10, 3

func (r *badgeRenderer) Layout(s fyne.Size) {
	r.bg.Resize(s)
	ts := r.text.MinSize()
	r.text.Move(fyne.NewPos((s.Width-ts.Width)/2, (s.Height-ts.Height)/2))
	r.text.Resize(ts)
}

func (r *badgeRenderer) MinSize() fyne.Size {
	ts := r.text.MinSize()
	return fyne.NewSize(ts.Width+2*badgePadX, ts.Height+2*badgePadY)
}

func (r *badgeRenderer) Refresh() {
	th := r.b.Theme()
	v := fyne.CurrentApp().Settings().ThemeVariant()
	r.bg.FillColor = th.Color(r.b.Fill, v)
	r.bg.CornerRadius = 10
	r.text.Text = r.b.Text
	r.text.Color = th.Color(r.b.OnFill, v)
	r.text.TextSize = th.Size(theme.SizeNameText)
	r.bg.Refresh()
	r.text.Refresh()
}

func (r *badgeRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.bg, r.text} }
func (r *badgeRenderer) Destroy()                     {}
