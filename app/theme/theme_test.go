package theme

import (
	"image/color"
	"math"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"github.com/ukeyrenew/ukeyrenew/assets"
)

func TestFontIsCJKForTextStyles(t *testing.T) {
	th := New()
	want := assets.FontCJK()
	for _, s := range []fyne.TextStyle{{}, {Bold: true}, {Italic: true}, {Bold: true, Italic: true}} {
		got := th.Font(s)
		if got.Name() != want.Name() || len(got.Content()) != len(want.Content()) {
			t.Errorf("Font(%+v) = %s, want the bundled CJK font", s, got.Name())
		}
	}
	if th.Font(fyne.TextStyle{Monospace: true}).Name() == want.Name() {
		t.Error("monospace text should keep Fyne's monospace font")
	}
	if len(want.Content()) < 1_000_000 {
		t.Errorf("bundled font is %d bytes, want the ~1.3 MB GB2312 subset", len(want.Content()))
	}
}

func TestColoursDifferByVariantAndKeepContrast(t *testing.T) {
	test.NewTempApp(t) // Fyne's default theme, for names outside the palette, needs an app
	th := New()
	for _, v := range []fyne.ThemeVariant{theme.VariantLight, theme.VariantDark} {
		fg := th.Color(theme.ColorNameForeground, v)
		bg := th.Color(theme.ColorNameBackground, v)
		if r := contrast(fg, bg); r < 7 {
			t.Errorf("variant %d: text contrast %.1f, want at least 7 (WCAG AAA)", v, r)
		}
		for _, n := range []fyne.ThemeColorName{theme.ColorNameSuccess, theme.ColorNameWarning, theme.ColorNameError, theme.ColorNamePrimary} {
			if r := contrast(th.Color(n, v), bg); r < 3 {
				t.Errorf("variant %d: %s contrast against background %.1f, want at least 3", v, n, r)
			}
		}
	}
	if th.Color(theme.ColorNameBackground, theme.VariantLight) == th.Color(theme.ColorNameBackground, theme.VariantDark) {
		t.Error("light and dark backgrounds are the same")
	}
	// A name the palette does not set falls back to Fyne's default.
	if th.Color(theme.ColorNameScrollBar, theme.VariantLight) == nil {
		t.Error("no colour for a name outside the palette")
	}
}

func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		s := float64(v) / 0xFFFF
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

func contrast(a, b color.Color) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}
