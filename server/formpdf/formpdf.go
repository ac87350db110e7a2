// Package formpdf writes the renewal application form as a one-page PDF for
// the clerk to print, sign and stamp (the scan is then uploaded as the
// application's form), with no dependency.
//
// The model: PDF text in Chinese needs a CJK font. The form names Adobe's
// standard CJK font STSong-Light (Adobe-GB1, encoding UniGB-UCS2-H) without
// embedding it, as Chinese government and CA forms commonly do: every PDF
// reader on a Chinese PC substitutes SimSun or an equivalent. A ToUnicode
// map makes the text searchable and extractable (pdftotext reads it back).
// Characters outside the Basic Multilingual Plane are replaced by U+FFFD.
package formpdf

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Line is one labelled value of the form.
type Line struct {
	Label string
	Value string
}

// Section is a titled group of lines.
type Section struct {
	Title string
	Lines []Line
}

// Form is what is printed.
type Form struct {
	Title    string
	Subtitle string
	Sections []Section
	// Signature lines at the bottom ("单位盖章：" ...).
	Signatures []string
	Footer     string
}

// Limits of one page.
const (
	pageW, pageH = 595, 842 // A4 in points
	marginX      = 56
	valueX       = 200
	lineH        = 19
	fontSize     = 11
	// wrapUnits is how many half-width units fit in a value column.
	wrapUnits = (pageW - valueX - marginX) * 2 / fontSize
	// MaxLines bounds the lines of a page; more are cut with "…".
	MaxLines = 34
)

// Render returns the PDF bytes of f.
func Render(f Form) []byte {
	var c bytes.Buffer // content stream
	y := pageH - 70
	text := func(x, y, size int, s string) {
		fmt.Fprintf(&c, "BT /F1 %d Tf %d %d Td <%s> Tj ET\n", size, x, y, utf16Hex(s))
	}
	text(centerX(f.Title, 18), y, 18, f.Title)
	y -= 24
	if f.Subtitle != "" {
		text(centerX(f.Subtitle, 10), y, 10, f.Subtitle)
		y -= 22
	}
	lines := 0
	for _, sec := range f.Sections {
		if lines >= MaxLines {
			break
		}
		y -= 6
		text(marginX, y, 12, "【"+sec.Title+"】")
		fmt.Fprintf(&c, "0.5 w %d %d m %d %d l S\n", marginX, y-5, pageW-marginX, y-5)
		y -= lineH + 2
		lines++
		for _, l := range sec.Lines {
			parts := wrap(l.Value, wrapUnits)
			for i, p := range parts {
				if lines >= MaxLines {
					text(marginX, y, fontSize, "…")
					y -= lineH
					break
				}
				if i == 0 {
					text(marginX+12, y, fontSize, l.Label)
				}
				text(valueX, y, fontSize, p)
				y -= lineH
				lines++
			}
		}
	}
	y -= 16
	for _, s := range f.Signatures {
		text(marginX, y, 12, s)
		y -= 34
	}
	if f.Footer != "" {
		text(marginX, 40, 8, f.Footer)
	}
	return assemble(c.Bytes())
}

// width counts half-width units: ASCII is 1, everything else 2.
func width(s string) int {
	n := 0
	for _, r := range s {
		if r < 0x80 {
			n++
		} else {
			n += 2
		}
	}
	return n
}

func centerX(s string, size int) int {
	w := width(s) * size / 2
	return max(marginX, (pageW-w)/2)
}

// wrap cuts s into pieces of at most units half-width units.
func wrap(s string, units int) []string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return []string{"—"}
	}
	var out []string
	var cur strings.Builder
	n := 0
	for _, r := range s {
		w := 2
		if r < 0x80 {
			w = 1
		}
		if n+w > units {
			out = append(out, cur.String())
			cur.Reset()
			n = 0
		}
		cur.WriteRune(r)
		n += w
	}
	return append(out, cur.String())
}

// utf16Hex encodes s as UCS-2 big-endian hex, the codes of UniGB-UCS2-H.
func utf16Hex(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > 0xFFFF || r == utf8.RuneError {
			r = 0xFFFD
		}
		fmt.Fprintf(&b, "%04X", r)
	}
	return b.String()
}

// toUnicode maps every 2-byte code to the same UCS-2 value, in the 256
// ranges the CMap syntax allows (a range may not cross its first byte).
func toUnicode() []byte {
	var b bytes.Buffer
	b.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n")
	b.WriteString("/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n")
	b.WriteString("/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n")
	b.WriteString("1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
	for blk := 0; blk < 256; blk += 100 {
		n := min(100, 256-blk)
		fmt.Fprintf(&b, "%d beginbfrange\n", n)
		for hi := blk; hi < blk+n; hi++ {
			fmt.Fprintf(&b, "<%02X00> <%02XFF> <%02X00>\n", hi, hi, hi)
		}
		b.WriteString("endbfrange\n")
	}
	b.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
	return b.Bytes()
}

// assemble writes the objects, the cross-reference table and the trailer.
func assemble(content []byte) []byte {
	cmap := toUnicode()
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 4 0 R >> >> /Contents 7 0 R >>", pageW, pageH),
		"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [5 0 R] /ToUnicode 8 0 R >>",
		"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 6 0 R /DW 1000 /W [1 95 500] >>",
		"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(cmap), cmap),
		"<< /Producer (UKey Renew renewd) >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, len(objs), xref)
	return b.Bytes()
}
