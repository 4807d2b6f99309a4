package camera

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
)

// gs1With128 is gs1Data for gozxing's Code 128 writer, FNC1 as 'ñ'.
var gs1With128 = "ñ" + strings.ReplaceAll(gs1Data, "\x1d", "ñ")

// TestGozxingGS1 pins down what gozxing v0.1.1 itself reports for GS1
// data, which the decoder's normalisation relies on.
func TestGozxingGS1(t *testing.T) {
	aim := func(r *gozxing.Result) string {
		s, _ := r.GetResultMetadata()[gozxing.ResultMetadataType_SYMBOLOGY_IDENTIFIER].(string)
		return s
	}
	decode := func(sym symbol, s Symbology, hints map[gozxing.DecodeHintType]interface{}) *gozxing.Result {
		t.Helper()
		img := render(1280, 720, 0, place{sym: sym, cx: 0.5, cy: 0.5, module: 3, bar: 40})
		bm, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		var r *gozxing.Result
		switch s {
		case Code128:
			r, err = oned.NewCode128Reader().Decode(bm, hints)
		default:
			r, err = plainDecode(img, s)
		}
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return r
	}

	// Data Matrix: every FNC1 is GS, the leading one too; "]d2".
	r := decode(gs1DMSymbol(t, gs1Data), DataMatrix, nil)
	if r.GetText() != "\x1d"+gs1Data || aim(r) != "]d2" {
		t.Errorf("GS1 DataMatrix: %q %q", r.GetText(), aim(r))
	}
	r = decode(dmSymbol(t, dmPlain), DataMatrix, nil)
	if r.GetText() != dmPlain || aim(r) != "]d1" {
		t.Errorf("DataMatrix: %q %q", r.GetText(), aim(r))
	}

	// Code 128: the writer takes 'ñ' as FNC1. With ASSUME_GS1 the text
	// starts "]C1" and later FNC1s are GS; without it they vanish.
	gs1 := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_ASSUME_GS1: true}
	r = decode(c128Symbol(t, gs1With128), Code128, gs1)
	if r.GetText() != "]C1"+gs1Data || aim(r) != "]C1" {
		t.Errorf("GS1-128 with ASSUME_GS1: %q %q", r.GetText(), aim(r))
	}
	r = decode(c128Symbol(t, gs1With128), Code128, nil)
	if r.GetText() != strings.ReplaceAll(gs1Data, "\x1d", "") || aim(r) != "]C1" {
		t.Errorf("GS1-128 without ASSUME_GS1: %q %q", r.GetText(), aim(r))
	}
	r = decode(c128Symbol(t, msfxCode), Code128, gs1)
	if r.GetText() != msfxCode || aim(r) != "]C0" {
		t.Errorf("Code 128: %q %q", r.GetText(), aim(r))
	}

	// QR: FNC1-first mode is "]Q3", the marker is not in the text.
	r = decode(qrSymbol(t, gs1Data, true), QR, nil)
	if r.GetText() != gs1Data || aim(r) != "]Q3" {
		t.Errorf("GS1 QR: %q %q", r.GetText(), aim(r))
	}
	r = decode(qrSymbol(t, qrPlain, false), QR, nil)
	if r.GetText() != qrPlain || aim(r) != "]Q1" {
		t.Errorf("QR: %q %q", r.GetText(), aim(r))
	}
}

func newTestDecoder(t testing.TB, c Config) *Decoder {
	t.Helper()
	d, err := NewDecoder(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type want struct {
	text, aim string
	format    Symbology
}

func fixtures(t testing.TB) map[string]struct {
	sym    symbol
	module float64
	want   want
} {
	return map[string]struct {
		sym    symbol
		module float64
		want   want
	}{
		"gs1-datamatrix": {gs1DMSymbol(t, gs1Data), 4, want{gs1Data, "]d2", DataMatrix}},
		"datamatrix":     {dmSymbol(t, dmPlain), 4, want{dmPlain, "]d1", DataMatrix}},
		"qr":             {qrSymbol(t, qrPlain, false), 4, want{qrPlain, "]Q1", QR}},
		"gs1-qr":         {qrSymbol(t, gs1Data, true), 4, want{gs1Data, "]Q3", QR}},
		"code128":        {c128Symbol(t, msfxCode), 3, want{msfxCode, "]C0", Code128}},
		"gs1-128":        {c128Symbol(t, "ñ0106901234567892ñ10A1B2"), 3, want{"0106901234567892\x1d10A1B2", "]C1", Code128}},
	}
}

func check(t *testing.T, res Result, ok bool, w want) {
	t.Helper()
	if !ok {
		t.Fatalf("not found; want %q", w.text)
	}
	if res.Text != w.text || res.Symbology != w.aim || res.Format != w.format {
		t.Fatalf("got %q %s %s; want %q %s %s", res.Text, res.Symbology, res.Format, w.text, w.aim, w.format)
	}
}

func TestDecodeCentred(t *testing.T) {
	for _, size := range [][2]int{{640, 480}, {1280, 720}} {
		for name, f := range fixtures(t) {
			t.Run(fmt.Sprintf("%s/%dx%d", name, size[0], size[1]), func(t *testing.T) {
				img := render(size[0], size[1], 0, place{sym: f.sym, cx: 0.5, cy: 0.5, module: f.module, bar: 40})
				res, ok := newTestDecoder(t, Config{}).Decode(img)
				check(t, res, ok, f.want)
				// A Code 128 at 3 px a module is wider than the aiming
				// region of a 640-wide frame, so it is read on the whole.
				if roi := centred(size[0], size[1], DefaultROI); res.Region != roi && (f.want.format != Code128 || size[0] > 640) {
					t.Errorf("found in %v, want the aiming region %v", res.Region, roi)
				}
				if len(res.Points) < 2 {
					t.Errorf("points %v", res.Points)
				}
			})
		}
	}
}

// TestDecodeCentreSensitivity shows why the tiles are there: gozxing's
// Data Matrix detector, given the whole frame, only finds a code covering
// the frame's centre; the aiming region alone has the same blind spot;
// the re-centred tiles find codes anywhere.
func TestDecodeCentreSensitivity(t *testing.T) {
	dm := gs1DMSymbol(t, gs1Data)
	for _, size := range [][2]int{{640, 480}, {1280, 720}} {
		for _, pos := range [][2]float64{{0.5, 0.5}, {0.15, 0.15}, {0.85, 0.15}, {0.15, 0.85}, {0.85, 0.85}, {0.3, 0.5}, {0.5, 0.25}, {0.7, 0.65}} {
			t.Run(fmt.Sprintf("%dx%d/%.2f,%.2f", size[0], size[1], pos[0], pos[1]), func(t *testing.T) {
				img := render(size[0], size[1], 0, place{sym: dm, cx: pos[0], cy: pos[1], module: 4})
				centre := pos == [2]float64{0.5, 0.5}
				_, err := plainDecode(img, DataMatrix)
				if (err == nil) != centre {
					t.Errorf("plain gozxing on the whole frame: found=%v, want %v", err == nil, centre)
				}
				_, ok := newTestDecoder(t, Config{Tiles: -1}).Decode(img)
				if ok != centre {
					t.Errorf("aiming region and whole frame, no tiles: found=%v, want %v", ok, centre)
				}
				res, ok := newTestDecoder(t, Config{}).Decode(img)
				check(t, res, ok, want{gs1Data, "]d2", DataMatrix})
				cx, cy := int(pos[0]*float64(size[0])), int(pos[1]*float64(size[1]))
				if !image.Pt(cx, cy).In(res.Region) {
					t.Errorf("region %v does not hold the code's centre %d,%d", res.Region, cx, cy)
				}
			})
		}
	}
}

// TestDecodeSweep moves a Data Matrix code over a 9×9 grid of positions
// and counts where each strategy finds it. The counts are logged; the
// assertions are loose floors over what was measured, so a regression in
// the tiling shows.
func TestDecodeSweep(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow, and single-goroutine: nothing for the race detector")
	}
	dm := gs1DMSymbol(t, gs1Data)
	type strategy struct {
		name   string
		decode func(*image.Gray) bool
	}
	dec := func(c Config, recentre bool) func(*image.Gray) bool {
		d := newTestDecoder(t, c)
		d.recentreTiles = recentre
		return func(img *image.Gray) bool { _, ok := d.Decode(img); return ok }
	}
	strategies := []strategy{
		{"gozxing whole frame", func(img *image.Gray) bool { _, err := plainDecode(img, DataMatrix); return err == nil }},
		{"aiming region only", dec(Config{Tiles: -1}, true)},
		{"fixed 3x3 tiles", dec(Config{}, false)},
		{"re-centred 3x3 tiles", dec(Config{}, true)},
	}
	// Of 81; measured 74 at 640×480 (the misses are codes touching the
	// frame's edge) and 81 at 1280×720.
	floor := map[string]int{"re-centred 3x3 tiles": 72}
	for _, size := range [][2]int{{640, 480}, {1280, 720}} {
		found := make([]int, len(strategies))
		grids := make([]strings.Builder, len(strategies))
		for j := range 9 {
			for i := range 9 {
				img := render(size[0], size[1], 0, place{sym: dm, cx: 0.1 + 0.1*float64(i), cy: 0.1 + 0.1*float64(j), module: 4})
				for k, st := range strategies {
					if st.decode(img) {
						found[k]++
						grids[k].WriteByte('#')
					} else {
						grids[k].WriteByte('.')
					}
				}
			}
			for k := range grids {
				grids[k].WriteByte('\n')
			}
		}
		for k, st := range strategies {
			t.Logf("%dx%d %s: found at %d of 81 positions\n%s", size[0], size[1], st.name, found[k], grids[k].String())
			if found[k] < floor[st.name] {
				t.Errorf("%dx%d %s: found %d, want at least %d", size[0], size[1], st.name, found[k], floor[st.name])
			}
		}
	}
}

func TestDecodeTransforms(t *testing.T) {
	fx := fixtures(t)
	cases := []struct {
		name  string
		fx    string
		p     place
		sigma float64
		size  [2]int
	}{
		{"dm rotated 90", "gs1-datamatrix", place{cx: 0.5, cy: 0.5, module: 4, angle: 90}, 0, [2]int{640, 480}},
		{"dm rotated 10 off-centre", "gs1-datamatrix", place{cx: 0.3, cy: 0.35, module: 4, angle: 10}, 0, [2]int{640, 480}},
		{"dm rotated 30 corner 720p", "gs1-datamatrix", place{cx: 0.8, cy: 0.8, module: 4, angle: 30}, 0, [2]int{1280, 720}},
		{"dm small modules", "gs1-datamatrix", place{cx: 0.5, cy: 0.5, module: 2}, 0, [2]int{640, 480}},
		{"dm 3px modules corner", "gs1-datamatrix", place{cx: 0.2, cy: 0.8, module: 3}, 0, [2]int{1280, 720}},
		{"dm noise 4", "gs1-datamatrix", place{cx: 0.7, cy: 0.3, module: 4}, 4, [2]int{640, 480}},
		{"dm noise 8 (smoothed)", "gs1-datamatrix", place{cx: 0.7, cy: 0.3, module: 4}, 8, [2]int{640, 480}},
		{"plain dm corner", "datamatrix", place{cx: 0.1, cy: 0.12, module: 4}, 2, [2]int{640, 480}},
		{"qr rotated 10 corner", "qr", place{cx: 0.25, cy: 0.25, module: 3, angle: 10}, 3, [2]int{640, 480}},
		{"gs1 qr rotated 90", "gs1-qr", place{cx: 0.6, cy: 0.6, module: 3, angle: 90}, 3, [2]int{1280, 720}},
		{"code128 vertical", "code128", place{cx: 0.5, cy: 0.5, module: 3, angle: 90, bar: 40}, 3, [2]int{640, 480}},
		{"code128 upside down near top", "code128", place{cx: 0.5, cy: 0.12, module: 3, angle: 180, bar: 40}, 3, [2]int{640, 480}},
		{"gs1-128 tilted 10", "gs1-128", place{cx: 0.5, cy: 0.7, module: 3, angle: 10, bar: 50}, 3, [2]int{1280, 720}},
		{"gs1-128 vertical 720p", "gs1-128", place{cx: 0.8, cy: 0.5, module: 2, angle: 270, bar: 40}, 0, [2]int{1280, 720}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := fx[c.fx]
			c.p.sym = f.sym
			img := render(c.size[0], c.size[1], c.sigma, c.p)
			res, ok := newTestDecoder(t, Config{}).Decode(img)
			check(t, res, ok, f.want)
		})
	}
}

// TestDecodeRetries: codes the first pass misses (gozxing's limits: a
// Data Matrix turned about 40°–65°, a Code 128 at 45°, a code cut by the
// frame's edge) are found by a retry, with the region and points mapped
// back into the frame.
func TestDecodeRetries(t *testing.T) {
	fx := fixtures(t)
	cases := []struct {
		name string
		fx   string
		p    place
		size [2]int // 640×480 when zero
	}{
		{"dm 45 centre", "gs1-datamatrix", place{cx: 0.5, cy: 0.5, module: 4, angle: 45}, [2]int{}},
		{"dm 50 off-centre", "datamatrix", place{cx: 0.3, cy: 0.6, module: 4, angle: 50}, [2]int{}},
		// 2 px (under one module) of quiet zone left of the code.
		{"dm at the left edge", "gs1-datamatrix", place{cx: (float64(fx["gs1-datamatrix"].sym.m.GetWidth())*3/2 + 2) / 640, cy: 0.5, module: 3}, [2]int{}},
		{"code128 45", "code128", place{cx: 0.5, cy: 0.5, module: 2, angle: 45, bar: 30}, [2]int{}},
		{"gs1-128 135", "gs1-128", place{cx: 0.45, cy: 0.55, module: 2, angle: 135, bar: 30}, [2]int{}},
		{"dm 45 720p", "gs1-datamatrix", place{cx: 0.6, cy: 0.4, module: 5, angle: 45}, [2]int{1280, 720}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := fx[c.fx]
			c.p.sym = f.sym
			if c.size == [2]int{} {
				c.size = [2]int{640, 480}
			}
			img := render(c.size[0], c.size[1], 2, c.p)
			first := newTestDecoder(t, Config{})
			first.noRetry = true
			if res, ok := first.Decode(img); ok {
				t.Fatalf("the first pass read %q: gozxing improved? find another case", res.Text)
			}
			res, ok := newTestDecoder(t, Config{}).Decode(img)
			check(t, res, ok, f.want)
			centre := image.Pt(int(c.p.cx*float64(c.size[0])), int(c.p.cy*float64(c.size[1])))
			if !centre.In(res.Region) || !res.Region.In(img.Bounds()) {
				t.Errorf("region %v: want it inside the frame and around the code's centre %v", res.Region, centre)
			}
			mh := float64(f.sym.m.GetHeight())
			if f.sym.oneD {
				mh = c.p.bar
			}
			r := int(math.Hypot(float64(f.sym.m.GetWidth()), mh)/2*c.p.module) + 8
			for _, p := range res.Points {
				if d := p.Sub(centre); d.X*d.X+d.Y*d.Y > r*r {
					t.Errorf("point %v is %v from the code's centre", p, d)
				}
			}
		})
	}
}

// TestDecodeAimWins: with two codes in view, the one in the aiming region
// is read, whatever the symbology order.
func TestDecodeAimWins(t *testing.T) {
	fx := fixtures(t)
	dm, qr := fx["gs1-datamatrix"], fx["qr"]
	img := render(640, 480, 0,
		place{sym: qr.sym, cx: 0.5, cy: 0.5, module: 3},
		place{sym: dm.sym, cx: 0.12, cy: 0.15, module: 3})
	res, ok := newTestDecoder(t, Config{}).Decode(img)
	check(t, res, ok, qr.want)

	img = render(640, 480, 0,
		place{sym: qr.sym, cx: 0.85, cy: 0.8, module: 3},
		place{sym: dm.sym, cx: 0.5, cy: 0.5, module: 3})
	res, ok = newTestDecoder(t, Config{Symbologies: []Symbology{QR, DataMatrix}}).Decode(img)
	check(t, res, ok, dm.want)
}

func TestDecodeSymbologyFilter(t *testing.T) {
	fx := fixtures(t)
	img := render(640, 480, 0, place{sym: fx["qr"].sym, cx: 0.5, cy: 0.5, module: 4})
	if res, ok := newTestDecoder(t, Config{Symbologies: []Symbology{DataMatrix, Code128}}).Decode(img); ok {
		t.Fatalf("QR decoded with QR off: %+v", res)
	}
}

func TestDecodeNothing(t *testing.T) {
	d := newTestDecoder(t, Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	noise := image.NewGray(image.Rect(0, 0, 640, 480))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(rng.IntN(256))
	}
	cases := map[string]*image.Gray{
		"blank":      render(640, 480, 0),
		"noise":      noise,
		"nil":        nil,
		"empty":      {},
		"tiny":       image.NewGray(image.Rect(0, 0, 8, 8)),
		"short pix":  {Pix: make([]byte, 100), Stride: 640, Rect: image.Rect(0, 0, 640, 480)},
		"bad stride": {Pix: make([]byte, 640*480), Stride: 10, Rect: image.Rect(0, 0, 640, 480)},
	}
	for name, img := range cases {
		if res, ok := d.Decode(img); ok {
			t.Errorf("%s: decoded %+v", name, res)
		}
	}
	if d.Panics() != 0 {
		t.Errorf("%d panics", d.Panics())
	}
}

// TestDecodeFinderFlood: a periodic texture (found by fuzzing) that makes
// gozxing's QR detector collect thousands of finder candidates and then
// try every triple of them, for minutes. The candidate cap ends it.
func TestDecodeFinderFlood(t *testing.T) {
	tile := []byte("\xf8\x008\x00\xe0\xff\x00\x83i\xc5\x00\x00\xff\xff\xff\xff")
	// As a GREY frame with rows padded to twice the width.
	img := &image.Gray{Pix: make([]byte, 2*245*234), Stride: 2 * 245, Rect: image.Rect(0, 0, 245, 234)}
	for i := range img.Pix {
		img.Pix[i] = tile[i%len(tile)]
	}
	d := newTestDecoder(t, Config{Symbologies: []Symbology{QR}})
	d.noRetry = true // d.finders counts the last pass: the first one here
	start := time.Now()
	if _, ok := d.Decode(img); ok {
		t.Error("decoded a texture")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
	if d.finders <= maxFinders {
		t.Errorf("%d finder candidates: the texture no longer floods the detector, find another", d.finders)
	}
	if d.Panics() != 0 {
		t.Errorf("the abort counted as a panic")
	}
}

// TestDecodeSubImage: a sub-image (offset bounds, stride wider than the
// image) decodes, with points in the sub-image's coordinates.
func TestDecodeSubImage(t *testing.T) {
	f := fixtures(t)["gs1-datamatrix"]
	big := render(1280, 720, 0, place{sym: f.sym, cx: 0.4, cy: 0.4, module: 4})
	sub := big.SubImage(image.Rect(200, 100, 840, 580)).(*image.Gray)
	res, ok := newTestDecoder(t, Config{}).Decode(sub)
	check(t, res, ok, f.want)
	if !res.Region.In(sub.Bounds()) {
		t.Errorf("region %v outside %v", res.Region, sub.Bounds())
	}
	centre := image.Pt(512, 288)
	for _, p := range res.Points {
		if d := p.Sub(centre); d.X*d.X+d.Y*d.Y > 80*80 {
			t.Errorf("point %v far from the code's centre %v", p, centre)
		}
	}
}

func TestNormalizeGS1(t *testing.T) {
	cases := []struct {
		s                 Symbology
		text, aim         string
		wantText, wantAim string
	}{
		{DataMatrix, "\x1d01123", "]d2", "01123", "]d2"},
		{DataMatrix, "\x1d01123", "]d1", "\x1d01123", "]d1"},
		{DataMatrix, "abc", "", "abc", "]d1"},
		{Code128, "]C101123\x1d10X", "]C1", "01123\x1d10X", "]C1"},
		{Code128, "A\x1d123", "]C2", "A123", "]C2"},
		{Code128, "]C1abc", "]C0", "]C1abc", "]C0"},
		{QR, "01123", "]Q3", "01123", "]Q3"},
		{QR, "x", "", "x", "]Q1"},
	}
	for _, c := range cases {
		text, aim := normalizeGS1(c.s, c.text, c.aim)
		if text != c.wantText || aim != c.wantAim {
			t.Errorf("normalizeGS1(%s, %q, %q) = %q, %q; want %q, %q", c.s, c.text, c.aim, text, aim, c.wantText, c.wantAim)
		}
	}
}

func TestTiles(t *testing.T) {
	if got := tiles(640, 480, -1); got != nil {
		t.Errorf("tiles off: %v", got)
	}
	ts := tiles(640, 480, 3)
	if len(ts) != 9 {
		t.Fatalf("%d tiles", len(ts))
	}
	if ts[0] != image.Rect(160, 120, 480, 360) {
		t.Errorf("first tile %v, want the middle one", ts[0])
	}
	frame := image.Rect(0, 0, 640, 480)
	for _, r := range ts {
		if !r.In(frame) || r.Dx() != 320 || r.Dy() != 240 {
			t.Errorf("tile %v", r)
		}
	}
	// Every 160×120 square (half a tile) lies wholly inside some tile.
	for y := 0; y+120 <= 480; y += 8 {
		for x := 0; x+160 <= 640; x += 8 {
			sq := image.Rect(x, y, x+160, y+120)
			in := false
			for _, r := range ts {
				in = in || sq.In(r)
			}
			if !in {
				t.Fatalf("%v is in no tile", sq)
			}
		}
	}
	if got := middleOut(4); fmt.Sprint(got) != "[1 2 0 3]" {
		t.Errorf("middleOut(4) = %v", got)
	}
}

func TestCropBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	src, _ := gozxing.NewBitMatrix(150, 40)
	for y := range 40 {
		for x := range 150 {
			if rng.IntN(2) == 0 {
				src.Set(x, y)
			}
		}
	}
	for _, r := range []image.Rectangle{image.Rect(0, 0, 150, 40), image.Rect(31, 3, 97, 30), image.Rect(33, 0, 65, 1), image.Rect(117, 10, 150, 40)} {
		dst, _ := gozxing.NewBitMatrix(r.Dx(), r.Dy())
		cropBits(src, r.Min.X, r.Min.Y, r.Dx(), r.Dy(), dst, gozxing.NewBitArray(150), gozxing.NewBitArray(r.Dx()))
		for y := range r.Dy() {
			for x := range r.Dx() {
				if dst.Get(x, y) != src.Get(r.Min.X+x, r.Min.Y+y) {
					t.Fatalf("%v: bit %d,%d differs", r, x, y)
				}
			}
		}
		// Bits past the width stay clear (readers scan whole words).
		if dst.GetWidth()%32 != 0 {
			row := dst.GetRow(0, nil).GetBitArray()
			if last := row[len(row)-1] >> uint(dst.GetWidth()%32); last != 0 {
				t.Errorf("%v: bits beyond the width set", r)
			}
		}
	}
}

func TestPlane(t *testing.T) {
	pix := make([]byte, 10*6)
	for i := range pix {
		pix[i] = byte(i)
	}
	p := newPlane(pix, 10, 8, 6, new([]byte)) // stride wider than the width
	s := p.sub(2, 1, 4, 3)
	if row, _ := s.GetRow(1, nil); fmt.Sprint(row) != "[22 23 24 25]" {
		t.Errorf("row %v", row)
	}
	if m := s.GetMatrix(); fmt.Sprint(m) != "[12 13 14 15 22 23 24 25 32 33 34 35]" {
		t.Errorf("matrix %v", m)
	}
	tr := s.transpose()
	if tr.GetWidth() != 3 || tr.GetHeight() != 4 {
		t.Errorf("transposed %dx%d", tr.GetWidth(), tr.GetHeight())
	}
	if row, _ := tr.GetRow(1, nil); fmt.Sprint(row) != "[13 23 33]" {
		t.Errorf("transposed row %v", row)
	}
	if c, _ := tr.Crop(1, 2, 2, 2); fmt.Sprint(c.GetMatrix()) != "[24 34 25 35]" {
		t.Errorf("transposed crop %v", c.GetMatrix())
	}
	if _, err := s.GetRow(3, nil); err == nil {
		t.Error("row past the end")
	}
	whole := newPlane(pix, 10, 10, 6, nil)
	if m := whole.GetMatrix(); &m[0] != &pix[0] || len(m) != 60 {
		t.Error("contiguous plane copied")
	}
}

// TestDecodeCode128LocalRows: a Code 128 blurred along its rows (camera
// moving across the bars) loses its narrow bars and spaces to a row-wide
// threshold; the frame's locally thresholded rows still read it, with the
// points on the code.
func TestDecodeCode128LocalRows(t *testing.T) {
	fx := fixtures(t)
	cases := []struct {
		fx     string
		module float64
		blur   int // pixels, horizontal box
	}{
		{"code128", 4, 5},
		{"gs1-128", 3, 5},
	}
	for _, c := range cases {
		t.Run(c.fx, func(t *testing.T) {
			f := fx[c.fx]
			p := place{sym: f.sym, cx: 0.5, cy: 0.5, module: c.module, bar: 30}
			img := render(640, 480, 0, p)
			blurRows(img, c.blur)
			global := newTestDecoder(t, Config{})
			global.noRetry, global.noLocalRows = true, true
			if res, ok := global.Decode(img); ok {
				t.Fatalf("the row-wide threshold read %q: find another case", res.Text)
			}
			d := newTestDecoder(t, Config{})
			d.noRetry = true
			res, ok := d.Decode(img)
			check(t, res, ok, f.want)
			if len(res.Points) != 2 {
				t.Fatalf("points %v: want the two ends of the row read", res.Points)
			}
			half := int(float64(f.sym.m.GetWidth())*c.module/2) + 4
			for _, q := range res.Points {
				if dx, dy := q.X-320, q.Y-240; dx < -half || dx > half || dy < -int(c.module*15) || dy > int(c.module*15) {
					t.Errorf("point %v is not on the code (centre 320,240, half width %d)", q, half)
				}
			}
		})
	}
}

// blurRows blurs img along its rows with a box of n pixels (motion blur).
func blurRows(img *image.Gray, n int) {
	w := img.Rect.Dx()
	sum := make([]int, w)
	for y := range img.Rect.Dy() {
		r := img.Pix[y*img.Stride : y*img.Stride+w]
		for x := range w {
			s, c := 0, 0
			for k := x - n/2; k < x-n/2+n; k++ {
				if k >= 0 && k < w {
					s, c = s+int(r[k]), c+1
				}
			}
			sum[x] = s / c
		}
		for x, v := range sum {
			r[x] = uint8(v)
		}
	}
}

// TestWarp: the retry planes (the separable scaling path and the general
// one) match a floating-point bilinear sample of the frame, and are the
// fill level outside it. The warp's weights are 8 bits, so on this noise
// (neighbours up to 255 apart) a sample may be off by 255·2/256 plus
// rounding: 2.5 grey levels.
func TestWarp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	img := image.NewGray(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	ref := func(x, y float64) (float64, bool) {
		ix, iy := math.Floor(x), math.Floor(y)
		if ix < 0 || iy < 0 || ix >= 63 || iy >= 47 {
			return 0, false
		}
		ux, uy := x-ix, y-iy
		p := func(dx, dy int) float64 { return float64(img.GrayAt(int(ix)+dx, int(iy)+dy).Y) }
		return (p(0, 0)*(1-ux)+p(1, 0)*ux)*(1-uy) + (p(0, 1)*(1-ux)+p(1, 1)*ux)*uy, true
	}
	c := math.Sqrt2 / 2
	for name, m := range map[string]affine{
		"scaled": {a: 2.0 / 3, d: 2.0 / 3, tx: -1.0/6 - 2.0/3*5, ty: -1.0/6 - 2.0/3*5},
		"turned": {a: c, b: -c, c: c, d: c, tx: 10, ty: -20},
	} {
		d := newTestDecoder(t, Config{})
		const ow, oh, fill = 110, 90, 201
		out := d.warp(img, ow, oh, m, fill)
		inside := 0
		for y := range oh {
			for x := range ow {
				got := float64(out[y*ow+x])
				sx, sy := m.apply(float64(x), float64(y))
				want, ok := ref(sx, sy)
				// Fixed point may put a sample on the frame's last column
				// or row on either side of the border: skip those.
				if math.Abs(sx-62.5) > 0.5-1e-3 && math.Abs(sx) > 1e-3 && math.Abs(sy-46.5) > 0.5-1e-3 && math.Abs(sy) > 1e-3 {
					if !ok {
						want = fill
					} else {
						inside++
					}
					if math.Abs(got-want) > 2.5 {
						t.Fatalf("%s: (%d,%d) from (%.2f,%.2f) is %v, want %.1f", name, x, y, sx, sy, got, want)
					}
				}
			}
		}
		if inside < 1000 {
			t.Errorf("%s: only %d samples inside the frame", name, inside)
		}
	}
}
