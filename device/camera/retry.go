package camera

import (
	"image"
	"math"

	"github.com/makiuchi-d/gozxing"
)

// Retries: when the first pass over a frame finds nothing, the frame is
// searched again in a few altered forms, each aimed at a case gozxing's
// detectors miss. How many run is fixed by the frame's size (retryBudget),
// not by the clock, so what a frame yields does not depend on how busy the
// processor is; a frame with nothing in it (the worst case) stays above 30
// frames/s on one core (BenchmarkDecode/*/nothing, cpu-frames/s). Frames
// above VGA get one, frames above retryMaxPixels none. A frame with a code
// in the aiming region never reaches them.
const (
	retryMaxPixels = 1280 * 720
	// fullRetryPixels: frames up to VGA get every retry; larger ones only
	// the turned search.
	fullRetryPixels = 640 * 480
	// denoiseSigma: frames at least this noisy are searched after a
	// stronger smoothing than the first pass's instead of sharpened.
	denoiseSigma = 9.0
)

// affine maps a point of a searched plane back into frame coordinates:
// x = a·x' + b·y' + tx, y = c·x' + d·y' + ty.
type affine struct{ a, b, c, d, tx, ty float64 }

var identity = affine{a: 1, d: 1}

func (m affine) apply(x, y float64) (float64, float64) {
	return m.a*x + m.b*y + m.tx, m.c*x + m.d*y + m.ty
}

// moved maps r's points and region from a searched plane into the frame
// bounds b (origin b.Min), through m; the region is the bounding box of
// its mapped corners, clipped to the frame.
func (r Result) moved(m affine, b image.Rectangle) Result {
	pt := func(x, y int) image.Point {
		fx, fy := m.apply(float64(x), float64(y))
		return image.Pt(int(math.Round(fx)), int(math.Round(fy))).Add(b.Min)
	}
	for i, p := range r.Points {
		r.Points[i] = pt(p.X, p.Y)
	}
	if m != identity {
		c := []image.Point{pt(r.Region.Min.X, r.Region.Min.Y), pt(r.Region.Max.X, r.Region.Min.Y),
			pt(r.Region.Min.X, r.Region.Max.Y), pt(r.Region.Max.X, r.Region.Max.Y)}
		reg := image.Rectangle{Min: c[0], Max: c[0]}
		for _, p := range c[1:] {
			reg.Min.X, reg.Min.Y = min(reg.Min.X, p.X), min(reg.Min.Y, p.Y)
			reg.Max.X, reg.Max.Y = max(reg.Max.X, p.X), max(reg.Max.Y, p.Y)
		}
		r.Region = reg.Intersect(b)
		return r
	}
	r.Region = r.Region.Add(b.Min)
	return r
}

// retryBudget bounds the pixels all retry steps of one frame may search
// together, in frames' worth (w·h each): a step whose plane would take
// the total over it is skipped. It is what bounds the worst case, a
// frame with nothing in it, by a count rather than the clock, so a frame
// yields the same on a busy processor. At 640×480 steps 1–4 below fit
// (5th does not): a frame with nothing in it costs about 17 ms of CPU
// (BenchmarkDecode/640x480/nothing), the busiest frames of
// scripts/camera-bench about 30–40 ms (it prints the slowest frame).
const retryBudget = 7.0

// retry searches the frame again in altered forms, in the order of how
// many codes each found per pixel searched in scripts/camera-bench
// (first-pass misses, two seeds; step 4 found more per pixel than 3 but
// both fit, so the order only moves cost), until one decodes or the next
// would exceed retryBudget:
//
//  1. Sharpened (unsharp mask): edges of a blurred code come back. On a
//     very noisy frame (σ ≥ denoiseSigma) strongly smoothed instead,
//     where sharpening would only raise the noise.
//  2. At 1.5 times the size, padded with paper: modules of 2–2.5 pixels
//     become 3–3.75, and a code touching the frame's edge gets a whole
//     tile around it and a quiet zone.
//  3. Turned 45°: gozxing's Data Matrix detector does not find a code
//     turned about 40°–65°, nor does the row scanner read a Code 128 at
//     that angle.
//  4. Data Matrix only, in the first pass's black matrix opened 3×3:
//     print running into a code (text, box print) keeps gozxing's
//     detector from finding the code's edge; the opening removes strokes
//     under 3 pixels wide and keeps modules of 3 and more. Cheap: no new
//     binarization, and it counts as one frame.
//  5. Data Matrix only, in a finer grid of tiles that are not re-centred
//     (does not fit in the budget at VGA after 1–4).
//
// Frames larger than VGA get only 3, shrunk to about their own pixel
// count.
func (d *Decoder) retry(img *image.Gray) (Result, bool) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w*h > retryMaxPixels {
		return Result{}, false
	}
	first := d.black // the first pass's black matrix
	if first != nil && (first.GetWidth() != w || first.GetHeight() != h) {
		first = nil
	}
	fill := paperLevel(img.Pix, img.Stride, w, h)
	type attempt struct {
		ok   bool
		syms []Symbology
		size func() (ow, oh int)
		make func(ow, oh int) (pix []byte, m affine)
	}
	small := w*h <= fullRetryPixels
	const pad = 16
	noisy := noiseSigma(img.Pix, img.Stride, w, h) >= denoiseSigma
	// The whole frame turned 45° about its centre fits a square of side
	// (w+h)/√2. Frames above VGA are also shrunk by √2, to about their own
	// pixel count: their modules are larger.
	turnK := 1.0
	if !small {
		turnK = math.Sqrt2
	}
	attempts := []attempt{
		{small, d.syms, func() (int, int) { return w, h }, func(int, int) ([]byte, affine) {
			if noisy {
				return d.filtered(img, w, h, denoise), identity
			}
			return d.filtered(img, w, h, sharpen), identity
		}},
		{small, d.syms, func() (int, int) { return w*3/2 + 2*pad, h*3/2 + 2*pad }, func(ow, oh int) ([]byte, affine) {
			// ×1.5: modules of 2 px become 3, for 2.25 times the pixels.
			m := affine{a: 2.0 / 3, d: 2.0 / 3}
			m.tx = -1.0/6 - m.a*pad
			m.ty = -1.0/6 - m.d*pad
			return d.warp(img, ow, oh, m, fill), m
		}},
		// QR's finder patterns are found at any angle: not searched again.
		{true, without(d.syms, QR), func() (int, int) {
			side := int(math.Ceil(float64(w+h)/math.Sqrt2/turnK)) + 2*pad
			return side, side
		}, func(side, _ int) ([]byte, affine) {
			c := turnK * math.Sqrt2 / 2
			cx, cy := float64(w)/2, float64(h)/2
			o := float64(side) / 2
			m := affine{a: c, b: -c, c: c, d: c}
			m.tx = cx - (m.a*o + m.b*o)
			m.ty = cy - (m.c*o + m.d*o)
			return d.warp(img, side, side, m, fill), m
		}},
	}
	budget := int(retryBudget * float64(w*h))
	for i, at := range attempts {
		if !at.ok {
			continue
		}
		ow, oh := at.size()
		if ow*oh > budget {
			continue
		}
		budget -= ow * oh
		if len(at.syms) == 0 {
			continue
		}
		pix, m := at.make(ow, oh)
		if res, ok := d.pass(pix, ow, ow, oh, at.syms); ok {
			d.step = i + 1
			return res.moved(m, b), true
		}
	}
	if dm := only(d.syms, DataMatrix); small && w*h <= budget && dm != nil && !d.noOpen && first != nil {
		// Data Matrix in the frame's black matrix opened (3×3): print
		// touching a code stops gozxing's detector at the code's edge;
		// strokes under 3 pixels wide go, modules of 3 and more stay.
		// The first pass's matrix: Data Matrix is read from the black
		// matrix alone, so the luminance plane is the frame's.
		budget -= w * h
		f := &frame{lum: newPlane(img.Pix, img.Stride, w, h, &d.lum), black: d.opened(first), w: w, h: h}
		if res, ok := d.search(f, dm); ok {
			d.step = len(attempts) + 1
			return res.moved(identity, b), true
		}
	}
	if small && w*h <= budget {
		// Data Matrix in a finer grid of tiles left where they lie: print
		// around a code pulls a tile's centroid off it.
		defer func(tiles int) { d.recentreTiles, d.tiles = true, tiles }(d.tiles)
		d.recentreTiles, d.tiles = false, d.tiles+2
		if res, ok := d.pass(img.Pix, img.Stride, w, h, []Symbology{DataMatrix}); ok {
			d.step = len(attempts) + 2
			return res.moved(identity, b), true
		}
	}
	return Result{}, false
}

// without is syms less s, in a new slice.
func without(syms []Symbology, s Symbology) []Symbology {
	out := make([]Symbology, 0, len(syms))
	for _, x := range syms {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// only is s if syms has it, else nothing.
func only(syms []Symbology, s Symbology) []Symbology {
	for _, x := range syms {
		if x == s {
			return []Symbology{s}
		}
	}
	return nil
}

// paperLevel is a bright level of the frame (the 90th percentile of a
// sample): what padding is filled with, so it reads as quiet zone.
func paperLevel(pix []byte, stride, w, h int) uint8 {
	var hist [256]int
	n := 0
	for y := 2; y < h; y += 7 {
		for x := 3; x < w; x += 7 {
			hist[pix[y*stride+x]]++
			n++
		}
	}
	acc := 0
	for v := 255; v >= 0; v-- {
		if acc += hist[v]; acc*10 >= n {
			return uint8(v)
		}
	}
	return 255
}

// warp fills the decoder's retry buffer with an ow×oh plane whose pixel
// (x', y') is the frame at m(x', y'), bilinear, fill outside the frame.
// Positions are 16.16 fixed point (steps along a row are constant), the
// interpolation weights 8 bits, so a pixel is a few 32-bit multiplies.
func (d *Decoder) warp(img *image.Gray, ow, oh int, m affine, fill uint8) []byte {
	out := d.retryBuf(ow * oh)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	pix, stride := img.Pix, img.Stride
	const one = 1 << 16
	ax, cx := int64(m.a*one), int64(m.c*one)
	if cx == 0 && m.b == 0 {
		return d.scaled(img, out, ow, oh, m, fill)
	}
	for y := range oh {
		fx := int64((m.b*float64(y) + m.tx) * one)
		fy := int64((m.d*float64(y) + m.ty) * one)
		row := out[y*ow : (y+1)*ow]
		for x := range row {
			ix, iy := fx>>16, fy>>16
			if uint64(ix) >= uint64(w-1) || uint64(iy) >= uint64(h-1) {
				row[x] = fill
			} else {
				ux, uy := uint32(fx>>8)&255, uint32(fy>>8)&255
				i := int(iy)*stride + int(ix)
				top := uint32(pix[i])*(256-ux) + uint32(pix[i+1])*ux
				bot := uint32(pix[i+stride])*(256-ux) + uint32(pix[i+stride+1])*ux
				row[x] = uint8((top*(256-uy) + bot*uy + 1<<15) >> 16)
			}
			fx += ax
			fy += cx
		}
	}
	return out
}

// scaled is warp for a map without rotation or shear (x depends on x'
// only, y on y'): the source column and weight of every output column
// are worked out once for all rows.
func (d *Decoder) scaled(img *image.Gray, out []byte, ow, oh int, m affine, fill uint8) []byte {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	pix, stride := img.Pix, img.Stride
	if cap(d.cols) < ow {
		d.cols = make([]int32, ow)
	}
	cols := d.cols[:ow]
	for x := range cols {
		f := int64((m.a*float64(x) + m.tx) * 256)
		if ix := f >> 8; ix < 0 || ix >= int64(w-1) {
			cols[x] = -1
		} else {
			cols[x] = int32(ix<<8 | f&255)
		}
	}
	if cap(d.vrow) < w {
		d.vrow = make([]uint16, w)
	}
	v := d.vrow[:w]
	for y := range oh {
		row := out[y*ow : (y+1)*ow]
		f := int64((m.d*float64(y) + m.ty) * 256)
		iy := f >> 8
		if iy < 0 || iy >= int64(h-1) {
			for x := range row {
				row[x] = fill
			}
			continue
		}
		// Between the two source rows first (8 bits of weight: v is the
		// grey level times 256), then along the row.
		uy := uint16(f & 255)
		r0 := pix[int(iy)*stride : int(iy)*stride+w]
		r1 := pix[int(iy+1)*stride : int(iy+1)*stride+w]
		for x := range v {
			v[x] = uint16(r0[x])*(256-uy) + uint16(r1[x])*uy
		}
		for x, c := range cols {
			if c < 0 {
				row[x] = fill
				continue
			}
			ix, ux := int(c>>8), uint32(c&255)
			row[x] = uint8((uint32(v[ix])*(256-ux) + uint32(v[ix+1])*ux + 1<<15) >> 16)
		}
	}
	return out
}

// retryBuf returns the decoder's reused buffer for derived planes.
func (d *Decoder) retryBuf(n int) []byte {
	if cap(d.alt) < n {
		d.alt = make([]byte, n)
	}
	return d.alt[:n]
}

type filterKind int

const (
	denoise filterKind = iota
	sharpen
)

// filtered writes a filtered copy of the frame into the retry buffer:
// denoise is a 5×5 box blur (two passes of the first pass's [1 2 1]
// smoothing spread to ±2); sharpen is an unsharp mask, 2·p − blur(p).
func (d *Decoder) filtered(img *image.Gray, w, h int, k filterKind) []byte {
	out := d.retryBuf(w * h)
	if cap(d.smoothed) < 2*w*h {
		d.smoothed = make([]byte, 2*w*h)
	}
	blur, tmp := d.smoothed[:w*h], d.smoothed[w*h:2*w*h]
	smooth(blur, img.Pix, img.Stride, w, h, tmp)
	switch k {
	case denoise:
		smooth(out, blur, w, w, h, tmp)
		copy(blur, out)
		smooth(out, blur, w, w, h, tmp)
	case sharpen:
		for y := range h {
			src := img.Pix[y*img.Stride : y*img.Stride+w]
			bl := blur[y*w : (y+1)*w]
			o := out[y*w : (y+1)*w]
			for x, p := range src {
				o[x] = uint8(max(0, min(255, 3*int(p)-2*int(bl[x]))))
			}
		}
	}
	return out
}

// opened is the 3×3 opening of the black matrix m (erode the dark, then
// dilate it back), into the decoder's reused matrix: dark strokes under
// 3 pixels wide are gone, larger dark areas keep their shape. Outside
// the matrix counts as light.
func (d *Decoder) opened(m *gozxing.BitMatrix) *gozxing.BitMatrix {
	w, h := m.GetWidth(), m.GetHeight()
	nw := (w + 31) / 32
	if d.omat == nil || d.omat.GetWidth() != w || d.omat.GetHeight() != h {
		d.omat, _ = gozxing.NewBitMatrix(w, h)
	}
	if cap(d.owords) < 2*nw*h {
		d.owords = make([]uint32, 2*nw*h)
	}
	a, t := d.owords[:nw*h], d.owords[nw*h:2*nw*h]
	if d.row == nil || d.row.GetSize() != w {
		d.row = gozxing.NewBitArray(w)
	}
	for y := range h {
		d.row = m.GetRow(y, d.row)
		copy(a[y*nw:(y+1)*nw], d.row.GetBitArray())
	}
	// Along rows: bit x of word k is pixel 32k+x; its left neighbour
	// comes in from the word before, its right one from the word after.
	horiz := func(dst, src []uint32, erode bool) {
		for y := range h {
			r, o := src[y*nw:(y+1)*nw], dst[y*nw:(y+1)*nw]
			for k, v := range r {
				var prev, next uint32
				if k > 0 {
					prev = r[k-1] >> 31
				}
				if k+1 < nw {
					next = r[k+1] << 31
				}
				l, rr := v<<1|prev, v>>1|next
				if erode {
					o[k] = v & l & rr
				} else {
					o[k] = v | l | rr
				}
			}
		}
	}
	vert := func(dst, src []uint32, erode bool) {
		for y := range h {
			o, c := dst[y*nw:(y+1)*nw], src[y*nw:(y+1)*nw]
			for k := range o {
				var up, down uint32
				if y > 0 {
					up = src[(y-1)*nw+k]
				}
				if y+1 < h {
					down = src[(y+1)*nw+k]
				}
				if erode {
					o[k] = c[k] & up & down
				} else {
					o[k] = c[k] | up | down
				}
			}
		}
	}
	horiz(t, a, true)
	vert(a, t, true)
	horiz(t, a, false)
	vert(a, t, false)
	for y := range h {
		bits := d.row.GetBitArray()
		copy(bits, a[y*nw:(y+1)*nw])
		d.omat.SetRow(y, d.row)
	}
	return d.omat
}
