package serial

import (
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/device"
	bugst "go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// errFakeClosed stands for go.bug.st/serial's PortClosed, which cannot be
// built outside that package (its fields are unexported).
var errFakeClosed = errors.New("fake port closed")

// fakePort is a scripted port: the test pushes reads; Read honours the
// read timeout the way go.bug.st/serial does, returning (0, nil).
type fakePort struct {
	reads  chan fakeRead
	closed chan struct{}
	once   sync.Once

	mu      sync.Mutex
	timeout time.Duration
}

type fakeRead struct {
	data string
	err  error
}

func newFakePort() *fakePort {
	return &fakePort{reads: make(chan fakeRead, 16), closed: make(chan struct{}), timeout: bugst.NoTimeout}
}

func (p *fakePort) Read(b []byte) (int, error) {
	p.mu.Lock()
	d := p.timeout
	p.mu.Unlock()
	var timeout <-chan time.Time
	if d >= 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case <-p.closed:
		return 0, errFakeClosed
	default:
	}
	select {
	case <-p.closed:
		return 0, errFakeClosed
	case r := <-p.reads:
		return copy(b, r.data), r.err
	case <-timeout:
		return 0, nil
	}
}

func (p *fakePort) SetReadTimeout(d time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timeout = d
	return nil
}

func (p *fakePort) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func (p *fakePort) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// fakeOpener returns results in turn, repeating the last, and records the
// paths asked for.
type fakeOpener struct {
	mu      sync.Mutex
	results []openResult
	paths   []string
}

type openResult struct {
	p   port
	err error
}

func (o *fakeOpener) open(path string, _ *bugst.Mode) (port, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.paths = append(o.paths, path)
	r := o.results[0]
	if len(o.results) > 1 {
		o.results = o.results[1:]
	}
	return r.p, r.err
}

func (o *fakeOpener) calls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.paths)
}

func newFakeSource(t *testing.T, c Config, o *fakeOpener, ports []*enumerator.PortDetails) (*Source, *logBuf) {
	t.Helper()
	if c.Port == "" && c.USBVID == "" {
		c.Port = "/dev/ttyFAKE"
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin, c.ReconnectMax = time.Millisecond, 5*time.Millisecond
	}
	lb := &logBuf{}
	s, err := New("gun", c, lb.logger())
	if err != nil {
		t.Fatal(err)
	}
	s.open = o.open
	s.list = func() ([]*enumerator.PortDetails, error) { return ports, nil }
	return s, lb
}

func TestSourceReadErrorDiscardsPartial(t *testing.T) {
	p1, p2 := newFakePort(), newFakePort()
	o := &fakeOpener{results: []openResult{{p: p1}, {p: p2}}}
	src, lb := newFakeSource(t, Config{Suffix: []byte("\r"), IdleTimeout: time.Second}, o, nil)
	r := start(t, src)

	p1.reads <- fakeRead{data: "ABC\rPA"}
	p1.reads <- fakeRead{data: "RT", err: syscall.EIO}
	r.expect(t, "ABC")
	waitFor(t, "the second open", func() bool { return o.calls() == 2 })
	if !p1.isClosed() {
		t.Fatal("failed port not closed")
	}
	p2.reads <- fakeRead{data: "XYZ\r"}
	r.expect(t, "XYZ") // not "PARTXYZ"
	if n := lb.count("WARN", "serial port lost", "/dev/ttyFAKE: read failed; discarded 4 bytes of an unfinished code", "input/output error"); n != 1 {
		t.Fatalf("lost-port warnings: %d\n%s", n, lb)
	}
	h := src.Health()
	if !h.Connected || h.Scans != 2 || h.Errors != 1 || !strings.Contains(h.LastError, "discarded 4 bytes") {
		t.Fatalf("health %+v", h)
	}
}

func TestSourceOpenErrorsReportedOnce(t *testing.T) {
	p := newFakePort()
	eacces := openResult{err: syscall.EACCES}
	enoent := openResult{err: syscall.ENOENT}
	busy := openResult{err: syscall.EBUSY}
	o := &fakeOpener{results: []openResult{eacces, eacces, eacces, enoent, enoent, enoent, busy, busy, {p: p}}}
	ports := []*enumerator.PortDetails{{Name: "/dev/ttyACM3", IsUSB: true, VID: "05E0", PID: "1200", SerialNumber: "S1"}}
	src, lb := newFakeSource(t, Config{Suffix: []byte("\r")}, o, ports)
	r := start(t, src)
	waitFor(t, "connected", func() bool { return src.Health().Connected })

	for _, want := range []string{
		"permission denied on /dev/ttyFAKE: add the pda-agent user to the dialout group or install configs/99-pda-scanners.rules",
		`/dev/ttyFAKE not found (unplugged?); serial ports seen: /dev/ttyACM3 (USB 05E0:1200 serial \"S1\")`,
		"/dev/ttyFAKE is held by another program (is ModemManager or another agent using it?)",
	} {
		if n := lb.count("WARN", want); n != 1 {
			t.Errorf("%d warnings with %q, want 1\n%s", n, want, lb)
		}
	}
	if n := lb.count("DEBUG", "still unavailable"); n != 5 {
		t.Errorf("%d retry debug lines, want 5", n)
	}
	h := src.Health()
	if h.Errors != 3 || h.Detail != "/dev/ttyFAKE 9600 8N1" {
		t.Fatalf("health %+v", h)
	}
	p.reads <- fakeRead{data: "OK\r"}
	r.expect(t, "OK")
}

func TestSourcePermissionMapping(t *testing.T) {
	// As root, chmod cannot deny an open, so this checks the mapping of a
	// plain EACCES; serial_test.go does the real thing with a pty.
	o := &fakeOpener{results: []openResult{{err: syscall.EACCES}}}
	src, _ := newFakeSource(t, Config{Port: "/dev/ttyACM0"}, o, nil)
	start(t, src)
	want := "permission denied on /dev/ttyACM0: add the pda-agent user to the dialout group or install configs/99-pda-scanners.rules"
	waitFor(t, "the permission error", func() bool { return src.Health().LastError == want })
	if h := src.Health(); h.Connected || h.Errors != 1 {
		t.Fatalf("health %+v", h)
	}
}

func TestSourceUSBReenumerates(t *testing.T) {
	p := newFakePort()
	o := &fakeOpener{results: []openResult{{p: p}}}
	src, lb := newFakeSource(t, Config{USBVID: "05e0", USBPID: "1200", Suffix: []byte("\r\n")}, o, nil)
	var mu sync.Mutex
	lists := 0
	src.list = func() ([]*enumerator.PortDetails, error) {
		mu.Lock()
		defer mu.Unlock()
		lists++
		if lists < 3 { // the scanner re-enumerates as ttyACM1 on the third look
			return []*enumerator.PortDetails{{Name: "/dev/ttyS0"}}, nil
		}
		return []*enumerator.PortDetails{{Name: "/dev/ttyS0"}, {Name: "/dev/ttyACM1", IsUSB: true, VID: "05E0", PID: "1200"}}, nil
	}
	r := start(t, src)
	waitFor(t, "connected", func() bool { return src.Health().Connected })
	if h := src.Health(); h.Detail != "/dev/ttyACM1 9600 8N1" {
		t.Fatalf("detail %q", h.Detail)
	}
	if o.paths[0] != "/dev/ttyACM1" {
		t.Fatalf("opened %q", o.paths)
	}
	if n := lb.count("WARN", "no serial port with USB id 05E0:1200 (unplugged, or the scanner is not in USB-COM mode?); serial ports seen: /dev/ttyS0"); n != 1 {
		t.Fatalf("%d not-found warnings\n%s", n, lb)
	}
	p.reads <- fakeRead{data: "]d2010695\x1d21X\r\n"}
	r.expect(t, "]d2010695\x1d21X")
}

func TestSourceTooLong(t *testing.T) {
	p := newFakePort()
	o := &fakeOpener{results: []openResult{{p: p}}}
	src, _ := newFakeSource(t, Config{Suffix: []byte("\r"), MaxFrame: 8}, o, nil)
	var mu sync.Mutex
	var fbs []device.Feedback
	src.SetFeedback(func(s device.Scan, fb device.Feedback) {
		mu.Lock()
		defer mu.Unlock()
		if s.Source != "gun" || s.At.IsZero() {
			t.Errorf("feedback scan %+v", s)
		}
		fbs = append(fbs, fb)
	})
	r := start(t, src)
	p.reads <- fakeRead{data: "0123456789ABCDEF\rSHORT\r"}
	r.expect(t, "SHORT")
	mu.Lock()
	defer mu.Unlock()
	if len(fbs) != 1 || fbs[0].Status != device.StatusRejected || fbs[0].Reason != "too_long" {
		t.Fatalf("feedback %+v", fbs)
	}
	if h := src.Health(); h.Scans != 1 || h.Errors != 1 || !strings.Contains(h.LastError, "frame too long") {
		t.Fatalf("health %+v", h)
	}
}

func TestSourceStopsWhileReading(t *testing.T) {
	p := newFakePort()
	o := &fakeOpener{results: []openResult{{p: p}}}
	src, _ := newFakeSource(t, Config{}, o, nil)
	r := start(t, src)
	waitFor(t, "connected", func() bool { return src.Health().Connected })
	r.stop(t) // Read is blocked with no timeout: only Close ends it
	if !p.isClosed() {
		t.Fatal("port not closed")
	}
	if h := src.Health(); h.Connected || h.Errors != 0 {
		t.Fatalf("health after stop %+v", h)
	}
}

func TestSourceStopsWhileWaiting(t *testing.T) {
	o := &fakeOpener{results: []openResult{{err: syscall.ENOENT}}}
	src, _ := newFakeSource(t, Config{ReconnectMin: time.Hour, ReconnectMax: time.Hour}, o, nil)
	r := start(t, src)
	waitFor(t, "a failed open", func() bool { return o.calls() == 1 })
	r.stop(t)
}
