package camera

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
)

// GrayFromYUYV copies the Y bytes of a packed YUYV (YUY2) frame into dst
// as luminance, without colour conversion: codes are read from brightness
// only. dst's pixel buffer is reused when large enough; dst ends up w×h
// with stride w. A frame shorter than w×h×2 bytes fills what it covers and
// leaves the rest black; sizes that are not positive (or absurd) leave dst
// empty.
func GrayFromYUYV(frame []byte, w, h int, dst *image.Gray) {
	grayFromYUYV(frame, 2*w, w, h, dst)
}

// grayFromYUYV is GrayFromYUYV for rows of stride bytes (≥ 2w).
func grayFromYUYV(frame []byte, stride, w, h int, dst *image.Gray) {
	if dst == nil {
		return
	}
	if w <= 0 || h <= 0 || w > maxSide || h > maxSide || stride < 2*w {
		dst.Pix, dst.Stride, dst.Rect = dst.Pix[:0], 0, image.Rectangle{}
		return
	}
	n := w * h
	if cap(dst.Pix) < n {
		dst.Pix = make([]byte, n)
	}
	dst.Pix, dst.Stride, dst.Rect = dst.Pix[:n], w, image.Rect(0, 0, w, h)
	for y := range h {
		out := dst.Pix[y*w : (y+1)*w]
		start := y * stride
		if start >= len(frame) {
			clear(dst.Pix[y*w:])
			return
		}
		in := frame[start:min(len(frame), start+2*w)]
		k := (len(in) + 1) / 2 // a pixel's Y byte comes first
		for x := range k {
			out[x] = in[2*x]
		}
		clear(out[k:])
	}
}

// frameDecoder turns raw frames into grey images, reusing buffers.
type frameDecoder struct {
	gray image.Gray
	// dht is the standard JPEG Huffman table segment, for MJPEG frames
	// that leave it out (see withHuffmanTables).
	dht []byte
}

// errShortFrame marks a frame too short for its format and size.
var errShortFrame = errors.New("short frame")

// toGray converts one frame of format fourcc and size w×h. The result may
// share memory with frame (GREY) or with the decoder's buffer (YUYV); it
// is valid until the next call.
func (fd *frameDecoder) toGray(frame []byte, w, h int, fourcc string) (*image.Gray, error) {
	switch fourcc {
	case FormatYUYV:
		stride, err := rowStride(len(frame), 2*w, h)
		if err != nil {
			return nil, fmt.Errorf("YUYV %dx%d frame of %d bytes: %w", w, h, len(frame), err)
		}
		grayFromYUYV(frame, stride, w, h, &fd.gray)
		return &fd.gray, nil
	case FormatGREY:
		stride, err := rowStride(len(frame), w, h)
		if err != nil {
			return nil, fmt.Errorf("GREY %dx%d frame of %d bytes: %w", w, h, len(frame), err)
		}
		return &image.Gray{Pix: frame, Stride: stride, Rect: image.Rect(0, 0, w, h)}, nil
	case FormatMJPEG:
		return fd.fromJPEG(frame, w, h)
	}
	return nil, fmt.Errorf("frame format %q not supported", fourcc)
}

// rowStride works out the bytes per row of a frame of n bytes holding h
// rows of at least row bytes: drivers may pad rows (bytesperline > width).
func rowStride(n, row, h int) (int, error) {
	if row <= 0 || h <= 0 || row > 4*maxSide || h > maxSide {
		return 0, fmt.Errorf("bad frame size")
	}
	switch {
	case n < row*h:
		return 0, errShortFrame
	case n%h == 0:
		return n / h, nil
	default:
		return row, nil // trailing bytes after the last row
	}
}

// fromJPEG decodes an MJPEG frame (expected w×h) and returns its
// luminance plane.
func (fd *frameDecoder) fromJPEG(frame []byte, w, h int) (*image.Gray, error) {
	if fd.dht == nil {
		dht, err := standardDHT()
		if err != nil {
			return nil, err
		}
		fd.dht = dht
	}
	frame = withHuffmanTables(frame, fd.dht)
	// A corrupt header must not make image/jpeg allocate for a huge image.
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(frame))
	if err != nil {
		return nil, fmt.Errorf("MJPEG frame of %d bytes: %w", len(frame), err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxSide || cfg.Height > maxSide || cfg.Width*cfg.Height > 4*max(1, w*h) {
		return nil, fmt.Errorf("MJPEG frame is %dx%d, streaming %dx%d", cfg.Width, cfg.Height, w, h)
	}
	img, err := jpeg.Decode(bytes.NewReader(frame))
	if err != nil {
		return nil, fmt.Errorf("MJPEG frame of %d bytes: %w", len(frame), err)
	}
	b := img.Bounds()
	switch m := img.(type) {
	case *image.YCbCr:
		// The Y plane is the luminance: no copy, no colour conversion.
		return &image.Gray{Pix: m.Y[m.YOffset(b.Min.X, b.Min.Y):], Stride: m.YStride, Rect: image.Rect(0, 0, b.Dx(), b.Dy())}, nil
	case *image.Gray:
		return m, nil
	default:
		g := &fd.gray
		n := b.Dx() * b.Dy()
		if cap(g.Pix) < n {
			g.Pix = make([]byte, n)
		}
		g.Pix, g.Stride, g.Rect = g.Pix[:n], b.Dx(), image.Rect(0, 0, b.Dx(), b.Dy())
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				g.Pix[(y-b.Min.Y)*g.Stride+x-b.Min.X] = color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
			}
		}
		return g, nil
	}
}

// withHuffmanTables returns frame with dht inserted before the start of
// scan when it has no Huffman tables of its own: many UVC cameras send
// MJPEG frames without them (the format assumes the standard tables),
// and image/jpeg refuses such frames.
func withHuffmanTables(frame, dht []byte) []byte {
	if len(frame) < 4 || frame[0] != 0xff || frame[1] != 0xd8 {
		return frame
	}
	i := 2
	for i+4 <= len(frame) {
		if frame[i] != 0xff {
			return frame // not at a marker: let the decoder complain
		}
		marker := frame[i+1]
		switch {
		case marker == 0xff: // fill byte
			i++
			continue
		case marker == 0xc4: // DHT present
			return frame
		case marker == 0xda: // SOS without DHT
			out := make([]byte, 0, len(frame)+len(dht))
			out = append(out, frame[:i]...)
			out = append(out, dht...)
			return append(out, frame[i:]...)
		case marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7):
			i += 2
			continue
		}
		i += 2 + (int(frame[i+2])<<8 | int(frame[i+3]))
	}
	return frame
}

// standardDHT returns the DHT segment(s) with the standard tables of
// ITU T.81 Annex K, taken from image/jpeg's own encoder (which always
// writes them) rather than copied out by hand.
func standardDHT() ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewYCbCr(image.Rect(0, 0, 8, 8), image.YCbCrSubsampleRatio420), nil); err != nil {
		return nil, fmt.Errorf("camera: building JPEG Huffman tables: %w", err)
	}
	b := buf.Bytes()
	var dht []byte
	for i := 2; i+4 <= len(b) && b[i] == 0xff; {
		n := int(b[i+2])<<8 | int(b[i+3])
		if b[i+1] == 0xc4 {
			dht = append(dht, b[i:i+2+n]...)
		}
		if b[i+1] == 0xda {
			break
		}
		i += 2 + n
	}
	if dht == nil {
		return nil, errors.New("camera: image/jpeg wrote no Huffman tables")
	}
	return dht, nil
}
