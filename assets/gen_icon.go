//go:build ignore

// Command gen_icon draws assets/icon.png (512×512, for the installers) and
// assets/icon-256.png (the same drawing at 256×256, the one the client
// embeds): a UKey inside a renewal arrow on a calm blue tile. Run from the
// repository root: go run assets/gen_icon.go
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

const (
	size = 512 // the drawing's coordinates are in a 512×512 box
	ss   = 4   // supersampling per axis, for smooth edges
)

var (
	tile  = color.NRGBA{0x2E, 0x6E, 0x8E, 0xFF}
	white = color.NRGBA{0xFF, 0xFF, 0xFF, 0xFF}
	amber = color.NRGBA{0xF2, 0xB4, 0x41, 0xFF}
)

// roundRect reports whether (x, y) lies in the rectangle with rounded corners.
func roundRect(x, y, x0, y0, x1, y1, r float64) bool {
	if x < x0 || x > x1 || y < y0 || y > y1 {
		return false
	}
	cx := math.Max(x0+r, math.Min(x, x1-r))
	cy := math.Max(y0+r, math.Min(y, y1-r))
	return math.Hypot(x-cx, y-cy) <= r
}

func triangle(x, y float64, p [3][2]float64) bool {
	sign := func(a, b [2]float64) float64 { return (x-b[0])*(a[1]-b[1]) - (a[0]-b[0])*(y-b[1]) }
	d1, d2, d3 := sign(p[0], p[1]), sign(p[1], p[2]), sign(p[2], p[0])
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}

// colorAt gives the colour of one sample point (nil for transparent).
func colorAt(x, y float64) color.NRGBA {
	const cx, cy, ringR, ringW = 256.0, 256.0, 170.0, 30.0
	c := color.NRGBA{}
	if roundRect(x, y, 16, 16, 496, 496, 96) {
		c = tile
	}
	// The renewal ring, open at the top left, ending in an arrow head.
	d := math.Hypot(x-cx, y-cy)
	a := math.Atan2(y-cy, x-cx) * 180 / math.Pi // 0 = right, clockwise (y down)
	if a < 0 {
		a += 360
	}
	if math.Abs(d-ringR) <= ringW/2 && !(a > 200 && a < 262) {
		c = white
	}
	end := 262.0 * math.Pi / 180 // the arrow sits at the end of the ring, pointing clockwise
	px, py := cx+ringR*math.Cos(end), cy+ringR*math.Sin(end)
	tx, ty := -math.Sin(end), math.Cos(end) // direction of travel, reversed below
	nx, ny := math.Cos(end), math.Sin(end)
	head := [3][2]float64{
		{px - tx*52, py - ty*52},
		{px + nx*40, py + ny*40},
		{px - nx*40, py - ny*40},
	}
	if triangle(x, y, head) {
		c = white
	}
	// The UKey: body, plug and its contacts, and a status light.
	if roundRect(x, y, 212, 150, 300, 310, 22) || roundRect(x, y, 228, 306, 284, 370, 4) {
		c = white
	}
	if roundRect(x, y, 240, 326, 252, 342, 2) || roundRect(x, y, 260, 326, 272, 342, 2) {
		c = tile
	}
	if math.Hypot(x-256, y-214) <= 22 {
		c = amber
	}
	return c
}

func main() {
	for _, out := range []struct {
		path string
		px   int
	}{{"assets/icon.png", size}, {"assets/icon-256.png", 256}} {
		if err := write(out.path, draw(out.px)); err != nil {
			log.Fatal(err)
		}
	}
}

// draw renders the icon at px×px pixels.
func draw(px int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, px, px))
	k := float64(size) / float64(px) // drawing units per pixel
	for y := 0; y < px; y++ {
		for x := 0; x < px; x++ {
			var r, g, b, al float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					c := colorAt((float64(x)+(float64(sx)+0.5)/ss)*k, (float64(y)+(float64(sy)+0.5)/ss)*k)
					w := float64(c.A) / 255
					r += float64(c.R) * w
					g += float64(c.G) * w
					b += float64(c.B) * w
					al += w
				}
			}
			if al == 0 {
				continue
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(r / al), uint8(g / al), uint8(b / al), uint8(al / (ss * ss) * 255)})
		}
	}
	return img
}

func write(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
