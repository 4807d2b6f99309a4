package camera

import (
	"image"
	"math"
)

// Retries: when the first pass over a frame finds nothing, the frame is
// searched again in a few altered forms, each aimed at a case gozxing's
// detectors miss. Their number is fixed by the frame's size, not by the
// clock, so what a frame yields does not depend on how busy the processor
// is: on a VGA frame they add about seven passes' worth of pixels, which
// keeps a frame with nothing in it (the worst case) above 30 frames/s on
// one core (BenchmarkDecode/640x480/nothing, cpu-frames/s); larger frames
// get one, and frames above retryMaxPixels none. A frame with a code in the aiming
// region never reaches them.
const (
	retryMaxPixels = 1280 * 720
	// fullRetryPixels: frames up to VGA get every retry; larger ones only
	// the turned search.
	fullRetryPixels = 640 * 480
	// denoiseSigma: frames at least this noisy are also searched after a
	// stronger smoothing than the first pass's.
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

// retry searches the frame again in altered forms, most often useful
// first, until one decodes:
//
//  1. Turned 45° (and padded with paper): gozxing's Data Matrix detector
//     does not find a code turned about 40°–65°, nor does the row scanner
//     read a Code 128 at that angle.
//  2. Padded with paper on every side: a code touching the frame's edge
//     gets a whole tile around it and a quiet zone.
//  3. On a noisy frame, strongly smoothed.
//  4. Sharpened (unsharp mask): edges of a blurred code come back.
//  5. At 1.5 times the size: modules of 2–2.5 pixels become 3–3.75 (twice
//     the size finds a few more, for 4 instead of 2.25 times the pixels).
//  6. Data Matrix only, in a finer grid of tiles that are not re-centred.
//
// Only 1 for frames larger than VGA.
func (d *Decoder) retry(img *image.Gray) (Result, bool) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w*h > retryMaxPixels {
		return Result{}, false
	}
	fill := paperLevel(img.Pix, img.Stride, w, h)
	type attempt struct {
		ok   bool
		make func() (pix []byte, ow, oh int, m affine)
	}
	small := w*h <= fullRetryPixels
	pad := max(16, min(w, h)/8)
	noisy := noiseSigma(img.Pix, img.Stride, w, h)
	attempts := []attempt{
		{true, func() ([]byte, int, int, affine) {
			// The whole frame turned 45° about its centre fits a square of
			// side (w+h)/√2. Frames above VGA are also shrunk by √2, to
			// about their own pixel count: their modules are larger.
			k := 1.0
			if !small {
				k = math.Sqrt2
			}
			side := int(math.Ceil(float64(w+h)/math.Sqrt2/k)) + 2*pad
			c := k * math.Sqrt2 / 2
			cx, cy := float64(w)/2, float64(h)/2
			o := float64(side) / 2
			m := affine{a: c, b: -c, c: c, d: c}
			m.tx = cx - (m.a*o + m.b*o)
			m.ty = cy - (m.c*o + m.d*o)
			return d.warp(img, side, side, m, fill), side, side, m
		}},
		{small, func() ([]byte, int, int, affine) {
			m := affine{a: 1, d: 1, tx: -float64(pad), ty: -float64(pad)}
			return d.warp(img, w+2*pad, h+2*pad, m, fill), w + 2*pad, h + 2*pad, m
		}},
		{small && noisy >= denoiseSigma, func() ([]byte, int, int, affine) {
			return d.filtered(img, w, h, denoise), w, h, identity
		}},
		{small, func() ([]byte, int, int, affine) {
			return d.filtered(img, w, h, sharpen), w, h, identity
		}},
		{small, func() ([]byte, int, int, affine) {
			// ×1.5: modules of 2 px become 3, for 2.25 times the pixels.
			ow, oh := w*3/2, h*3/2
			m := affine{a: 2.0 / 3, d: 2.0 / 3, tx: -1.0 / 6, ty: -1.0 / 6}
			return d.warp(img, ow, oh, m, fill), ow, oh, m
		}},
	}
	for _, at := range attempts {
		if !at.ok {
			continue
		}
		pix, ow, oh, m := at.make()
		if res, ok := d.pass(pix, ow, ow, oh, d.syms); ok {
			return res.moved(m, b), true
		}
	}
	if small {
		// Data Matrix in a finer grid of tiles left where they lie: print
		// around a code pulls a tile's centroid off it.
		defer func(tiles int) { d.recentreTiles, d.tiles = true, tiles }(d.tiles)
		d.recentreTiles, d.tiles = false, d.tiles+2
		if res, ok := d.pass(img.Pix, img.Stride, w, h, []Symbology{DataMatrix}); ok {
			return res.moved(identity, b), true
		}
	}
	return Result{}, false
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
func (d *Decoder) warp(img *image.Gray, ow, oh int, m affine, fill uint8) []byte {
	out := d.retryBuf(ow * oh)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	pix, stride := img.Pix, img.Stride
	// 16.16 fixed point; steps along a row are constant.
	const one = 1 << 16
	ax, cx := int64(m.a*one), int64(m.c*one)
	for y := range oh {
		fx := int64((m.b*float64(y) + m.tx) * one)
		fy := int64((m.d*float64(y) + m.ty) * one)
		row := out[y*ow : (y+1)*ow]
		for x := range row {
			ix, iy := fx>>16, fy>>16
			if ix < 0 || iy < 0 || ix >= int64(w-1) || iy >= int64(h-1) {
				row[x] = fill
			} else {
				ux, uy := fx&(one-1), fy&(one-1)
				i := int(iy)*stride + int(ix)
				p00, p01 := int64(pix[i]), int64(pix[i+1])
				p10, p11 := int64(pix[i+stride]), int64(pix[i+stride+1])
				top := p00*(one-ux) + p01*ux
				bot := p10*(one-ux) + p11*ux
				row[x] = uint8((top>>16*(one-uy) + bot>>16*uy + one/2) >> 16)
			}
			fx += ax
			fy += cx
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
