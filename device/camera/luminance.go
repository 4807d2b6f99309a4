package camera

import (
	"errors"

	"github.com/makiuchi-d/gozxing"
)

// errNoRotation: rotation is left to the row scanner (see IsRotateSupported).
var errNoRotation = errors.New("camera: luminance source does not rotate")

// plane is a gozxing.LuminanceSource over a rectangle of an 8-bit plane,
// read in place. gozxing's own image source converts every pixel through
// color.Color into a fresh slice; this one hands rows out of the frame
// and copies only when a reader needs a contiguous matrix of a crop.
//
// With transposed set, row y is column y of the rectangle: the Code 128
// row scanner reads vertical codes through it.
type plane struct {
	pix        []byte
	stride     int
	off        int // index of the rectangle's top-left pixel in pix
	w, h       int // of the rectangle, untransposed
	transposed bool
	scratch    *[]byte // shared by crops of one frame, for GetMatrix copies
}

var _ gozxing.LuminanceSource = (*plane)(nil)

// newPlane views the whole of pix as a w×h plane with the given stride.
// The caller guarantees len(pix) >= (h-1)*stride+w.
func newPlane(pix []byte, stride, w, h int, scratch *[]byte) *plane {
	return &plane{pix: pix, stride: stride, w: w, h: h, scratch: scratch}
}

// sub views a rectangle (x, y, w, h) of p, in p's untransposed
// coordinates, without copying.
func (p *plane) sub(x, y, w, h int) *plane {
	q := *p
	q.off = p.off + y*p.stride + x
	q.w, q.h = w, h
	q.transposed = false
	return &q
}

// transpose returns the transposed view of p.
func (p *plane) transpose() *plane {
	q := *p
	q.transposed = !p.transposed
	return &q
}

func (p *plane) GetWidth() int {
	if p.transposed {
		return p.h
	}
	return p.w
}

func (p *plane) GetHeight() int {
	if p.transposed {
		return p.w
	}
	return p.h
}

func (p *plane) GetRow(y int, row []byte) ([]byte, error) {
	if y < 0 || y >= p.GetHeight() {
		return nil, gozxing.NewNotFoundException("row %d outside 0..%d", y, p.GetHeight())
	}
	width := p.GetWidth()
	if cap(row) < width {
		row = make([]byte, width)
	}
	row = row[:width]
	if !p.transposed {
		i := p.off + y*p.stride
		copy(row, p.pix[i:i+width])
		return row, nil
	}
	i := p.off + y
	for x := range row {
		row[x] = p.pix[i]
		i += p.stride
	}
	return row, nil
}

func (p *plane) GetMatrix() []byte {
	w, h := p.GetWidth(), p.GetHeight()
	if !p.transposed && (p.stride == w || h == 1) {
		return p.pix[p.off : p.off+(h-1)*p.stride+w]
	}
	var m []byte
	if p.scratch != nil && cap(*p.scratch) >= w*h {
		m = (*p.scratch)[:w*h]
	} else {
		m = make([]byte, w*h)
		if p.scratch != nil {
			*p.scratch = m
		}
	}
	for y := range h {
		p.GetRow(y, m[y*w:(y+1)*w])
	}
	return m
}

func (p *plane) IsCropSupported() bool { return true }

func (p *plane) Crop(left, top, width, height int) (gozxing.LuminanceSource, error) {
	if left < 0 || top < 0 || width <= 0 || height <= 0 ||
		left+width > p.GetWidth() || top+height > p.GetHeight() {
		return nil, gozxing.NewNotFoundException("crop outside the image")
	}
	if p.transposed {
		return p.sub(top, left, height, width).transpose(), nil
	}
	return p.sub(left, top, width, height), nil
}

// IsRotateSupported is false so that gozxing's 1-D reader never rotates on
// its own; the row scanner reads columns through transpose instead.
func (p *plane) IsRotateSupported() bool { return false }

func (p *plane) Invert() gozxing.LuminanceSource { return gozxing.NewInvertedLuminanceSource(p) }

func (p *plane) RotateCounterClockwise() (gozxing.LuminanceSource, error) {
	return nil, errNoRotation
}

func (p *plane) RotateCounterClockwise45() (gozxing.LuminanceSource, error) {
	return nil, errNoRotation
}

func (p *plane) String() string { return gozxing.LuminanceSourceString(p) }

// fixedBinarizer hands readers a black matrix computed once for the whole
// frame (cropped to the search area), so overlapping areas are not
// binarized again.
type fixedBinarizer struct {
	src    gozxing.LuminanceSource
	matrix *gozxing.BitMatrix
}

func (b *fixedBinarizer) GetLuminanceSource() gozxing.LuminanceSource { return b.src }

func (b *fixedBinarizer) GetBlackRow(y int, row *gozxing.BitArray) (*gozxing.BitArray, error) {
	return b.matrix.GetRow(y, row), nil
}

func (b *fixedBinarizer) GetBlackMatrix() (*gozxing.BitMatrix, error) { return b.matrix, nil }

func (b *fixedBinarizer) CreateBinarizer(src gozxing.LuminanceSource) gozxing.Binarizer {
	return gozxing.NewHybridBinarizer(src)
}

func (b *fixedBinarizer) GetWidth() int  { return b.matrix.GetWidth() }
func (b *fixedBinarizer) GetHeight() int { return b.matrix.GetHeight() }

// cropBits copies the rectangle (x, y, w, h) of src into dst, which must
// be w×h. row and out are scratch rows (src width and w).
func cropBits(src *gozxing.BitMatrix, x, y, w, h int, dst *gozxing.BitMatrix, row, out *gozxing.BitArray) {
	shift := uint(x % 32)
	first := x / 32
	words := (w + 31) / 32
	tail := uint32(0xffffffff)
	if w%32 != 0 {
		tail = 1<<uint(w%32) - 1
	}
	for r := range h {
		row = src.GetRow(y+r, row)
		sw := row.GetBitArray()
		for j := range words {
			v := sw[first+j] >> shift
			if shift != 0 && first+j+1 < len(sw) {
				v |= sw[first+j+1] << (32 - shift)
			}
			if j == words-1 {
				v &= tail
			}
			out.SetBulk(j*32, v)
		}
		dst.SetRow(r, out)
	}
}
