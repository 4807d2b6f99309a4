//go:build linux

package camera

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/blackjack/webcam"
)

func v4l2Available() error { return nil }

// v4l2 is a FrameSource on a V4L2 device through blackjack/webcam (MMAP
// streaming).
type v4l2 struct {
	cam    *webcam.Webcam
	device string
	w, h   int
	fourcc string
	// free holds frames given back by the capture loop, for reuse.
	free chan []byte
}

// buffers is how many driver buffers to stream with: enough to ride out a
// scheduling hiccup, few enough that a frame read is never far behind.
const buffers = 4

// OpenV4L2 opens the V4L2 device in c and sets the frame format: c's
// format (YUYV, GREY or MJPEG) at the supported size closest to c's. It
// does not start streaming.
func OpenV4L2(c Config) (FrameSource, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, err
	}
	cam, err := webcam.Open(c.Device)
	if err != nil {
		return nil, fmt.Errorf("v4l2 open %s: %w", c.Device, err)
	}
	v := &v4l2{cam: cam, device: c.Device, fourcc: c.Format, free: make(chan []byte, buffers)}
	if err := v.setFormat(c); err != nil {
		cam.Close()
		return nil, err
	}
	return v, nil
}

func fourccCode(s string) webcam.PixelFormat {
	b := []byte(s + "    ")
	return webcam.PixelFormat(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
}

func fourccName(f webcam.PixelFormat) string {
	return strings.TrimRight(string([]byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}), " \x00")
}

func (v *v4l2) setFormat(c Config) error {
	pf := fourccCode(c.Format)
	formats := v.cam.GetSupportedFormats()
	if _, ok := formats[pf]; !ok {
		var have []string
		for _, f := range slices.Sorted(maps.Keys(formats)) {
			have = append(have, fourccName(f)+" ("+formats[f]+")")
		}
		return fmt.Errorf("v4l2 %s: format %s not offered; the camera has %s", v.device, c.Format, strings.Join(have, ", "))
	}
	w, h := closestSize(v.cam.GetSupportedFrameSizes(pf), c.Width, c.Height)
	got, _, _, err := v.cam.SetImageFormat(pf, uint32(w), uint32(h))
	if err != nil {
		return fmt.Errorf("v4l2 %s: set format %s %dx%d: %w", v.device, c.Format, w, h, err)
	}
	if got != pf {
		return fmt.Errorf("v4l2 %s: asked for %s, driver chose %s", v.device, c.Format, fourccName(got))
	}
	// webcam v0.6.1's SetImageFormat returns the size asked for, not the
	// size the driver set, so the size is chosen from the sizes the
	// driver lists (which it takes as is); frames are checked against it.
	v.w, v.h = w, h
	return nil
}

// closestSize picks the offered size nearest w×h (discrete sizes as
// listed, stepwise ranges clamped and stepped). With nothing listed, w×h.
func closestSize(sizes []webcam.FrameSize, w, h int) (int, int) {
	bw, bh, best := w, h, -1
	for _, s := range sizes {
		cw := fit(w, int(s.MinWidth), int(s.MaxWidth), int(s.StepWidth))
		ch := fit(h, int(s.MinHeight), int(s.MaxHeight), int(s.StepHeight))
		d := abs(cw-w) + abs(ch-h)
		if best < 0 || d < best {
			bw, bh, best = cw, ch, d
		}
	}
	return bw, bh
}

func fit(v, lo, hi, step int) int {
	v = min(max(v, lo), hi)
	if step > 0 {
		v = lo + (v-lo)/step*step
	}
	return v
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func (v *v4l2) Start() error {
	if err := v.cam.SetBufferCount(buffers); err != nil {
		return fmt.Errorf("v4l2 %s: %w", v.device, err)
	}
	if err := v.cam.StartStreaming(); err != nil {
		return fmt.Errorf("v4l2 %s: %w", v.device, err)
	}
	return nil
}

func (v *v4l2) Format() (int, int, string) { return v.w, v.h, v.fourcc }

// Next waits for a frame and copies it out of the driver's buffer before
// giving the buffer back: webcam's ReadFrame re-queues the buffer before
// returning, and the driver may then overwrite it while it is being read.
func (v *v4l2) Next(timeout time.Duration) ([]byte, error) {
	// WaitForFrame takes whole seconds.
	secs := uint32(max(1, (timeout+time.Second-1)/time.Second))
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	for {
		err := v.cam.WaitForFrame(secs)
		var to *webcam.Timeout
		if errors.As(err, &to) {
			return nil, ErrTimeout
		}
		if err != nil {
			return nil, fmt.Errorf("v4l2 %s: wait: %w", v.device, err)
		}
		raw, index, err := v.cam.GetFrame()
		if errors.Is(err, syscall.EAGAIN) {
			// Woken without a buffer ready (spurious, or an error event
			// the next dequeue reports); wait again until the deadline.
			if time.Now().After(deadline) {
				return nil, ErrTimeout
			}
			time.Sleep(5 * time.Millisecond) // do not spin on a flapping poll
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("v4l2 %s: dequeue: %w", v.device, err)
		}
		var buf []byte
		select {
		case buf = <-v.free:
		default:
		}
		buf = append(buf[:0], raw...)
		if err := v.cam.ReleaseFrame(index); err != nil {
			return nil, fmt.Errorf("v4l2 %s: requeue: %w", v.device, err)
		}
		return buf, nil
	}
}

// Recycle takes back a frame returned by Next.
func (v *v4l2) Recycle(frame []byte) {
	select {
	case v.free <- frame:
	default:
	}
}

func (v *v4l2) Close() error {
	if err := v.cam.Close(); err != nil {
		return fmt.Errorf("v4l2 %s: close: %w", v.device, err)
	}
	return nil
}
