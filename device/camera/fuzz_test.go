package camera

import (
	"image"
	"testing"
)

func FuzzGrayFromYUYV(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, 2, 1)
	f.Add([]byte{}, 640, 480)
	f.Add(make([]byte, 100), -3, 7)
	f.Add(make([]byte, 100), 1<<30, 1<<30)
	var g image.Gray
	f.Fuzz(func(t *testing.T, frame []byte, w, h int) {
		GrayFromYUYV(frame, w, h, &g)
		if w > 0 && h > 0 && w <= maxSide && h <= maxSide {
			if len(g.Pix) != w*h || g.Stride != w || g.Rect != image.Rect(0, 0, w, h) {
				t.Fatalf("%dx%d: got %d bytes, stride %d, %v", w, h, len(g.Pix), g.Stride, g.Rect)
			}
			for i := 0; i < w*h && 2*i < len(frame); i++ {
				if g.Pix[i] != frame[2*i] {
					t.Fatalf("pixel %d", i)
				}
			}
		} else if len(g.Pix) != 0 {
			t.Fatalf("%dx%d: %d bytes", w, h, len(g.Pix))
		}
	})
}

// FuzzDecode feeds arbitrary bytes as frames of arbitrary sizes and
// formats through frame conversion and the decoder. Nothing may panic:
// the decoder would recover a gozxing panic, but the fuzz fails on one
// too, so that such inputs are found and looked at.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 255, 0, 255}, 40, 40, uint8(0))
	f.Add(make([]byte, 64*48*2), 64, 48, uint8(0))
	f.Add(make([]byte, 64*48), 64, 48, uint8(1))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xda, 0, 2}, 64, 48, uint8(2))
	d, err := NewDecoder(Config{})
	if err != nil {
		f.Fatal(err)
	}
	formats := []string{FormatYUYV, FormatGREY, FormatMJPEG}
	var fd frameDecoder
	f.Fuzz(func(t *testing.T, data []byte, w, h int, format uint8) {
		// Keep frames small so the fuzzer spends its time on content.
		if w > 160 || h > 160 {
			return
		}
		// Tile the data so short inputs still fill a frame.
		frame := data
		if len(data) > 0 {
			frame = make([]byte, max(len(data), 2*max(0, w)*max(0, h)))
			for i := range frame {
				frame[i] = data[i%len(data)]
			}
		}
		img, err := fd.toGray(frame, w, h, formats[int(format)%len(formats)])
		if err != nil {
			return
		}
		before := d.Panics()
		d.Decode(img)
		if d.Panics() != before {
			t.Fatalf("gozxing panicked on a %dx%d frame (recovered by Decode)", w, h)
		}
	})
}
