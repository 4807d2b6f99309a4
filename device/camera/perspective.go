package camera

import (
	"math"
	"math/bits"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

// QR under perspective: gozxing's QR detector finds the three finder
// patterns of a tilted code but then samples the grid as a parallelogram
// (the fourth corner at TR+BL−TL, the dimension from one module size for
// the whole code), so on a code seen at an angle the far corner's modules
// are missed and the Reed-Solomon check rejects the code. When the three
// finder patterns are found and that decode fails, the fourth corner is
// estimated again from the perspective the patterns' own module sizes
// imply, and the grid is sampled through that homography (through the
// alignment pattern, when one is found near where the homography puts
// it) at a few dimensions. Every candidate still has to pass the QR
// format-information and Reed-Solomon checks, so a wrong guess reads
// nothing rather than something wrong.

// maxPerspectiveTries bounds the grids sampled and decoded this way per
// frame (they are a count, not a time, so a frame's yield does not depend
// on load): a grid is a few hundred point transforms and one decode
// attempt, tens of microseconds.
const maxPerspectiveTries = 24

// persp maps code coordinates (x, y), in units of the distance between
// finder-pattern centres (0 at the top-left centre, 1 at the top-right or
// bottom-left one), to the image: p = (tl + x·P + y·Q) / (1 + g·x + h·y).
type persp struct {
	tlx, tly, px, py, qx, qy, g, h float64
}

// newPersp is the map through the three finder centres whose denominator
// makes the module size shrink from tl to tr by the ratio tr/tl (and to
// bl likewise), with the perspective scaled by t (0 is the affine map
// gozxing uses). A projective map scales lengths near (x, 0) by 1/(1+gx)²
// relative to the origin, so g = √(ms_tl/ms_tr) − 1.
func newPersp(tl, tr, bl *detector.FinderPattern, t float64) persp {
	g := t * (math.Sqrt(tl.GetEstimatedModuleSize()/tr.GetEstimatedModuleSize()) - 1)
	h := t * (math.Sqrt(tl.GetEstimatedModuleSize()/bl.GetEstimatedModuleSize()) - 1)
	return persp{
		tlx: tl.GetX(), tly: tl.GetY(),
		px: tr.GetX()*(1+g) - tl.GetX(), py: tr.GetY()*(1+g) - tl.GetY(),
		qx: bl.GetX()*(1+h) - tl.GetX(), qy: bl.GetY()*(1+h) - tl.GetY(),
		g: g, h: h,
	}
}

func (m persp) at(x, y float64) (float64, float64, bool) {
	w := 1 + m.g*x + m.h*y
	if w <= 0.2 {
		return 0, 0, false
	}
	return (m.tlx + x*m.px + y*m.qx) / w, (m.tly + x*m.py + y*m.qy) / w, true
}

// qrDimension is the symbol's dimension (4v+17) nearest to n modules
// between finder centres plus 7, or 0.
func qrDimension(n float64) int {
	v := int(math.Round((n + 7 - 17) / 4))
	if v < 1 || v > 40 {
		return 0
	}
	return 4*v + 17
}

// decodeQRPerspective tries the homographies described above on the
// black matrix with finder patterns info, at most budget grids; it
// returns the result and how many grids it sampled.
func (d *Decoder) decodeQRPerspective(black *gozxing.BitMatrix, info *detector.FinderPatternInfo, budget int) (*gozxing.Result, int) {
	tl, tr, bl := info.GetTopLeft(), info.GetTopRight(), info.GetBottomLeft()
	msTL, msTR, msBL := tl.GetEstimatedModuleSize(), tr.GetEstimatedModuleSize(), bl.GetEstimatedModuleSize()
	if msTL < 1 || msTR < 1 || msBL < 1 {
		return nil, 0
	}
	// Modules between the centres along each side: the distance over the
	// geometric mean of the module sizes at its ends (exact for a scale
	// changing as a projective map's does, to first order).
	nTop := gozxing.ResultPoint_Distance(tl, tr) / math.Sqrt(msTL*msTR)
	nLeft := gozxing.ResultPoint_Distance(tl, bl) / math.Sqrt(msTL*msBL)
	base := qrDimension((nTop + nLeft) / 2)
	if base == 0 {
		return nil, 0
	}
	used := 0
	tried := map[[2]int]bool{}
	for _, t := range []float64{1, 0.5, 1.5, 2} {
		m := newPersp(tl, tr, bl, t)
		for _, dim := range []int{base, base - 4, base + 4} {
			if dim < 21 || dim > 177 || used >= budget {
				continue
			}
			r, n := d.sampleQR(black, m, tl, tr, bl, dim, budget-used, tried)
			used += n
			if r != nil {
				return r, used
			}
		}
	}
	return nil, used
}

// sampleQR samples and decodes one candidate grid of dimension dim under
// map m: through the alignment pattern if one is found near where m puts
// it (versions 2 and up), else through m's fourth corner. It reports
// the result and the grids it sampled (at most budget).
func (d *Decoder) sampleQR(black *gozxing.BitMatrix, m persp, tl, tr, bl *detector.FinderPattern, dim, budget int, tried map[[2]int]bool) (*gozxing.Result, int) {
	span := float64(dim - 7)
	used := 0
	var transforms []*common.PerspectiveTransform
	if dim > 21 && budget > 0 {
		// The bottom-right alignment pattern's centre is 3 modules in from
		// the (missing) bottom-right finder centre.
		k := (span - 3) / span
		ax, ay, ok := m.at(k, k)
		ms := math.Sqrt(tl.GetEstimatedModuleSize() * math.Sqrt(tr.GetEstimatedModuleSize()*bl.GetEstimatedModuleSize()))
		if ok {
			r := int(6 * ms)
			x0, y0 := max(0, int(ax)-r), max(0, int(ay)-r)
			x1, y1 := min(black.GetWidth()-1, int(ax)+r), min(black.GetHeight()-1, int(ay)+r)
			if float64(x1-x0) > 3*ms && float64(y1-y0) > 3*ms {
				ap, err := detector.NewAlignmentPatternFinder(black, x0, y0, x1-x0, y1-y0, ms, nil).Find()
				key := [2]int{dim, -1}
				if err == nil && ap != nil {
					key = [2]int{dim, int(ap.GetX())*4096 + int(ap.GetY())}
				}
				if err == nil && ap != nil && !tried[key] {
					tried[key] = true
					transforms = append(transforms, detector.Detector_createTransform(tl, tr, bl, ap, dim))
				}
			}
		}
	}
	if bx, by, ok := m.at(1, 1); ok {
		c := float64(dim) - 3.5
		transforms = append(transforms, common.PerspectiveTransform_QuadrilateralToQuadrilateral(
			3.5, 3.5, c, 3.5, c, c, 3.5, c,
			tl.GetX(), tl.GetY(), tr.GetX(), tr.GetY(), bx, by, bl.GetX(), bl.GetY()))
	}
	for _, tf := range transforms {
		if used >= budget {
			break
		}
		used++
		bits, err := detector.Detector_sampleGrid(black, tf, dim)
		if err != nil {
			continue
		}
		dr, err := d.qrDec.Decode(bits, nil)
		if err != nil {
			continue
		}
		return qrResult(dr, []gozxing.ResultPoint{bl, tl, tr}), used
	}
	return nil, used
}

// tiltedTriple picks, among finder-pattern candidates, the three most
// like the corners of a QR code seen in perspective: module sizes within
// maxTiltScale of each other (gozxing allows 1.4) and the triangle of
// their centres closest to an isosceles right triangle, within a
// tolerance that a tilt of up to about 45° stays inside. nil when no
// triple qualifies or there are too many candidates to weigh.
func tiltedTriple(cs []*detector.FinderPattern) *detector.FinderPatternInfo {
	const maxTiltScale = 2.5
	if len(cs) < 3 || len(cs) > 16 {
		return nil
	}
	best, bestD := [3]*detector.FinderPattern{}, 0.9
	for i := range cs {
		for j := i + 1; j < len(cs); j++ {
			for k := j + 1; k < len(cs); k++ {
				t := [3]*detector.FinderPattern{cs[i], cs[j], cs[k]}
				lo, hi := math.Inf(1), 0.0
				for _, p := range t {
					lo, hi = min(lo, p.GetEstimatedModuleSize()), max(hi, p.GetEstimatedModuleSize())
				}
				if hi > lo*maxTiltScale {
					continue
				}
				e := []float64{sqDist(t[0], t[1]), sqDist(t[1], t[2]), sqDist(t[0], t[2])}
				a, b, c := e[0], e[1], e[2]
				if a > c {
					a, c = c, a
				}
				if b > c {
					b, c = c, b
				}
				// The sides in modules must be plausible for a code: at
				// least version 1's 14 modules between centres.
				if c <= 0 || math.Sqrt(a) < 10*lo {
					continue
				}
				if dd := (math.Abs(c-2*b) + math.Abs(c-2*a)) / c; dd < bestD {
					best, bestD = t, dd
				}
			}
		}
	}
	if best[0] == nil {
		return nil
	}
	bl, tl, tr := gozxing.ResultPoint_OrderBestPatterns(best[0], best[1], best[2])
	return detector.NewFinderPatternInfo(bl.(*detector.FinderPattern), tl.(*detector.FinderPattern), tr.(*detector.FinderPattern))
}

func sqDist(a, b gozxing.ResultPoint) float64 {
	dx, dy := a.GetX()-b.GetX(), a.GetY()-b.GetY()
	return dx*dx + dy*dy
}

// transpose writes black, transposed, into the decoder's reused matrix.
func (d *Decoder) transpose(black *gozxing.BitMatrix) *gozxing.BitMatrix {
	w, h := black.GetWidth(), black.GetHeight()
	if d.tmat == nil || d.tmat.GetWidth() != h || d.tmat.GetHeight() != w {
		d.tmat, _ = gozxing.NewBitMatrix(h, w)
	} else {
		d.tmat.Clear()
	}
	if d.row == nil || d.row.GetSize() != w {
		d.row = gozxing.NewBitArray(w)
	}
	for y := range h {
		d.row = black.GetRow(y, d.row)
		for wi, v := range d.row.GetBitArray() {
			for v != 0 {
				x := wi*32 + bits.TrailingZeros32(v)
				v &= v - 1
				if x < w {
					d.tmat.Set(y, x)
				}
			}
		}
	}
	return d.tmat
}
