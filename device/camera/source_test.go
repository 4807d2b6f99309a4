package camera

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/device"
)

// clock is a settable clock shared by the test and the source's goroutines.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// step is what one Next call returns.
type step struct {
	frame []byte
	err   error
}

// fakeCam is a FrameSource fed by the test through steps. With no step
// queued, Next times out like a camera sending nothing.
type fakeCam struct {
	w, h     int
	fourcc   string
	steps    chan step
	startErr error

	started, closed atomic.Int32
	recycled        atomic.Int32
}

func newFakeCam(w, h int) *fakeCam {
	return &fakeCam{w: w, h: h, fourcc: FormatYUYV, steps: make(chan step, 256)}
}

func (c *fakeCam) Start() error {
	c.started.Add(1)
	return c.startErr
}

func (c *fakeCam) Next(timeout time.Duration) ([]byte, error) {
	select {
	case s := <-c.steps:
		if s.frame != nil {
			// A copy the caller owns, as the interface promises.
			return append([]byte(nil), s.frame...), s.err
		}
		return nil, s.err
	case <-time.After(timeout):
		return nil, ErrTimeout
	}
}

func (c *fakeCam) Close() error                 { c.closed.Add(1); return nil }
func (c *fakeCam) Format() (int, int, string)   { return c.w, c.h, c.fourcc }
func (c *fakeCam) Recycle(frame []byte)         { c.recycled.Add(1) }
func (c *fakeCam) push(frame []byte, err error) { c.steps <- step{frame, err} }

// opener hands out cams (or errors) in order, then the last one again.
type opener struct {
	mu    sync.Mutex
	queue []any // *fakeCam or error
	calls int
}

func (o *opener) open(Config) (FrameSource, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	next := o.queue[0]
	if len(o.queue) > 1 {
		o.queue = o.queue[1:]
	}
	if err, ok := next.(error); ok {
		return nil, err
	}
	return next.(*fakeCam), nil
}

func (o *opener) Calls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls
}

// recorder is a Handler that records scans.
type recorder struct {
	mu    sync.Mutex
	scans []device.Scan
	block chan struct{} // if set, each call waits for it
	clk   *clock
	hold  time.Duration // clock advance while handling the first scan
}

func (r *recorder) handle(ctx context.Context, s device.Scan) device.Feedback {
	r.mu.Lock()
	first := len(r.scans) == 0
	r.mu.Unlock()
	if r.block != nil {
		<-r.block
	}
	if first && r.hold > 0 {
		r.clk.Advance(r.hold)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scans = append(r.scans, s)
	return device.Feedback{Status: device.StatusAccepted}
}

func (r *recorder) Scans() []device.Scan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]device.Scan(nil), r.scans...)
}

type harness struct {
	t      *testing.T
	src    *Source
	clk    *clock
	rec    *recorder
	open   *opener
	cancel context.CancelFunc
	done   chan error
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t *testing.T, c Config, o *opener) *harness {
	t.Helper()
	src, err := NewFromFrames("cam1", c, o.open, quiet())
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	src.now = clk.Now
	src.minBackoff, src.maxBackoff = time.Millisecond, 4*time.Millisecond
	h := &harness{t: t, src: src, clk: clk, rec: &recorder{clk: clk}, open: o, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- src.Run(ctx, h.rec.handle) }()
	t.Cleanup(func() {
		h.stop()
	})
	return h
}

func (h *harness) stop() error {
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return")
		return nil
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// feed pushes one frame and waits until Run has finished with it.
func (h *harness) feed(cam *fakeCam, frame []byte) {
	h.t.Helper()
	n := h.src.stats.processed.Load()
	cam.push(frame, nil)
	waitFor(h.t, "frame processed", func() bool { return h.src.stats.processed.Load() > n })
}

func TestRunRepeatWindow(t *testing.T) {
	f := fixtures(t)
	dm := yuyvFromGray(render(640, 480, 0, place{sym: f["gs1-datamatrix"].sym, cx: 0.5, cy: 0.5, module: 4}))
	qr := yuyvFromGray(render(640, 480, 0, place{sym: f["qr"].sym, cx: 0.3, cy: 0.6, module: 4}))
	blank := yuyvFromGray(render(640, 480, 0))
	cam := newFakeCam(640, 480)
	h := start(t, Config{RepeatWindow: time.Second}, &opener{queue: []any{cam}})
	t0 := h.clk.Now()

	// Held under the camera: frames every 400ms for 1.6s are one scan.
	for range 5 {
		h.feed(cam, dm)
		h.clk.Advance(400 * time.Millisecond)
	}
	// Another code in view is a scan at once.
	h.feed(cam, qr)
	// The Data Matrix leaves (last seen at t0+1.6s) and comes back 0.9s
	// later: still the same scan. Then away for over a second: a new one.
	h.feed(cam, blank)
	h.clk.Advance(500 * time.Millisecond) // t0+2.5s
	h.feed(cam, dm)
	h.clk.Advance(1100 * time.Millisecond) // t0+3.6s, 1.1s after last seen
	h.feed(cam, dm)

	scans := h.rec.Scans()
	if len(scans) != 3 {
		t.Fatalf("%d scans, want 3: %+v", len(scans), scans)
	}
	if s := scans[0]; string(s.Raw) != gs1Data || s.Symbology != "]d2" || s.Source != "cam1" || !s.At.Equal(t0) {
		t.Errorf("first scan %+v", s)
	}
	if s := scans[1]; string(s.Raw) != qrPlain || s.Symbology != "]Q1" {
		t.Errorf("second scan %+v", s)
	}
	if s := scans[2]; string(s.Raw) != gs1Data || !s.At.Equal(t0.Add(3600*time.Millisecond)) {
		t.Errorf("third scan %+v", s)
	}
	hl := h.src.Health()
	if hl.Scans != 3 || !hl.Connected || hl.Kind != "camera" || hl.Detail != "/dev/video0 640x480 YUYV" {
		t.Errorf("health %+v", hl)
	}
	if got := cam.recycled.Load(); got < 8 {
		t.Errorf("%d frames recycled, want every frame (9)", got)
	}
}

// TestRunSlowHandler: while the handler blocks, frames keep coming and
// all but the newest are dropped; the time spent in the handler counts as
// the code being in view.
func TestRunSlowHandler(t *testing.T) {
	f := fixtures(t)
	dm := yuyvFromGray(render(640, 480, 0, place{sym: f["gs1-datamatrix"].sym, cx: 0.5, cy: 0.5, module: 4}))
	qr := yuyvFromGray(render(640, 480, 0, place{sym: f["qr"].sym, cx: 0.5, cy: 0.5, module: 4}))
	cam := newFakeCam(640, 480)
	h := start(t, Config{RepeatWindow: time.Second}, &opener{queue: []any{cam}})
	h.rec.block = make(chan struct{})
	h.rec.hold = 5 * time.Second // a very slow disk

	cam.push(dm, nil)
	waitFor(t, "handler called", func() bool { return h.src.stats.scans.Load() == 1 })
	for range 100 {
		cam.push(dm, nil)
	}
	cam.push(qr, nil) // the newest frame
	waitFor(t, "frames captured", func() bool { return h.src.stats.captured.Load() == 102 })
	if d := h.src.stats.dropped.Load(); d != 100 {
		t.Errorf("%d frames dropped, want 100 (only the newest waits)", d)
	}
	close(h.rec.block)
	waitFor(t, "second scan", func() bool { return len(h.rec.Scans()) == 2 })
	if s := h.rec.Scans()[1]; string(s.Raw) != qrPlain {
		t.Errorf("after the stall read %q, want the newest frame's code", s.Raw)
	}
	// The Data Matrix, still in view after the 5s handler, is not a new scan.
	h.feed(cam, dm)
	if n := len(h.rec.Scans()); n != 2 {
		t.Errorf("%d scans after the stall, want 2", n)
	}
}

func TestRunTimeoutsReopen(t *testing.T) {
	cam := newFakeCam(640, 480)
	o := &opener{queue: []any{cam}}
	h := start(t, Config{FrameTimeout: 5 * time.Millisecond}, o)
	// No frames: each timeout is a health error; after three the device is
	// closed and opened again.
	waitFor(t, "reopen", func() bool { return o.Calls() >= 2 && cam.closed.Load() >= 1 })
	hl := h.src.Health()
	if hl.Errors < 3 || !strings.Contains(hl.LastError, "no frame") {
		t.Errorf("health %+v", hl)
	}
}

func TestRunDeviceGone(t *testing.T) {
	f := fixtures(t)
	dm := yuyvFromGray(render(640, 480, 0, place{sym: f["gs1-datamatrix"].sym, cx: 0.5, cy: 0.5, module: 4}))
	cam1, cam2 := newFakeCam(640, 480), newFakeCam(640, 480)
	absent := syscall.ENOENT
	o := &opener{queue: []any{cam1, absent, absent, cam2}}
	h := start(t, Config{}, o)
	h.feed(cam1, dm)
	waitFor(t, "connected", func() bool { return h.src.Health().Connected })

	// Unplugged: the read fails, the device is closed, and reopening fails
	// until it is back.
	cam1.push(nil, syscall.ENODEV)
	waitFor(t, "reopened", func() bool { return cam2.started.Load() == 1 })
	if cam1.closed.Load() != 1 {
		t.Errorf("old device closed %d times", cam1.closed.Load())
	}
	// Start comes before the source marks itself connected again.
	waitFor(t, "connected again", func() bool { return h.src.Health().Connected })
	if hl := h.src.Health(); hl.Errors < 3 {
		t.Errorf("health %+v", hl)
	}
	// Frames flow again; the code has been away for over the window.
	h.clk.Advance(2 * time.Second)
	h.feed(cam2, dm)
	if n := len(h.rec.Scans()); n != 2 {
		t.Errorf("%d scans, want 2", n)
	}
	if o.Calls() != 4 {
		t.Errorf("%d opens, want 4", o.Calls())
	}
}

func TestRunStartFails(t *testing.T) {
	bad := newFakeCam(640, 480)
	bad.startErr = errors.New("VIDIOC_STREAMON: device busy")
	o := &opener{queue: []any{bad}}
	h := start(t, Config{}, o)
	waitFor(t, "retries", func() bool { return o.Calls() >= 3 })
	if bad.closed.Load() < 2 {
		t.Errorf("a device that failed to start was not closed")
	}
	hl := h.src.Health()
	if hl.Connected || !strings.Contains(hl.LastError, "device busy") {
		t.Errorf("health %+v", hl)
	}
}

func TestRunBadFrames(t *testing.T) {
	f := fixtures(t)
	dm := yuyvFromGray(render(640, 480, 0, place{sym: f["gs1-datamatrix"].sym, cx: 0.5, cy: 0.5, module: 4}))
	cam := newFakeCam(640, 480)
	h := start(t, Config{}, &opener{queue: []any{cam}})
	h.feed(cam, dm[:1000])
	hl := h.src.Health()
	if hl.Errors != 1 || !strings.Contains(hl.LastError, "short frame") {
		t.Errorf("health %+v", hl)
	}
	h.feed(cam, dm) // and carries on
	if n := len(h.rec.Scans()); n != 1 {
		t.Errorf("%d scans", n)
	}
}

func TestRunStops(t *testing.T) {
	cam := newFakeCam(640, 480)
	o := &opener{queue: []any{cam}}
	h := start(t, Config{}, o)
	waitFor(t, "started", func() bool { return cam.started.Load() == 1 })
	if err := h.src.Run(context.Background(), h.rec.handle); err == nil {
		t.Error("second Run at once did not fail")
	}
	if err := h.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if cam.closed.Load() != 1 {
		t.Errorf("device closed %d times", cam.closed.Load())
	}
	if h.src.Health().Connected {
		t.Error("still connected")
	}
}

func TestConfig(t *testing.T) {
	c, err := Config{}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if c.Device != "/dev/video0" || c.Width != 640 || c.Height != 480 || c.Format != "YUYV" || c.ROI != 0.6 ||
		c.Tiles != 3 || c.RepeatWindow != 1500*time.Millisecond || c.FrameTimeout != 2*time.Second || len(c.Symbologies) != 3 {
		t.Errorf("defaults %+v", c)
	}
	c, _ = Config{Tiles: -5, Format: "mjpeg", Symbologies: []Symbology{"QR", "qr", "code128"}}.normalize()
	if c.Tiles != -1 || c.Format != "MJPG" || len(c.Symbologies) != 2 {
		t.Errorf("normalized %+v", c)
	}
	for _, bad := range []Config{
		{Width: 640},
		{Width: 10, Height: 10},
		{Format: "H264"},
		{Symbologies: []Symbology{"pdf417"}},
		{ROI: 1.5},
		{ROI: -0.1},
		{Tiles: 9},
		{RepeatWindow: -time.Second},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if _, err := NewFromFrames("x", Config{}, nil, nil); err == nil {
		t.Error("nil opener accepted")
	}
}
