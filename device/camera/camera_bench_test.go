package camera

import (
	"fmt"
	"image"
	"runtime"
	"testing"
	"time"
)

// Benchmarks: frames/s of the decoder (aiming region, then tiles, then the
// whole frame, then the retries) by the wall clock and per second of the
// thread's CPU time ("cpu-frames/s", the figure for a core to itself),
// beside plain gozxing on the whole frame (its image source,
// hybrid binarizer and Data Matrix reader, as the reference measured),
// on the same frames in the same run. "found" and "fullframe-found" say
// whether each read the code (1) or not (0).
//
//	go test -run '^$' -bench . -benchtime 2s ./device/camera/
func BenchmarkDecode(b *testing.B) {
	dm := gs1DMSymbol(b, gs1Data)
	fx := fixtures(b)
	cases := []struct {
		name string
		s    Symbology
		p    place
	}{
		{"datamatrix/centre", DataMatrix, place{sym: dm, cx: 0.5, cy: 0.5, module: 4}},
		{"datamatrix/off-centre", DataMatrix, place{sym: dm, cx: 0.22, cy: 0.27, module: 4}},
		{"datamatrix/corner", DataMatrix, place{sym: dm, cx: 0.88, cy: 0.84, module: 4}},
		{"qr/off-centre", QR, place{sym: fx["qr"].sym, cx: 0.3, cy: 0.7, module: 3}},
		{"code128/off-centre", Code128, place{sym: fx["code128"].sym, cx: 0.5, cy: 0.2, module: 3, bar: 30}},
		{"nothing", DataMatrix, place{}},
	}
	for _, size := range [][2]int{{640, 480}, {1280, 720}} {
		for _, c := range cases {
			b.Run(fmt.Sprintf("%dx%d/%s", size[0], size[1], c.name), func(b *testing.B) {
				var img *image.Gray
				if c.p.sym.m == nil {
					img = render(size[0], size[1], 2)
				} else {
					img = render(size[0], size[1], 2, c.p)
				}
				d := newTestDecoder(b, Config{})
				found := 0.0
				// CPU time of this thread too: frames/s on one core even
				// when other processes share the machine.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.ResetTimer()
				cpu0, cpuOK := threadCPU()
				start := time.Now()
				for range b.N {
					if _, ok := d.Decode(img); ok {
						found = 1
					}
				}
				elapsed := time.Since(start)
				cpu1, _ := threadCPU()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
				if cpuOK && cpu1 > cpu0 {
					b.ReportMetric(float64(b.N)/(cpu1-cpu0).Seconds(), "cpu-frames/s")
				}
				b.ReportMetric(found, "found")

				// The same frames through plain gozxing on the whole frame.
				n := min(b.N, 200)
				fullFound := 0.0
				start = time.Now()
				for range n {
					if _, err := plainDecode(img, c.s); err == nil {
						fullFound = 1
					}
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "fullframe-frames/s")
				b.ReportMetric(fullFound, "fullframe-found")
			})
		}
	}
}

// BenchmarkPipeline is one YUYV frame from the camera to a decoded code:
// Y extraction plus decoding of an off-centre Data Matrix.
func BenchmarkPipeline(b *testing.B) {
	dm := gs1DMSymbol(b, gs1Data)
	for _, size := range [][2]int{{640, 480}, {1280, 720}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			frame := yuyvFromGray(render(size[0], size[1], 2, place{sym: dm, cx: 0.22, cy: 0.27, module: 4}))
			d := newTestDecoder(b, Config{})
			var fd frameDecoder
			found := 0.0
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				img, err := fd.toGray(frame, size[0], size[1], FormatYUYV)
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := d.Decode(img); ok {
					found = 1
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
			b.ReportMetric(found, "found")
		})
	}
}

func BenchmarkGrayFromYUYV(b *testing.B) {
	frame := make([]byte, 1280*720*2)
	var g image.Gray
	b.SetBytes(int64(len(frame)))
	for range b.N {
		GrayFromYUYV(frame, 1280, 720, &g)
	}
}
