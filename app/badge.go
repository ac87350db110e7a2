package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// badge is a rounded pill with short text on a level colour ("剩余 20 天").
type badge struct {
	widget.BaseWidget
	Text  string
	Level Level
}

func newBadge(text string, lvl Level) *badge {
	b := &badge{Text: text, Level: lvl}
	b.ExtendBaseWidget(b)
	return b
}

func levelColors(lvl Level) (bg, fg fyne.ThemeColorName) {
	switch lvl {
	case LevelError:
		return theme.ColorNameError, theme.ColorNameForegroundOnError
	case LevelWarning:
		return theme.ColorNameWarning, theme.ColorNameForegroundOnWarning
	case LevelNotice:
		return theme.ColorNamePrimary, theme.ColorNameForegroundOnPrimary
	}
	return theme.ColorNameSuccess, theme.ColorNameForegroundOnSuccess
}

func (b *badge) CreateRenderer() fyne.WidgetRenderer {
	r := &badgeRenderer{b: b, bg: canvas.NewRectangle(nil), text: canvas.NewText("", nil)}
	r.Refresh()
	return r
}

type badgeRenderer struct {
	b    *badge
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
	bg, fg := levelColors(r.b.Level)
	r.bg.FillColor = th.Color(bg, v)
	r.bg.CornerRadius = 10
	r.text.Text = r.b.Text
	r.text.Color = th.Color(fg, v)
	r.text.TextSize = th.Size(theme.SizeNameText)
	r.bg.Refresh()
	r.text.Refresh()
}

func (r *badgeRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.bg, r.text} }
func (r *badgeRenderer) Destroy()                     {}
