// Package theme is the look of UKey Renew: Fyne's default layout and sizes,
// calm blue-grey colours, and the bundled WenQuanYi Micro Hei subset for all
// proportional text, so that Chinese (company names, labels, the whole
// interface) renders on any PC, including one without CJK fonts installed.
//
// The font has a single weight: bold text uses the same face (Fyne does not
// synthesise bold), so screens mark headings by size and colour, not weight.
// Fyne opens the theme font once per text style it meets (buttons are bold,
// so at least twice at start-up); the bundled face stores its outlines as
// CFF, which go-text opens in about 4 ms instead of the 20 ms a TrueType
// face of the same glyphs takes (BenchmarkOpenFontCJK).
// Monospaced text and symbols keep Fyne's own fonts.
//
// Badge colours (success, warning, error) are chosen to be told apart by
// more than hue: screens always pair them with words ("已过期 3 天").
package theme

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"

	"github.com/ukeyrenew/ukeyrenew/assets"
)

// Theme is the UKey Renew theme. The zero value is not usable: call New.
type Theme struct {
	font fyne.Resource
	base fyne.Theme
}

// New returns the theme with the bundled CJK font.
func New() *Theme {
	return &Theme{font: assets.FontCJK(), base: theme.DefaultTheme()}
}

var _ fyne.Theme = (*Theme)(nil)

// palette holds one variant's colours; names not listed fall back to Fyne's.
type palette map[fyne.ThemeColorName]color.NRGBA

func rgb(v uint32) color.NRGBA {
	return color.NRGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xFF}
}

func rgba(v uint32, a uint8) color.NRGBA {
	c := rgb(v)
	c.A = a
	return c
}

var light = palette{
	theme.ColorNameBackground:          rgb(0xF4F6F8),
	theme.ColorNameHeaderBackground:    rgb(0xE8EDF1),
	theme.ColorNameMenuBackground:      rgb(0xFFFFFF),
	theme.ColorNameOverlayBackground:   rgb(0xFFFFFF),
	theme.ColorNameInputBackground:     rgb(0xFFFFFF),
	theme.ColorNameInputBorder:         rgb(0xC5CED6),
	theme.ColorNameButton:              rgb(0xE3E8ED),
	theme.ColorNameDisabledButton:      rgb(0xE9ECEF),
	theme.ColorNameForeground:          rgb(0x22303C),
	theme.ColorNameDisabled:            rgb(0x9AA5AF),
	theme.ColorNamePlaceHolder:         rgb(0x7B8794),
	theme.ColorNamePrimary:             rgb(0x2E6E8E),
	theme.ColorNameForegroundOnPrimary: rgb(0xFFFFFF),
	theme.ColorNameFocus:               rgba(0x2E6E8E, 0x66),
	theme.ColorNameHover:               rgba(0x2E6E8E, 0x1A),
	theme.ColorNamePressed:             rgba(0x2E6E8E, 0x33),
	theme.ColorNameSelection:           rgba(0x2E6E8E, 0x33),
	theme.ColorNameSeparator:           rgb(0xDDE3E8),
	theme.ColorNameHyperlink:           rgb(0x235A75),
	theme.ColorNameSuccess:             rgb(0x2E7D4F),
	theme.ColorNameWarning:             rgb(0xB7791F),
	theme.ColorNameError:               rgb(0xC0392B),
	theme.ColorNameForegroundOnSuccess: rgb(0xFFFFFF),
	theme.ColorNameForegroundOnWarning: rgb(0xFFFFFF),
	theme.ColorNameForegroundOnError:   rgb(0xFFFFFF),
	theme.ColorNameShadow:              rgba(0x000000, 0x33),
}

var dark = palette{
	theme.ColorNameBackground:          rgb(0x1C2329),
	theme.ColorNameHeaderBackground:    rgb(0x242D35),
	theme.ColorNameMenuBackground:      rgb(0x28323B),
	theme.ColorNameOverlayBackground:   rgb(0x28323B),
	theme.ColorNameInputBackground:     rgb(0x222A31),
	theme.ColorNameInputBorder:         rgb(0x44525E),
	theme.ColorNameButton:              rgb(0x2E3943),
	theme.ColorNameDisabledButton:      rgb(0x262F37),
	theme.ColorNameForeground:          rgb(0xE3E8EC),
	theme.ColorNameDisabled:            rgb(0x6B7782),
	theme.ColorNamePlaceHolder:         rgb(0x8A96A1),
	theme.ColorNamePrimary:             rgb(0x5FA8C9),
	theme.ColorNameForegroundOnPrimary: rgb(0x10181E),
	theme.ColorNameFocus:               rgba(0x5FA8C9, 0x66),
	theme.ColorNameHover:               rgba(0x5FA8C9, 0x1F),
	theme.ColorNamePressed:             rgba(0x5FA8C9, 0x3D),
	theme.ColorNameSelection:           rgba(0x5FA8C9, 0x3D),
	theme.ColorNameSeparator:           rgb(0x33404B),
	theme.ColorNameHyperlink:           rgb(0x7FBEDB),
	theme.ColorNameSuccess:             rgb(0x4FAE78),
	theme.ColorNameWarning:             rgb(0xD9A142),
	theme.ColorNameError:               rgb(0xE0685A),
	theme.ColorNameForegroundOnSuccess: rgb(0x10181E),
	theme.ColorNameForegroundOnWarning: rgb(0x10181E),
	theme.ColorNameForegroundOnError:   rgb(0x10181E),
	theme.ColorNameShadow:              rgba(0x000000, 0x66),
}

// Color returns the calm palette's colour, or Fyne's for names it lacks.
func (t *Theme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	p := light
	if v == theme.VariantDark {
		p = dark
	}
	if c, ok := p[n]; ok {
		return c
	}
	return t.base.Color(n, v)
}

// Font returns the CJK font for regular, bold and italic text.
func (t *Theme) Font(s fyne.TextStyle) fyne.Resource {
	if s.Monospace || s.Symbol {
		return t.base.Font(s)
	}
	return t.font
}

// Icon returns Fyne's icons.
func (t *Theme) Icon(n fyne.ThemeIconName) fyne.Resource { return t.base.Icon(n) }

// Size returns Fyne's sizes, with slightly larger text for Chinese legibility.
func (t *Theme) Size(n fyne.ThemeSizeName) float32 {
	switch n {
	case theme.SizeNameText:
		return 14
	case theme.SizeNameHeadingText:
		return 22
	case theme.SizeNameSubHeadingText:
		return 17
	}
	return t.base.Size(n)
}
