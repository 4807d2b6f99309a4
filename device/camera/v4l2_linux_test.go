//go:build linux

package camera

import (
	"strings"
	"testing"

	"github.com/blackjack/webcam"
)

func TestFourcc(t *testing.T) {
	for _, s := range []string{FormatYUYV, FormatGREY, FormatMJPEG} {
		if got := fourccName(fourccCode(s)); got != s {
			t.Errorf("%s → %s", s, got)
		}
	}
	// V4L2_PIX_FMT_YUYV from videodev2.h.
	if fourccCode("YUYV") != 0x56595559 {
		t.Errorf("YUYV = %#x", uint32(fourccCode("YUYV")))
	}
}

func TestClosestSize(t *testing.T) {
	discrete := []webcam.FrameSize{
		{MinWidth: 1280, MaxWidth: 1280, MinHeight: 720, MaxHeight: 720},
		{MinWidth: 640, MaxWidth: 640, MinHeight: 480, MaxHeight: 480},
		{MinWidth: 320, MaxWidth: 320, MinHeight: 240, MaxHeight: 240},
	}
	for _, c := range []struct{ w, h, ww, wh int }{{640, 480, 640, 480}, {800, 600, 640, 480}, {1920, 1080, 1280, 720}, {100, 100, 320, 240}} {
		if w, h := closestSize(discrete, c.w, c.h); w != c.ww || h != c.wh {
			t.Errorf("%dx%d → %dx%d, want %dx%d", c.w, c.h, w, h, c.ww, c.wh)
		}
	}
	stepwise := []webcam.FrameSize{{MinWidth: 48, MaxWidth: 1920, StepWidth: 16, MinHeight: 32, MaxHeight: 1080, StepHeight: 8}}
	if w, h := closestSize(stepwise, 650, 485); w != 640 || h != 480 {
		t.Errorf("stepwise → %dx%d", w, h)
	}
	if w, h := closestSize(nil, 640, 480); w != 640 || h != 480 {
		t.Errorf("none listed → %dx%d", w, h)
	}
}

func TestOpenV4L2Missing(t *testing.T) {
	_, err := OpenV4L2(Config{Device: "/dev/no-such-video-device"})
	if err == nil || !strings.Contains(err.Error(), "/dev/no-such-video-device") {
		t.Fatalf("err = %v", err)
	}
	if _, err := New("cam", Config{Device: "/dev/no-such-video-device"}, nil); err != nil {
		t.Fatalf("New opens nothing, so a missing device is no error: %v", err)
	}
}
