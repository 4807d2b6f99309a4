package camera

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix"
	dmenc "github.com/makiuchi-d/gozxing/datamatrix/encoder"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// Test fixtures: codes made with gozxing's writers (and a hand-made GS1
// Data Matrix, which gozxing's writer cannot make), drawn into grey frames
// the way a camera sees them: scaled, rotated, anti-aliased, noisy.

// Data in the fixtures.
const (
	// 码上放心 20-digit code, printed as plain Code 128.
	msfxCode = "81234567890123456789"
	// A GS1 element string as the decoder reports it: GS between a
	// variable-length field and the next one, no leading FNC1.
	gs1Data = "0106901234567892" + "17271231" + "10A1B2C3" + "\x1d" + "21SN12345678"
	dmPlain = "DM-TEST-0001"
	qrPlain = "https://example.com/t/12345"
)

// symbol is a code as a module grid (true = dark).
type symbol struct {
	m     *gozxing.BitMatrix
	quiet int  // quiet zone in modules
	oneD  bool // a 1-row bar pattern, drawn barHeight modules tall
}

func dmSymbol(t testing.TB, text string) symbol {
	t.Helper()
	m, err := datamatrix.NewDataMatrixWriter().Encode(text, gozxing.BarcodeFormat_DATA_MATRIX, 0, 0,
		map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_DATA_MATRIX_SHAPE: dmenc.SymbolShapeHint_FORCE_SQUARE})
	if err != nil {
		t.Fatal(err)
	}
	return symbol{m: m, quiet: 2}
}

func qrSymbol(t testing.TB, text string, gs1 bool) symbol {
	t.Helper()
	hints := map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_MARGIN: 0}
	if gs1 {
		hints[gozxing.EncodeHintType_GS1_FORMAT] = true
	}
	m, err := qrcode.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 0, 0, hints)
	if err != nil {
		t.Fatal(err)
	}
	return symbol{m: m, quiet: 4}
}

// c128Symbol encodes text; 'ñ' (U+00F1) is FNC1 for gozxing's writer.
func c128Symbol(t testing.TB, text string) symbol {
	t.Helper()
	m, err := oned.NewCode128Writer().Encode(text, gozxing.BarcodeFormat_CODE_128, 0, 0,
		map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_MARGIN: 0})
	if err != nil {
		t.Fatal(err)
	}
	return symbol{m: m, quiet: 10, oneD: true}
}

// gs1DMSymbol hand-encodes a GS1 DataMatrix (ECC200, square): FNC1
// (codeword 232) first, then ASCII mode (digit pairs as 130+nn, other
// characters as value+1, GS as FNC1), pads, and Reed-Solomon and module
// placement from gozxing's encoder package.
func gs1DMSymbol(t testing.TB, data string) symbol {
	t.Helper()
	cw := []byte{232}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == 0x1d:
			cw = append(cw, 232)
		case isDigit(c) && i+1 < len(data) && isDigit(data[i+1]):
			cw = append(cw, 130+(c-'0')*10+(data[i+1]-'0'))
			i++
		case c < 128:
			cw = append(cw, c+1)
		default:
			t.Fatalf("gs1DMSymbol: non-ASCII %q", c)
		}
	}
	info, err := dmenc.SymbolInfo_Lookup(len(cw), dmenc.SymbolShapeHint_FORCE_SQUARE, nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cw) < info.GetDataCapacity() {
		cw = append(cw, 129) // first pad
		for len(cw) < info.GetDataCapacity() {
			// 253-state randomised pad (ISO/IEC 16022 5.2.3), by 1-based position.
			r := (149*(len(cw)+1))%253 + 1
			p := 129 + r
			if p > 254 {
				p -= 254
			}
			cw = append(cw, byte(p))
		}
	}
	full, err := dmenc.ErrorCorrection_EncodeECC200(cw, info)
	if err != nil {
		t.Fatal(err)
	}
	pl := dmenc.NewDefaultPlacement(full, info.GetSymbolDataWidth(), info.GetSymbolDataHeight())
	pl.Place()
	// Data regions framed by the finder (solid left and bottom edges) and
	// the clock track (alternating top and right edges).
	m, _ := gozxing.NewBitMatrix(info.GetSymbolWidth(), info.GetSymbolHeight())
	mw, mh := info.GetMatrixWidth(), info.GetMatrixHeight()
	row := 0
	for y := range info.GetSymbolDataHeight() {
		if y%mh == 0 {
			for x := 0; x < info.GetSymbolWidth(); x += 2 {
				m.Set(x, row)
			}
			row++
		}
		col := 0
		for x := range info.GetSymbolDataWidth() {
			if x%mw == 0 {
				m.Set(col, row)
				col++
			}
			if pl.GetBit(x, y) {
				m.Set(col, row)
			}
			col++
			if x%mw == mw-1 {
				if y%2 == 0 {
					m.Set(col, row)
				}
				col++
			}
		}
		row++
		if y%mh == mh-1 {
			for x := range info.GetSymbolWidth() {
				m.Set(x, row)
			}
			row++
		}
	}
	return symbol{m: m, quiet: 2}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// place puts a symbol into a frame.
type place struct {
	sym    symbol
	cx, cy float64 // centre, as a share of the frame's width and height
	module float64 // pixels per module
	angle  float64 // degrees, clockwise
	bar    float64 // bar height in modules (1-D)
}

// Greys: a white carton and dark ink, as a camera with auto exposure sees
// them (never pure 0/255).
const (
	paper = 215
	ink   = 35
)

// render draws the placed symbols into a w×h frame, anti-aliased (4×4
// supersampling), with Gaussian noise of sigma grey levels (0 = none).
func render(w, h int, sigma float64, ps ...place) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = paper
	}
	for _, p := range ps {
		drawSymbol(img, p)
	}
	if sigma > 0 {
		rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
		for i, v := range img.Pix {
			n := float64(v) + rng.NormFloat64()*sigma
			img.Pix[i] = uint8(max(0, min(255, math.Round(n))))
		}
	}
	return img
}

func drawSymbol(img *image.Gray, p place) {
	mw, mh := float64(p.sym.m.GetWidth()), float64(p.sym.m.GetHeight())
	if p.sym.oneD {
		mh = p.bar
	}
	b := img.Bounds()
	cx, cy := p.cx*float64(b.Dx()), p.cy*float64(b.Dy())
	sin, cos := math.Sincos(p.angle * math.Pi / 180)
	// Bounding box of the rotated symbol, quiet zone left as paper.
	r := math.Hypot(mw, mh) / 2 * p.module
	x0, x1 := max(0, int(cx-r)-1), min(b.Dx(), int(cx+r)+2)
	y0, y1 := max(0, int(cy-r)-1), min(b.Dy(), int(cy+r)+2)
	const ss = 4
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			dark := 0
			for sy := range ss {
				for sx := range ss {
					dx := float64(x) + (float64(sx)+0.5)/ss - cx
					dy := float64(y) + (float64(sy)+0.5)/ss - cy
					// Rotate back into symbol space, in modules from its top left.
					u := (dx*cos+dy*sin)/p.module + mw/2
					v := (-dx*sin+dy*cos)/p.module + mh/2
					if u < 0 || v < 0 || u >= mw || v >= mh {
						continue
					}
					mx, my := int(u), int(v)
					if p.sym.oneD {
						my = 0
					}
					if p.sym.m.Get(mx, my) {
						dark++
					}
				}
			}
			if dark > 0 {
				f := float64(dark) / (ss * ss)
				img.Pix[y*img.Stride+x] = uint8(math.Round(paper - f*(paper-ink)))
			}
		}
	}
}

// yuyvFromGray packs a grey frame as YUYV (neutral chroma).
func yuyvFromGray(g *image.Gray) []byte {
	w, h := g.Bounds().Dx(), g.Bounds().Dy()
	out := make([]byte, 0, w*h*2)
	for y := range h {
		for x := range w {
			out = append(out, g.Pix[y*g.Stride+x], 128)
		}
	}
	return out
}

// plainDecode is what a naive user does: gozxing's image source and
// binarizer over the whole frame and one reader.
func plainDecode(img image.Image, s Symbology) (*gozxing.Result, error) {
	bm, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return nil, err
	}
	switch s {
	case DataMatrix:
		return datamatrix.NewDataMatrixReader().Decode(bm, nil)
	case QR:
		return qrcode.NewQRCodeReader().Decode(bm, nil)
	default:
		return oned.NewCode128Reader().Decode(bm, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_ASSUME_GS1: true})
	}
}
