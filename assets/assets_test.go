package assets

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"testing"
)

// TestIconIsTheInstallersDrawingAt256 checks that the embedded icon is the
// 256-pixel drawing and that it matches the installers' 512-pixel icon.png
// (same picture: the centre pixel, the transparent corner).
func TestIconIsTheInstallersDrawingAt256(t *testing.T) {
	small, err := png.Decode(bytes.NewReader(Icon().Content()))
	if err != nil {
		t.Fatal(err)
	}
	if got := small.Bounds(); got != image.Rect(0, 0, 256, 256) {
		t.Fatalf("embedded icon is %v, want 256×256", got)
	}
	f, err := os.Open("icon.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	big, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := big.Bounds(); got != image.Rect(0, 0, 512, 512) {
		t.Fatalf("icon.png is %v, want 512×512", got)
	}
	for _, p := range []image.Point{{128, 128}, {128, 60}, {2, 2}} { // UKey light, ring's gap, corner
		sr, sg, sb, sa := small.At(p.X, p.Y).RGBA()
		br, bg, bb, ba := big.At(2*p.X, 2*p.Y).RGBA()
		if d := diff(sr, br) + diff(sg, bg) + diff(sb, bb) + diff(sa, ba); d > 4*0x1000 {
			t.Errorf("pixel %v: 256-px icon %v, 512-px icon %v", p, small.At(p.X, p.Y), big.At(2*p.X, 2*p.Y))
		}
	}
}

func diff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// BenchmarkDecodeIcon is what Fyne does with the icon for the window and on
// each layout of the Tokens screen's empty state:
//
//	CGO_ENABLED=0 go test ./assets/ -run '^$' -bench DecodeIcon -benchmem
func BenchmarkDecodeIcon(b *testing.B) {
	for _, c := range []struct{ name, path string }{{"embedded-256", ""}, {"installers-512", "icon.png"}} {
		data := Icon().Content()
		if c.path != "" {
			var err error
			if data, err = os.ReadFile(c.path); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := png.Decode(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
