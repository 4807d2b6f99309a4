package camera

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"testing"
)

func TestGrayFromYUYV(t *testing.T) {
	frame := []byte{10, 128, 20, 129, 30, 128, 40, 127, 50, 1, 60, 2, 70, 3, 80, 4}
	var g image.Gray
	GrayFromYUYV(frame, 4, 2, &g)
	if fmt.Sprint(g.Pix) != "[10 20 30 40 50 60 70 80]" || g.Stride != 4 || g.Rect != image.Rect(0, 0, 4, 2) {
		t.Fatalf("%+v", g)
	}
	// The buffer is reused.
	p := &g.Pix[0]
	GrayFromYUYV(frame[:8], 2, 2, &g)
	if &g.Pix[0] != p || fmt.Sprint(g.Pix) != "[10 20 30 40]" {
		t.Errorf("%+v", g)
	}
	// A short frame fills what it has.
	GrayFromYUYV(frame[:6], 4, 2, &g)
	if fmt.Sprint(g.Pix) != "[10 20 30 0 0 0 0 0]" {
		t.Errorf("short: %v", g.Pix)
	}
	GrayFromYUYV(frame, -1, 2, &g)
	if len(g.Pix) != 0 || !g.Rect.Empty() {
		t.Errorf("bad size: %+v", g)
	}
	GrayFromYUYV(frame, 4, 2, nil) // no panic
}

func TestToGray(t *testing.T) {
	var fd frameDecoder
	// YUYV with padded rows (bytesperline 12 for a 4-pixel row).
	padded := []byte{
		1, 0, 2, 0, 3, 0, 4, 0, 99, 99, 99, 99,
		5, 0, 6, 0, 7, 0, 8, 0, 99, 99, 99, 99,
	}
	g, err := fd.toGray(padded, 4, 2, FormatYUYV)
	if err != nil || fmt.Sprint(g.Pix) != "[1 2 3 4 5 6 7 8]" {
		t.Errorf("padded YUYV: %v %v", g, err)
	}
	if _, err := fd.toGray(padded[:10], 4, 2, FormatYUYV); err == nil {
		t.Error("short YUYV accepted")
	}
	grey := []byte{1, 2, 3, 4, 5, 6}
	g, err = fd.toGray(grey, 3, 2, FormatGREY)
	if err != nil || g.GrayAt(2, 1).Y != 6 || &g.Pix[0] != &grey[0] {
		t.Errorf("GREY: %v %v", g, err)
	}
	if _, err := fd.toGray(grey, 3, 2, "H264"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestMJPEG(t *testing.T) {
	f := fixtures(t)["gs1-datamatrix"]
	src := render(640, 480, 0, place{sym: f.sym, cx: 0.4, cy: 0.6, module: 4})
	// A colour JPEG, as cameras send.
	ycc := image.NewYCbCr(src.Bounds(), image.YCbCrSubsampleRatio422)
	copy(ycc.Y, src.Pix)
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = 128, 128
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, ycc, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	stripped := stripDHT(full)
	if len(stripped) >= len(full) {
		t.Fatal("no DHT to strip")
	}
	if _, err := jpeg.Decode(bytes.NewReader(stripped)); err == nil {
		t.Fatal("image/jpeg decoded a frame without Huffman tables; the workaround is moot")
	}
	d := newTestDecoder(t, Config{})
	var fd frameDecoder
	for name, frame := range map[string][]byte{"with DHT": full, "without DHT": stripped} {
		g, err := fd.toGray(frame, 640, 480, FormatMJPEG)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res, ok := d.Decode(g)
		if !ok || res.Text != gs1Data {
			t.Errorf("%s: %q %v", name, res.Text, ok)
		}
	}
	if _, err := fd.toGray(full[:100], 640, 480, FormatMJPEG); err == nil {
		t.Error("truncated JPEG accepted")
	}
	if _, err := fd.toGray(full, 64, 48, FormatMJPEG); err == nil {
		t.Error("JPEG far larger than the stream size accepted")
	}
}

// stripDHT removes the Huffman table segments before the scan.
func stripDHT(b []byte) []byte {
	out := append([]byte(nil), b[:2]...)
	i := 2
	for i+4 <= len(b) {
		n := int(b[i+2])<<8 | int(b[i+3])
		if b[i+1] == 0xda {
			break
		}
		if b[i+1] != 0xc4 {
			out = append(out, b[i:i+2+n]...)
		}
		i += 2 + n
	}
	return append(out, b[i:]...)
}
