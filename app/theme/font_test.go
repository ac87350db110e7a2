package theme

import (
	"bytes"
	"image"
	"slices"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"github.com/go-text/typesetting/font"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/ukeyrenew/ukeyrenew/assets"
)

// gb2312 returns the characters of GB2312: the 6,763 hanzi and the 682
// other characters (punctuation, pinyin, Greek, Cyrillic, box drawing...).
// x/text decodes the rows through GBK, which fills a few more cells.
func gb2312(t testing.TB) (hanzi, other []rune) {
	dec := simplifiedchinese.HZGB2312.NewDecoder() // HZ writes a GB2312 cell as ~{XX~}
	for hi := 0xA1; hi <= 0xF7; hi++ {
		for lo := 0xA1; lo <= 0xFE; lo++ {
			s, err := dec.String("~{" + string([]byte{byte(hi - 0x80), byte(lo - 0x80)}) + "~}")
			if err != nil || s == "" || []rune(s)[0] == '\uFFFD' {
				continue // an unassigned cell
			}
			if hi >= 0xB0 {
				hanzi = append(hanzi, []rune(s)[0])
			} else {
				other = append(other, []rune(s)[0])
			}
		}
	}
	if len(hanzi) != 6763 || len(other) < 682 { // the decoder knows a few cells more (GBK's)
		t.Fatalf("GB2312 table has %d hanzi and %d other characters, want 6,763 and at least 682", len(hanzi), len(other))
	}
	return hanzi, other
}

// TestBundledFontCoversGB2312 checks that the bundled font draws every GB2312
// hanzi, ASCII and the GUI's symbols, that no character maps to an empty
// glyph (Fyne would draw nothing instead of asking its fallback fonts), and
// that the outlines are CFF, read on demand, which keeps opening it cheap.
func TestBundledFontCoversGB2312(t *testing.T) {
	f, err := font.ParseTTF(bytes.NewReader(assets.FontCJK().Content()))
	if err != nil {
		t.Fatal(err)
	}
	drawn := func(r rune) (mapped, outline bool) {
		gid, ok := f.NominalGlyph(r)
		if !ok {
			return false, false
		}
		out, ok := f.GlyphData(gid).(font.GlyphOutline)
		return true, ok && len(out.Segments) > 0
	}
	hanzi, other := gb2312(t)
	must := slices.Concat(hanzi, []rune("✓✔✕✖￥，。、：；！？（）《》【】“”…—"))
	for r := rune(0x21); r < 0x7f; r++ {
		must = append(must, r)
	}
	for _, r := range must {
		if _, outline := drawn(r); !outline {
			t.Errorf("no outline for %q (U+%04X)", r, r)
		}
	}
	mapped := 0
	for _, r := range other {
		m, outline := drawn(r)
		if m && !outline && r != '\u3000' {
			t.Errorf("%q (U+%04X) maps to an empty glyph: Fyne would draw nothing", r, r)
		}
		if m {
			mapped++
		}
	}
	if mapped < 600 {
		t.Errorf("only %d of GB2312's 682 other characters are in the font", mapped)
	}
	if !bytes.Equal(assets.FontCJK().Content()[:4], []byte("OTTO")) {
		t.Error("the bundled font is not CFF-flavoured OpenType: Fyne would decode every glyph when opening it")
	}
}

// TestChineseRendersInEveryStyle draws two different hanzi in regular and
// bold through Fyne's software painter: each must leave ink, and the two must
// differ (a missing glyph draws the same box for both).
func TestChineseRendersInEveryStyle(t *testing.T) {
	a := test.NewTempApp(t)
	a.Settings().SetTheme(New())
	for _, style := range []fyne.TextStyle{{}, {Bold: true}} {
		shot := func(s string) image.Image {
			txt := canvas.NewText(s, theme.Color(theme.ColorNameForeground))
			txt.TextStyle = style
			txt.TextSize = 28
			w := test.NewTempWindow(t, container.NewCenter(txt))
			w.Resize(fyne.NewSize(80, 60))
			return w.Canvas().Capture()
		}
		shen, zhen := shot("深"), shot("圳")
		if ink(shen) < 30 || ink(zhen) < 30 {
			t.Errorf("style %+v: 深 left %d and 圳 %d dark pixels, want both to be drawn", style, ink(shen), ink(zhen))
		}
		if same(shen, zhen) {
			t.Errorf("style %+v: 深 and 圳 render the same: a missing glyph", style)
		}
	}
}

// ink counts the pixels clearly darker than the light background.
func ink(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if (r+g+bl)/3 < 0x8000 {
				n++
			}
		}
	}
	return n
}

func same(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}

// BenchmarkOpenFontCJK is what Fyne does with the theme font once per text
// style at start-up: open it with go-text.
//
//	CGO_ENABLED=0 go test ./app/theme/ -run '^$' -bench OpenFont -benchmem
func BenchmarkOpenFontCJK(b *testing.B) {
	data := assets.FontCJK().Content()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := font.ParseTTF(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
