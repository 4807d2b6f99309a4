package camera

import (
	"fmt"
	"image"
	"math"
	"testing"

	"github.com/makiuchi-d/gozxing/common"
)

// tilted draws symbol s into a w×h frame so that the code's square (its
// quiet zone included) lands on the quadrilateral q (top-left, top-right,
// bottom-right, bottom-left): a code seen at an angle, in perspective.
// Each pixel is the mean of 4×4 samples, as a lens blurs module edges.
func tilted(w, h int, s symbol, q [4][2]float64) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	n := s.m.GetWidth() + 2*s.quiet
	toCode := common.PerspectiveTransform_QuadrilateralToQuadrilateral(
		q[0][0], q[0][1], q[1][0], q[1][1], q[2][0], q[2][1], q[3][0], q[3][1],
		0, 0, float64(n), 0, float64(n), float64(n), 0, float64(n))
	pts := make([]float64, 32)
	for y := range h {
		for x := range w {
			for k := range 16 {
				pts[2*k] = float64(x) + (float64(k%4)+0.5)/4
				pts[2*k+1] = float64(y) + (float64(k/4)+0.5)/4
			}
			toCode.TransformPoints(pts)
			dark := 0
			for k := range 16 {
				mx := int(math.Floor(pts[2*k])) - s.quiet
				my := int(math.Floor(pts[2*k+1])) - s.quiet
				if mx >= 0 && my >= 0 && mx < s.m.GetWidth() && my < s.m.GetHeight() && s.m.Get(mx, my) {
					dark++
				}
			}
			img.Pix[y*img.Stride+x] = uint8(230 - dark*200/16)
		}
	}
	return img
}

// TestDecodeQRPerspective: a QR code seen at an angle, its right side
// 0.5–0.6 times as long as its left side, or the other way round.
// gozxing's detector does not pair finder patterns whose module sizes
// differ that much, nor sample anything but a parallelogram, so the
// decoder without the perspective path reads none of these; with it each
// is read, with the exact text.
func TestDecodeQRPerspective(t *testing.T) {
	text := msfxCode + "ABCDEFGHIJ"
	s := qrSymbol(t, text, false)
	// The far side as a pair of corners of the quadrilateral (TL, TR, BR, BL).
	for _, tc := range []struct {
		name string
		sd   [2]int
		far  float64
	}{
		{"right", [2]int{1, 2}, 0.5}, {"right", [2]int{1, 2}, 0.55}, {"right", [2]int{1, 2}, 0.6},
		{"left", [2]int{3, 0}, 0.5}, {"left", [2]int{3, 0}, 0.55}, {"left", [2]int{3, 0}, 0.6},
		{"top", [2]int{0, 1}, 0.5}, {"top", [2]int{0, 1}, 0.55}, {"top", [2]int{0, 1}, 0.6},
		{"bottom", [2]int{2, 3}, 0.5}, {"bottom", [2]int{2, 3}, 0.55}, {"bottom", [2]int{2, 3}, 0.6},
	} {
		sd, far := tc.sd, tc.far
		t.Run(fmt.Sprintf("%s-%.2f", tc.name, far), func(t *testing.T) {
			c := [4][2]float64{{190, 110}, {450, 110}, {450, 370}, {190, 370}}
			mx, my := (c[sd[0]][0]+c[sd[1]][0])/2, (c[sd[0]][1]+c[sd[1]][1])/2
			for _, i := range sd {
				c[i][0] = mx + (c[i][0]-mx)*far
				c[i][1] = my + (c[i][1]-my)*far
			}
			img := tilted(640, 480, s, c)
			old := newTestDecoder(t, Config{Symbologies: []Symbology{QR}})
			old.noPerspective = true
			if r, ok := old.Decode(img); ok {
				t.Fatalf("without the perspective path: read %q; the frame does not test it", r.Text)
			}
			d := newTestDecoder(t, Config{Symbologies: []Symbology{QR}})
			r, ok := d.Decode(img)
			if !ok {
				t.Fatal("tilted QR not read")
			}
			if r.Text != text || r.Format != QR || r.Symbology != "]Q1" {
				t.Fatalf("read %q %v %q, want %q QR ]Q1", r.Text, r.Format, r.Symbology, text)
			}
			// The finder patterns, in frame coordinates (a code found in
			// the transposed matrix has its points turned back).
			for _, p := range r.Points {
				if p.X < 190 || p.X > 450 || p.Y < 110 || p.Y > 370 {
					t.Errorf("point %v outside the code", p)
				}
			}
			if len(r.Points) < 3 {
				t.Errorf("points %v, want the three finder patterns", r.Points)
			}
			if d.step != 0 {
				t.Errorf("read by retry step %d, want the first pass", d.step)
			}
		})
	}
}

// TestDecodeOpenedDM: a Data Matrix with thin print (1-pixel strokes, as
// small text is) running into it all round: no quiet zone. gozxing's detector grows its rectangle into the print and no
// pass before the opened one reads it; in the black matrix opened 3×3
// the strokes are gone and the code is read, with the exact text.
func TestDecodeOpenedDM(t *testing.T) {
	f := fixtures(t)["gs1-datamatrix"]
	const module = 4.0
	p := place{sym: f.sym, cx: 0.4, cy: 0.55, module: module}
	img := render(640, 480, 2, p)
	side := float64(f.sym.m.GetWidth()) * module
	x0, x1 := int(p.cx*640-side/2), int(p.cx*640+side/2)
	y0, y1 := int(p.cy*480-side/2), int(p.cy*480+side/2)
	// Strokes 1 px wide, 3 px apart, in a band 40 px wide all round.
	for y := y0 - 40; y < y1+40; y++ {
		for x := x0 - 40; x < x1+40; x++ {
			if (x < x0 || x >= x1 || y < y0 || y >= y1) && (x-x0+300)%3 == 0 && (y/5)%4 != 3 {
				img.Pix[y*img.Stride+x] = ink
			}
		}
	}
	first := newTestDecoder(t, Config{})
	first.noOpen = true
	if r, ok := first.Decode(img); ok {
		t.Fatalf("read %q without the opened search (step %d): the frame does not test it", r.Text, first.step)
	}
	d := newTestDecoder(t, Config{})
	r, ok := d.Decode(img)
	check(t, r, ok, f.want)
	if d.step != 4 {
		t.Errorf("read by step %d, want 4 (the opened black matrix)", d.step)
	}
}
