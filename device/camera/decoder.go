package camera

import (
	"fmt"
	"image"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common"
	"github.com/makiuchi-d/gozxing/datamatrix"
	"github.com/makiuchi-d/gozxing/oned"
	qrdecoder "github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/detector"
)

// minFrameSide: smaller frames are not searched (no decodable code fits,
// and gozxing's detectors need some room around the centre).
const minFrameSide = 32

// noisyFrame is the estimated noise (σ, grey levels) from which frames are
// smoothed before binarizing. Measured on rendered Data Matrix codes: at
// σ 4 smoothing gains nothing, at σ 5 it finds a third more, at σ 6 it is
// the difference between finding almost none and most.
const noisyFrame = 4.5

// gs is ASCII 29, what an FNC1 separator reads as.
const gs = 0x1d

// Result is one decoded code.
type Result struct {
	// Text is the data. GS1 field separators (FNC1) are GS (0x1D); the
	// leading FNC1 that marks GS1 data is not in Text but in Symbology.
	Text string
	// Symbology is the AIM identifier as gozxing reports it: "]d1" Data
	// Matrix, "]d2" GS1 DataMatrix, "]Q1" QR, "]Q3" GS1 QR (FNC1 mode),
	// "]C0" Code 128, "]C1" GS1-128.
	Symbology string
	// Format is the code type.
	Format Symbology
	// Region is the search area the code was decoded in, in frame
	// coordinates: the aiming region, a tile, or the whole frame.
	Region image.Rectangle
	// Points are where gozxing located the code, in frame coordinates: the
	// corners or finder patterns of a 2-D code, the ends of the row read
	// across a Code 128.
	Points []image.Point
}

// Decoder finds and decodes one code in a grey frame. It reuses buffers
// between frames, so one Decoder must not be used by two goroutines at
// once.
//
// Search order, stopping at the first code decoded:
//
//  1. The aiming region (Config.ROI, centred), for every symbology in
//     Config.Symbologies order. Codes there win over codes elsewhere in
//     view, so the code the operator aims at is the one read.
//  2. The rest of the frame, symbology by symbology, in the same order:
//     - Data Matrix: the N×N grid of overlapping tiles (Config.Tiles),
//     each re-centred on the dark pixels inside it, then the whole frame
//     (a code larger than the aiming region). gozxing's Data Matrix
//     detector grows a rectangle from the image centre, so it only finds
//     a code that covers the centre of the area it is given.
//     - QR: the whole frame; its finder-pattern search covers the image.
//     - Code 128: rows across the whole frame, and columns for vertical
//     codes, both directions; then the rows of the frame's black matrix,
//     whose threshold is local (a code blurred across its bars).
//
// The frame is binarized once (gozxing's hybrid binarizer); the areas
// are cut from that black matrix without binarizing again. A noisy frame
// (estimated σ ≥ 4.5 grey levels) is lightly blurred first. A QR search
// that meets more than 96 finder-pattern candidates (a texture) is
// abandoned, since gozxing weighs every triple of them. A Code 128 read
// must be repeated on a neighbouring row.
//
// A QR code seen at an angle (perspective) is searched for further when
// gozxing's finder patterns are seen but no code decodes (see
// decodeQR and perspective.go), within a fixed number of grids per frame.
//
// When all that finds nothing, the frame is searched again in altered
// forms (sharpened or smoothed, enlarged and padded, turned 45°, Data
// Matrix in the opened black matrix; see retry) up to a fixed budget of
// pixels, so even a frame with nothing in it stays above 30 frames/s at
// 640×480 on one core.
type Decoder struct {
	roi   float64
	tiles int
	syms  []Symbology

	dm    gozxing.Reader
	qrDec *qrdecoder.Decoder
	c128  oned.RowDecoder
	hints map[gozxing.DecodeHintType]interface{}
	// qrHints carries the callback that counts finder candidates.
	qrHints    map[gozxing.DecodeHintType]interface{}
	qrCallback gozxing.ResultPointCallback
	finders    int
	// perspLeft is what is left of the frame's budget of QR grids sampled
	// under perspective (maxPerspectiveTries per frame).
	perspLeft int
	tmat      *gozxing.BitMatrix // the transposed black matrix (see decodeQR)
	// black is the black matrix of the last pass (the first pass's while
	// the first retry step is chosen; see retry).
	black *gozxing.BitMatrix
	// noOpen skips that search; only to measure what it buys.
	noOpen bool
	omat   *gozxing.BitMatrix
	owords []uint32
	// noPerspective skips them; only to measure what they buy.
	noPerspective bool

	// Scratch reused across frames.
	lum   []byte               // contiguous copies of luminance crops
	mats  []*gozxing.BitMatrix // crop targets, by size
	row   *gozxing.BitArray    // a full-width row of the frame's matrix
	out   *gozxing.BitArray    // a cropped row
	bin   map[int]*gozxing.BitArray
	tried []image.Rectangle

	// panics counts decoder panics recovered (see Decode).
	panics uint64
	// recentreTiles centres each tile on its dark pixels; off only to
	// measure what that buys.
	recentreTiles bool
	// noisy is the noise level (σ, grey levels) from which a frame is
	// smoothed before binarizing.
	noisy    float64
	smoothed []byte
	// alt holds the altered frame a retry searches (see retry).
	alt []byte
	// noLocalRows skips the Code 128 reads across locally thresholded
	// rows; only to measure what they buy.
	noLocalRows bool
	// cols holds a scaling warp's source columns (see scaled).
	cols []int32
	vrow []uint16
	// noRetry skips the retries; only to measure the first pass.
	noRetry bool
	// step is what decoded the last frame: 0 the first pass, k the k-th
	// retry step (see retry), -1 nothing; kept to measure each step's
	// yield.
	step int
}

// NewDecoder makes a decoder for c's symbologies, aiming region and tiles.
func NewDecoder(c Config) (*Decoder, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, err
	}
	c128, ok := oned.NewCode128Reader().(oned.RowDecoder)
	if !ok {
		return nil, fmt.Errorf("camera: gozxing's Code 128 reader has no DecodeRow")
	}
	d := &Decoder{
		roi:   c.ROI,
		tiles: c.Tiles,
		syms:  c.Symbologies,
		dm:    datamatrix.NewDataMatrixReader(),
		qrDec: qrdecoder.NewDecoder(),
		c128:  c128,
		// ASSUME_GS1 makes the Code 128 reader keep FNC1s (as GS, and a
		// leading "]C1"); without it they are dropped and GS1 fields run
		// together.
		hints: map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_ASSUME_GS1: true},
		bin:   map[int]*gozxing.BitArray{},

		recentreTiles: true,
		noisy:         noisyFrame,
	}
	d.qrCallback = func(gozxing.ResultPoint) {
		if d.finders++; d.finders > maxFinders {
			panic(finderFlood{})
		}
	}
	d.qrHints = map[gozxing.DecodeHintType]interface{}{
		gozxing.DecodeHintType_NEED_RESULT_POINT_CALLBACK: d.qrCallback,
	}
	return d, nil
}

// frame is one frame being decoded.
type frame struct {
	lum   *plane
	black *gozxing.BitMatrix
	w, h  int
}

// Decode finds one code in img, trying the areas in the order documented
// on Decoder. It reports false when nothing decodes, including for frames
// too small or malformed to search. gozxing is a port of Java code that
// signals bad input with index errors; such a panic is recovered and
// counted as a miss, since a frame must never stop the daemon.
func (d *Decoder) Decode(img *image.Gray) (res Result, ok bool) {
	if img == nil {
		return Result{}, false
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < minFrameSide || h < minFrameSide || w > maxSide || h > maxSide ||
		img.Stride < w || img.Stride > 4*maxSide || len(img.Pix) < (h-1)*img.Stride+w {
		return Result{}, false
	}
	defer func() {
		if r := recover(); r != nil {
			d.panics++
			res, ok = Result{}, false
		}
	}()
	d.step = -1
	d.perspLeft = maxPerspectiveTries
	d.black = nil
	if res, ok := d.pass(img.Pix, img.Stride, w, h, d.syms); ok {
		d.step = 0
		return res.moved(identity, b), true
	}
	if d.noRetry {
		return Result{}, false
	}
	return d.retry(img)
}

// pass is one search of a w×h plane (with stride) in the order documented
// on Decoder, for symbologies syms; the result is in the plane's
// coordinates.
func (d *Decoder) pass(pix []byte, stride, w, h int, syms []Symbology) (Result, bool) {
	lum := newPlane(pix, stride, w, h, &d.lum)
	if noiseSigma(pix, stride, w, h) >= d.noisy {
		// Noise makes the hybrid binarizer speckle plain paper, and then
		// no detector finds a quiet zone; a light blur removes most of it.
		// Only on noisy frames, because it also blurs 2-pixel modules.
		if cap(d.smoothed) < 2*w*h {
			d.smoothed = make([]byte, 2*w*h)
		}
		smooth(d.smoothed[:w*h], pix, stride, w, h, d.smoothed[w*h:2*w*h])
		lum = newPlane(d.smoothed[:w*h], w, w, h, &d.lum)
	}
	black, err := gozxing.NewHybridBinarizer(lum).GetBlackMatrix()
	if err != nil {
		return Result{}, false
	}
	d.black = black
	return d.search(&frame{lum: lum, black: black, w: w, h: h}, syms)
}

// search is the search of pass in a binarized frame.
func (d *Decoder) search(f *frame, syms []Symbology) (Result, bool) {
	w, h := f.w, f.h
	whole := image.Rect(0, 0, w, h)
	roi := centred(w, h, d.roi)
	if roi != whole {
		for _, s := range syms {
			if res, ok := d.try(f, s, roi); ok {
				return res, true
			}
		}
	}
	for _, s := range syms {
		if s == DataMatrix {
			d.tried = d.tried[:0]
			for _, t := range tiles(w, h, d.tiles) {
				a, ok := d.recentre(f, t)
				if !ok || a == roi || containsRect(d.tried, a) {
					continue
				}
				d.tried = append(d.tried, a)
				if res, ok := d.try(f, s, a); ok {
					return res, true
				}
			}
		}
		if roi == whole && s != Code128 {
			continue // already searched as the aiming region
		}
		if res, ok := d.try(f, s, whole); ok {
			return res, true
		}
	}
	return Result{}, false
}

// Panics reports how many decoder panics Decode has recovered.
func (d *Decoder) Panics() uint64 { return d.panics }

// try decodes symbology s in area a of f.
func (d *Decoder) try(f *frame, s Symbology, a image.Rectangle) (Result, bool) {
	switch s {
	case DataMatrix, QR:
		var r *gozxing.Result
		var err error
		if s == QR {
			r, err = d.decodeQR(d.crop(f.black, a))
		} else {
			var bm *gozxing.BinaryBitmap
			bm, err = gozxing.NewBinaryBitmap(&fixedBinarizer{
				src:    f.lum.sub(a.Min.X, a.Min.Y, a.Dx(), a.Dy()),
				matrix: d.crop(f.black, a),
			})
			if err == nil {
				r, err = d.dm.Decode(bm, nil)
			}
		}
		if err != nil {
			return Result{}, false
		}
		return d.result(r, s, a, false), true
	case Code128:
		return d.scan128(f, a)
	}
	return Result{}, false
}

// maxFinders bounds the QR finder-pattern candidates in one search area.
// gozxing tries every triple of candidates (cubic time), so a texture of
// finder-like squares would stall the decoder for minutes; a few codes in
// view make a dozen or two.
const maxFinders = 96

// finderFlood aborts a QR search with too many finder candidates.
type finderFlood struct{}

// decodeQR finds and decodes a QR code in a black matrix as gozxing's
// QR reader does (finder patterns, then the grid through them), with a
// callback that counts finder-pattern candidates and aborts (by
// panicking, gozxing offers no other way out) when there are more than
// maxFinders. When the finder patterns are found but the grid does not
// decode, the grid is sampled again under perspective (see
// decodeQRPerspective), within the frame's budget of such grids.
func (d *Decoder) decodeQR(black *gozxing.BitMatrix) (r *gozxing.Result, err error) {
	d.finders = 0
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(finderFlood); !ok {
				panic(p)
			}
			r, err = nil, gozxing.NewNotFoundException("more than %d finder pattern candidates", maxFinders)
		}
	}()
	r, cands, err := d.qrIn(black)
	if r != nil || cands == 0 || cands > 16 || d.perspLeft <= 0 || d.noPerspective {
		return r, err
	}
	// Some finder-pattern candidates but no code: gozxing's finder scans
	// rows, and on a code tilted towards the top or bottom it misses
	// patterns it finds on the same code tilted sideways; the transposed
	// matrix is that code tilted sideways (mirrored, which the QR decoder
	// undoes).
	tr, _, _ := d.qrIn(d.transpose(black))
	if tr == nil {
		return nil, err
	}
	pts := tr.GetResultPoints()
	swapped := make([]gozxing.ResultPoint, len(pts))
	for i, p := range pts {
		swapped[i] = gozxing.NewResultPoint(p.GetY(), p.GetX())
	}
	r = gozxing.NewResult(tr.GetText(), tr.GetRawBytes(), swapped, gozxing.BarcodeFormat_QR_CODE)
	r.PutAllMetadata(tr.GetResultMetadata())
	return r, nil
}

// qrIn is one QR search of black: the finder patterns, the grid as
// gozxing samples it, then under perspective. cands is how many
// finder-pattern candidates were seen.
func (d *Decoder) qrIn(black *gozxing.BitMatrix) (*gozxing.Result, int, error) {
	finder := detector.NewFinderPatternFinder(black, d.qrCallback)
	info, ferr := finder.Find(d.qrHints)
	cands := len(finder.GetPossibleCenters())
	if ferr != nil {
		// gozxing drops triples whose module sizes differ by more than
		// 1.4×, as the near and far corners of a tilted code do.
		if info = tiltedTriple(finder.GetPossibleCenters()); info == nil || d.perspLeft <= 0 || d.noPerspective {
			return nil, cands, fmt.Errorf("qr finder patterns: %w", ferr)
		}
		r, used := d.decodeQRPerspective(black, info, d.perspLeft)
		d.perspLeft -= used
		if r == nil {
			return nil, cands, fmt.Errorf("qr finder patterns, %d perspective tries: %w", used, ferr)
		}
		return r, cands, nil
	}
	det, err := detector.NewDetector(black).ProcessFinderPatternInfo(info)
	if err == nil {
		var dr *common.DecoderResult
		if dr, err = d.qrDec.Decode(det.GetBits(), nil); err == nil {
			return qrResult(dr, det.GetPoints()), cands, nil
		}
	}
	if d.perspLeft <= 0 || d.noPerspective {
		return nil, cands, err
	}
	r, used := d.decodeQRPerspective(black, info, d.perspLeft)
	d.perspLeft -= used
	if r == nil {
		return nil, cands, fmt.Errorf("qr grid, affine and %d perspective tries: %w", used, err)
	}
	return r, cands, nil
}

// qrResult is the result gozxing's QR reader makes of a decoded grid.
func qrResult(dr *common.DecoderResult, points []gozxing.ResultPoint) *gozxing.Result {
	if md, ok := dr.GetOther().(*qrdecoder.QRCodeDecoderMetaData); ok {
		md.ApplyMirroredCorrection(points)
	}
	r := gozxing.NewResult(dr.GetText(), dr.GetRawBytes(), points, gozxing.BarcodeFormat_QR_CODE)
	r.PutMetadata(gozxing.ResultMetadataType_SYMBOLOGY_IDENTIFIER, "]Q"+strconv.Itoa(dr.GetSymbologyModifier()))
	return r
}

// crop cuts area a out of the frame's black matrix into a reused matrix.
func (d *Decoder) crop(black *gozxing.BitMatrix, a image.Rectangle) *gozxing.BitMatrix {
	if a.Min.X == 0 && a.Min.Y == 0 && a.Dx() == black.GetWidth() && a.Dy() == black.GetHeight() {
		return black
	}
	var m *gozxing.BitMatrix
	for _, c := range d.mats {
		if c.GetWidth() == a.Dx() && c.GetHeight() == a.Dy() {
			m = c
			break
		}
	}
	if m == nil {
		m, _ = gozxing.NewBitMatrix(a.Dx(), a.Dy())
		// A frame has a few area sizes (aiming region, tiles); keep the
		// last few so a frame-size change does not grow this forever.
		if len(d.mats) >= 8 {
			d.mats = d.mats[1:]
		}
		d.mats = append(d.mats, m)
	}
	if d.row == nil || d.row.GetSize() != black.GetWidth() {
		d.row = gozxing.NewBitArray(black.GetWidth())
	}
	if d.out == nil || d.out.GetSize() < a.Dx() {
		d.out = gozxing.NewBitArray(a.Dx())
	}
	cropBits(black, a.Min.X, a.Min.Y, a.Dx(), a.Dy(), m, d.row, d.out)
	return m
}

// scan128 reads Code 128 across rows of area a, then down its columns,
// from the middle outwards, each in both directions, with rows binarized
// by one threshold per row (gozxing's global histogram binarizer); for an
// area as wide as the frame, then across the rows of the frame's black
// matrix too, whose threshold is local: a blurred code's narrow bars and
// spaces do not reach a row-wide threshold, but do a local one. A read
// counts only when a row half a step away reads the same: Code 128's
// check character lets about one random bar pattern in a hundred
// through, and hundreds of rows are tried in every frame.
func (d *Decoder) scan128(f *frame, a image.Rectangle) (Result, bool) {
	area := f.lum.sub(a.Min.X, a.Min.Y, a.Dx(), a.Dy())
	srcs := []*plane{area, area.transpose()}
	local := a.Min.X == 0 && a.Dx() == f.w && !d.noLocalRows
	if local {
		srcs = append(srcs, nil)
	}
	for _, src := range srcs {
		width, height, transposed := a.Dx(), a.Dy(), false
		var getRow func(y int, row *gozxing.BitArray) (*gozxing.BitArray, error)
		if src != nil {
			width, height, transposed = src.GetWidth(), src.GetHeight(), src.transposed
			getRow = gozxing.NewGlobalHistgramBinarizer(src).GetBlackRow
		} else {
			getRow = func(y int, row *gozxing.BitArray) (*gozxing.BitArray, error) {
				return f.black.GetRow(a.Min.Y+y, row), nil
			}
		}
		row := d.bin[width]
		if row == nil {
			row = gozxing.NewBitArray(width)
			d.bin[width] = row
		}
		read := func(y int) (*gozxing.Result, bool) {
			br, err := getRow(y, row)
			if err != nil {
				return nil, false
			}
			for reversed := range 2 {
				if reversed == 1 {
					br.Reverse()
				}
				if r, err := d.c128.DecodeRow(y, br, d.hints); err == nil {
					return r, reversed == 1
				}
			}
			return nil, false
		}
		step := rowStep(height)
		half := max(1, step/2)
		mid := height / 2
		for i := 0; ; i++ {
			// mid, mid-step, mid+step, mid-2step, ...
			y := mid + (i+1)/2*step*(1-2*(i&1))
			if y < 0 || y >= height {
				if (i+1)/2*step > mid+step {
					break
				}
				continue
			}
			r, reversed := read(y)
			if r == nil || !confirmed(read, r.GetText(), y, half, height) {
				continue
			}
			res := d.result(r, Code128, a, transposed)
			if reversed {
				// The points were found on the reversed row.
				for k, p := range r.GetResultPoints() {
					res.Points[k] = d.point(float64(width-1)-p.GetX(), p.GetY(), a, transposed)
				}
			}
			return res, true
		}
	}
	return Result{}, false
}

// confirmed reports whether a row half a step above or below y reads text
// too.
func confirmed(read func(int) (*gozxing.Result, bool), text string, y, half, height int) bool {
	for _, y2 := range []int{y - half, y + half} {
		if y2 < 0 || y2 >= height {
			continue
		}
		if r, _ := read(y2); r != nil && r.GetText() == text {
			return true
		}
	}
	return false
}

// rowStep is the spacing of the rows scanned for Code 128: bars are tall
// (tens of pixels at a readable distance), and a tilted code is crossed by
// several rows, so a few pixels apart suffices and keeps a miss cheap.
func rowStep(side int) int {
	return max(2, min(8, side/60))
}

// result converts a gozxing result, moving points into the searched
// plane's coordinates and the GS1 markers into the AIM identifier.
func (d *Decoder) result(r *gozxing.Result, s Symbology, a image.Rectangle, transposed bool) Result {
	text := r.GetText()
	aim, _ := r.GetResultMetadata()[gozxing.ResultMetadataType_SYMBOLOGY_IDENTIFIER].(string)
	if s == Code128 {
		text = dropCheckFNC1(text, r.GetRawBytes())
		if a, ok := code128AIM(r.GetRawBytes()); ok {
			aim = a
		}
	}
	text, aim = normalizeGS1(s, text, aim)
	res := Result{Text: text, Symbology: aim, Format: s, Region: a}
	for _, p := range r.GetResultPoints() {
		res.Points = append(res.Points, d.point(p.GetX(), p.GetY(), a, transposed))
	}
	return res
}

func (d *Decoder) point(x, y float64, a image.Rectangle, transposed bool) image.Point {
	if transposed {
		x, y = y, x
	}
	return image.Pt(int(math.Round(x)), int(math.Round(y))).Add(a.Min)
}

// code128FNC1 and code128Stop are Code 128 codeword values.
const (
	code128FNC1 = 102
	code128Stop = 106
)

// dropCheckFNC1 removes the GS that gozxing v0.1.1 appends for a Code 128
// check character of value 102: its decode loop reads the check character
// like data, and under ASSUME_GS1 that value is FNC1 in every code set, so
// the text gains a trailing GS that is not in the symbol (about 1 code in
// 103). gozxing strips a printable check character but not this one. raw
// is the codeword sequence gozxing reports (start, data, check, stop);
// only when the check character there is 102 is one trailing GS dropped,
// so a real FNC1 at the end of the data stays.
func dropCheckFNC1(text string, raw []byte) string {
	n := len(raw)
	if n < 3 || raw[n-1] != code128Stop || raw[n-2] != code128FNC1 {
		return text
	}
	return strings.TrimSuffix(text, "\x1d")
}

// code128AIM works out the AIM identifier of a Code 128 symbol from its
// codewords (start, data, check, stop), leaving out the check character:
// gozxing v0.1.1 derives it in its decode loop, which also reads the check
// character, so a check character of 97 in code set A or B (FNC2 there)
// turns a GS1-128 "]C1" into "]C4" and leaves "]C1" in the text. An FNC1
// first makes "]C1" (GS1-128), an FNC1 after one character "]C2", an FNC2
// "]C4", else "]C0". ok is false when raw is not a whole symbol.
func code128AIM(raw []byte) (aim string, ok bool) {
	n := len(raw)
	if n < 3 || raw[n-1] != code128Stop || raw[0] < 103 || raw[0] > 105 {
		return "", false
	}
	const setA, setB, setC = 0, 1, 2
	set := int(raw[0]) - 103
	mod, chars, shifted := 0, 0, false
	for _, c := range raw[1 : n-2] {
		cur := set
		if shifted {
			cur, shifted = setA+setB-set, false
		}
		switch {
		case c == code128FNC1:
			switch chars {
			case 0:
				mod = 1
			case 1:
				if mod == 0 {
					mod = 2
				}
			}
		case cur == setC && c < 100:
			chars += 2
		case cur == setC && c == 100:
			set = setB
		case cur == setC && c == 101:
			set = setA
		case c < 96:
			chars++
		case c == 97: // FNC2
			if mod == 0 {
				mod = 4
			}
		case c == 98: // SHIFT: the next character only, in the other set
			shifted = true
		case c == 99:
			set = setC
		case c == 100 && cur == setA:
			set = setB
		case c == 101 && cur == setB:
			set = setA
		}
	}
	return fmt.Sprintf("]C%d", mod), true
}

// normalizeGS1 makes GS1 data look the same whatever the symbology: the
// leading FNC1 becomes the AIM identifier, later FNC1s are GS.
//
//   - Data Matrix: gozxing turns every FNC1 into GS, the leading one too,
//     and reports "]d2"; the leading GS is dropped.
//   - Code 128 (read with ASSUME_GS1): gozxing puts "]C1" in front of the
//     text and reports "]C1"; the prefix is dropped. For "]C2" (FNC1
//     after an application indicator) the GS after that first character
//     is dropped, as AIM transmits it.
//   - QR: gozxing reports "]Q3" for FNC1-first mode and already leaves the
//     marker out of the text; nothing to do.
func normalizeGS1(s Symbology, text, aim string) (string, string) {
	switch s {
	case DataMatrix:
		if aim == "" {
			aim = "]d1"
		}
		if (aim == "]d2" || aim == "]d5") && strings.HasPrefix(text, "\x1d") {
			text = text[1:]
		}
	case Code128:
		if aim == "" {
			aim = "]C0"
		}
		switch {
		case aim == "]C1":
			text = strings.TrimPrefix(text, "]C1")
		case aim == "]C2" && len(text) >= 2 && text[1] == gs:
			text = text[:1] + text[2:]
		}
	case QR:
		if aim == "" {
			aim = "]Q1"
		}
	}
	return text, aim
}

// centred is the centred rectangle covering share of each side of a w×h
// frame.
func centred(w, h int, share float64) image.Rectangle {
	if share >= 1 {
		return image.Rect(0, 0, w, h)
	}
	rw := max(minFrameSide, int(math.Round(float64(w)*share)))
	rh := max(minFrameSide, int(math.Round(float64(h)*share)))
	rw, rh = min(rw, w), min(rh, h)
	x, y := (w-rw)/2, (h-rh)/2
	return image.Rect(x, y, x+rw, y+rh)
}

// tiles lays an n×n grid of tiles over a w×h frame, each two grid steps
// wide so that neighbours overlap by half a tile: a code up to half a
// tile across lies wholly inside at least one tile.
func tiles(w, h, n int) []image.Rectangle {
	if n <= 0 {
		return nil
	}
	tw, th := 2*w/(n+1), 2*h/(n+1)
	if tw < minFrameSide || th < minFrameSide {
		return nil
	}
	out := make([]image.Rectangle, 0, n*n)
	// Row by row from the middle outwards, so tiles near the aiming point
	// go first.
	for _, j := range middleOut(n) {
		for _, i := range middleOut(n) {
			x := i * (w - tw) / max(1, n-1)
			y := j * (h - th) / max(1, n-1)
			out = append(out, image.Rect(x, y, x+tw, y+th))
		}
	}
	return out
}

// middleOut lists 0..n-1 from the middle outwards.
func middleOut(n int) []int {
	out := make([]int, 0, n)
	mid := (n - 1) / 2
	for k := 0; len(out) < n; k++ {
		if i := mid + k; i < n {
			out = append(out, i)
		}
		if i := mid - k; k > 0 && i >= 0 {
			out = append(out, i)
		}
	}
	return out
}

// recentre moves tile t (keeping its size, inside the frame) so that its
// centre is the centroid of the dark pixels inside it, because the Data
// Matrix detector only finds a code that covers the centre of its area: a
// tile holding one code, or the corner of one, is centred on it. A tile
// with hardly any dark pixels is skipped.
func (d *Decoder) recentre(f *frame, t image.Rectangle) (image.Rectangle, bool) {
	if d.row == nil || d.row.GetSize() != f.w {
		d.row = gozxing.NewBitArray(f.w)
	}
	var n, sx, sy int
	for y := t.Min.Y; y < t.Max.Y; y++ {
		d.row = f.black.GetRow(y, d.row)
		words := d.row.GetBitArray()
		c := 0
		for wi := t.Min.X / 32; wi <= (t.Max.X-1)/32 && wi < len(words); wi++ {
			v := words[wi]
			lo := wi * 32
			if lo < t.Min.X {
				v &^= 1<<uint(t.Min.X-lo) - 1
			}
			if t.Max.X-lo < 32 {
				v &= 1<<uint(t.Max.X-lo) - 1
			}
			for v != 0 {
				sx += lo + bits.TrailingZeros32(v)
				v &= v - 1
				c++
			}
		}
		n += c
		sy += y * c
	}
	// A Data Matrix code of the smallest size at 2 px a module has ~100
	// dark pixels; fewer is noise.
	if n < 64 {
		return image.Rectangle{}, false
	}
	if !d.recentreTiles {
		return t, true
	}
	// Near the frame's edge the window shrinks rather than shifts, so that
	// its centre stays on the centroid.
	cx, cy := sx/n, sy/n
	hw := min(t.Dx()/2, cx, f.w-cx)
	hh := min(t.Dy()/2, cy, f.h-cy)
	if 2*hw < minFrameSide || 2*hh < minFrameSide {
		return image.Rectangle{}, false
	}
	return image.Rect(cx-hw, cy-hh, cx+hw, cy+hh), true
}

func containsRect(rs []image.Rectangle, r image.Rectangle) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// smooth writes a [1 2 1]/4 × [1 2 1]/4 blur of the w×h plane src (with
// stride) to dst (w×h, stride w), using tmp (w×h). Border pixels are
// blurred along the border only.
func smooth(dst, src []byte, stride, w, h int, tmp []byte) {
	for y := range h {
		s := src[y*stride : y*stride+w]
		t := tmp[y*w : (y+1)*w]
		t[0], t[w-1] = s[0], s[w-1]
		for x := 1; x < w-1; x++ {
			t[x] = uint8((uint(s[x-1]) + 2*uint(s[x]) + uint(s[x+1]) + 2) >> 2)
		}
	}
	copy(dst[:w], tmp[:w])
	copy(dst[(h-1)*w:], tmp[(h-1)*w:h*w])
	for y := 1; y < h-1; y++ {
		a, b, c := tmp[(y-1)*w:y*w], tmp[y*w:(y+1)*w], tmp[(y+1)*w:(y+2)*w]
		d := dst[y*w : (y+1)*w]
		for x := range d {
			d[x] = uint8((uint(a[x]) + 2*uint(b[x]) + uint(c[x]) + 2) >> 2)
		}
	}
}

// noiseSigma estimates the frame's pixel noise (standard deviation, grey
// levels) from the median absolute second difference along sampled rows:
// for Gaussian noise σ, |p[x-1] − 2p[x] + p[x+1]| has median ≈ 1.65σ, and
// edges are too rare to move the median.
func noiseSigma(pix []byte, stride, w, h int) float64 {
	var hist [256]int
	n := 0
	for y := 4; y < h; y += 8 {
		r := pix[y*stride : y*stride+w]
		for x := 1; x+1 < w; x += 2 {
			d := int(r[x-1]) - 2*int(r[x]) + int(r[x+1])
			if d < 0 {
				d = -d
			}
			hist[min(d, 255)]++
			n++
		}
	}
	half, acc := n/2, 0
	for v, c := range hist {
		acc += c
		if acc > half {
			return float64(v) / 1.65
		}
	}
	return 0
}
