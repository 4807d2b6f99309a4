package hid

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/device"
)

// fakeDev is an open HID interface whose reads the test hands in. It
// records a Close that comes while a Read is running, which would be a
// use-after-free in hidapi.
type fakeDev struct {
	reads chan readResult

	mu              sync.Mutex
	reading         bool
	closed          bool
	closeDuringRead bool
	closedCh        chan struct{}
}

type readResult struct {
	data []byte
	err  error
}

func newFakeDev() *fakeDev {
	return &fakeDev{reads: make(chan readResult, 4096), closedCh: make(chan struct{})}
}

func (d *fakeDev) Read(b []byte) (int, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return 0, errors.New("read after close")
	}
	d.reading = true
	d.mu.Unlock()
	r := <-d.reads
	d.mu.Lock()
	d.reading = false
	d.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	return copy(b, r.data), nil
}

func (d *fakeDev) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reading {
		d.closeDuringRead = true
	}
	if !d.closed {
		d.closed = true
		close(d.closedCh)
	}
	return nil
}

func (d *fakeDev) isReading() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reading
}

func (d *fakeDev) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// send queues reports for reading.
func (d *fakeDev) send(reports ...[]byte) {
	for _, r := range reports {
		d.reads <- readResult{data: r}
	}
}

// unplug makes the next read fail as hidapi does.
func (d *fakeDev) unplug() { d.reads <- readResult{err: errors.New("hidapi: unknown failure")} }

// fakeBus is the enumerator and opener: what is plugged in and what
// opening it gives.
type fakeBus struct {
	mu        sync.Mutex
	infos     []DeviceInfo
	devs      map[string]*fakeDev
	enumErr   error
	openErr   error
	openFails int // how many opens fail with openErr
	opened    []string
	enumCalls int
}

func (b *fakeBus) enumerate(vid, pid uint16) ([]DeviceInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enumCalls++
	if b.enumErr != nil {
		err := b.enumErr
		b.enumErr = nil
		return nil, err
	}
	var out []DeviceInfo
	for _, d := range b.infos {
		if (vid == 0 || d.VendorID == vid) && (pid == 0 || d.ProductID == pid) {
			out = append(out, d)
		}
	}
	return out, nil
}

func (b *fakeBus) open(d DeviceInfo) (hidDevice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openFails > 0 {
		b.openFails--
		return nil, b.openErr
	}
	dev, ok := b.devs[d.Path]
	if !ok {
		return nil, errors.New("no such device")
	}
	b.opened = append(b.opened, d.Path)
	return dev, nil
}

// plug makes a device present; unplugged removes it from enumeration.
func (b *fakeBus) plug(info DeviceInfo, dev *fakeDev) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.devs == nil {
		b.devs = map[string]*fakeDev{}
	}
	b.infos = append(b.infos, info)
	b.devs[info.Path] = dev
}

func (b *fakeBus) unplugged(path string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, d := range b.infos {
		if d.Path == path {
			b.infos = append(b.infos[:i], b.infos[i+1:]...)
			break
		}
	}
	delete(b.devs, path)
}

func (b *fakeBus) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.enumCalls
}

func (b *fakeBus) plugged() []DeviceInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]DeviceInfo(nil), b.infos...)
}

func (b *fakeBus) openedPaths() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.opened...)
}

// syncBuffer is a log sink safe for the reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var scanner1 = DeviceInfo{Path: "0001:0004:00", VendorID: 0x05e0, ProductID: 0x1200, Interface: 0, Serial: "S1", Product: "Test Scanner"}

// harness runs a source on a fake bus and collects what it hands on.
type harness struct {
	t      *testing.T
	src    *Source
	bus    *fakeBus
	scans  chan device.Scan
	fbs    chan device.Feedback
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	// slow, if set, delays the handler on each scan.
	slow time.Duration
}

func testConfig() Config {
	return Config{VID: 0x05e0, PID: 0x1200, Interface: -1, IdleTimeout: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond}
}

func newHarness(t *testing.T, c Config, bus *fakeBus) *harness {
	t.Helper()
	hs := &harness{t: t, bus: bus, scans: make(chan device.Scan, 100), fbs: make(chan device.Feedback, 100), log: &syncBuffer{}}
	src, err := newSource("gun", c, slog.New(slog.NewTextHandler(hs.log, &slog.HandlerOptions{Level: slog.LevelDebug})), bus.enumerate, bus.open)
	if err != nil {
		t.Fatal(err)
	}
	src.SetFeedback(func(_ device.Scan, fb device.Feedback) { hs.fbs <- fb })
	hs.src = src
	return hs
}

func (hs *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	hs.cancel = cancel
	hs.done = make(chan error, 1)
	go func() {
		hs.done <- hs.src.Run(ctx, func(_ context.Context, s device.Scan) device.Feedback {
			if hs.slow > 0 {
				time.Sleep(hs.slow)
			}
			hs.scans <- s
			return device.Feedback{Status: device.StatusAccepted}
		})
	}()
	hs.t.Cleanup(hs.stop)
}

// stop ends Run and checks it returns promptly with nil.
func (hs *harness) stop() {
	if hs.cancel == nil {
		return
	}
	hs.cancel()
	hs.cancel = nil
	select {
	case err := <-hs.done:
		if err != nil {
			hs.t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		hs.t.Fatal("Run did not return after cancel")
	}
}

func (hs *harness) scan() device.Scan {
	hs.t.Helper()
	select {
	case s := <-hs.scans:
		return s
	case <-time.After(5 * time.Second):
		hs.t.Fatal("no scan")
		return device.Scan{}
	}
}

func (hs *harness) noScan(d time.Duration) {
	hs.t.Helper()
	select {
	case s := <-hs.scans:
		hs.t.Fatalf("unexpected scan %q", s.Raw)
	case <-time.After(d):
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// typed returns press and release reports for US characters and Enter.
func typed(s string) [][]byte {
	var out [][]byte
	for _, c := range s {
		var mod, key byte
		switch {
		case c >= '1' && c <= '9':
			key = 0x1E + byte(c-'1')
		case c == '0':
			key = 0x27
		case c >= 'a' && c <= 'z':
			key = 0x04 + byte(c-'a')
		case c >= 'A' && c <= 'Z':
			mod, key = modLShift, 0x04+byte(c-'A')
		case c == '\n':
			key = keyEnter
		case c == gs:
			mod, key = modLCtrl, keyGS
		default:
			panic("typed: " + string(c))
		}
		out = append(out, []byte{mod, 0, key, 0, 0, 0, 0, 0}, make([]byte, 8))
	}
	return out
}

func TestRunKeyboard(t *testing.T) {
	bus := &fakeBus{}
	dev := newFakeDev()
	bus.plug(scanner1, dev)
	hs := newHarness(t, testConfig(), bus)
	hs.start()
	dev.send(typed("0106901234567892\x1d21SER9\n")...)
	s := hs.scan()
	if string(s.Raw) != "0106901234567892\x1d21SER9" || s.Source != "gun" || s.Symbology != "" || s.At.IsZero() {
		t.Fatalf("scan = %+v", s)
	}
	h := hs.src.Health()
	if !h.Connected || h.Kind != "hid" || h.Scans != 1 || !strings.Contains(h.Detail, scanner1.Path) || !strings.Contains(h.Detail, "keyboard/us") {
		t.Fatalf("health = %+v", h)
	}
	if detachesKernelDriver && !strings.Contains(hs.log.String(), "no longer types into the desktop") {
		t.Errorf("no kernel driver warning in log:\n%s", hs.log)
	}
	waitFor(t, "reader parked in Read", dev.isReading)
	hs.stop()
	if dev.isClosed() {
		t.Fatal("device closed while its reader was still inside Read")
	}
	// The parked reader closes the device once its Read returns.
	dev.send(make([]byte, 8))
	<-dev.closedCh
	if dev.closeDuringRead {
		t.Fatal("Close raced Read")
	}
	waitFor(t, "dropped-report note", func() bool { return strings.Contains(hs.log.String(), "came after the source stopped") })
}

func TestRunIdleFlush(t *testing.T) {
	bus := &fakeBus{}
	dev := newFakeDev()
	bus.plug(scanner1, dev)
	c := testConfig()
	c.IdleTimeout = 30 * time.Millisecond
	hs := newHarness(t, c, bus)
	hs.start()
	start := time.Now()
	dev.send(typed("12345")...)
	s := hs.scan()
	if string(s.Raw) != "12345" {
		t.Fatalf("scan %q", s.Raw)
	}
	if d := time.Since(start); d < c.IdleTimeout {
		t.Fatalf("flushed after %s, before the idle timeout", d)
	}
	// Reports with a pause longer than the idle timeout are two codes.
	dev.send(typed("6")...)
	time.Sleep(3 * c.IdleTimeout)
	dev.send(typed("7")...)
	if a, b := hs.scan(), hs.scan(); string(a.Raw) != "6" || string(b.Raw) != "7" {
		t.Fatalf("scans %q %q", a.Raw, b.Raw)
	}
}

// A handler slower than the idle timeout must not split the next code,
// whose reports came in quickly while the handler ran.
func TestRunSlowHandlerKeepsCodesWhole(t *testing.T) {
	bus := &fakeBus{}
	dev := newFakeDev()
	bus.plug(scanner1, dev)
	hs := newHarness(t, testConfig(), bus)
	hs.slow = 100 * time.Millisecond
	hs.start()
	var all [][]byte
	all = append(all, typed("111\n")...)
	all = append(all, typed("2222")...) // no Enter: the idle timeout ends it
	all = append(all, typed("\n333\n")...)
	dev.send(all...)
	for _, want := range []string{"111", "2222", "333"} {
		if s := hs.scan(); string(s.Raw) != want {
			t.Fatalf("scan %q, want %q", s.Raw, want)
		}
	}
}

func TestRunReconnect(t *testing.T) {
	bus := &fakeBus{}
	first := newFakeDev()
	bus.plug(scanner1, first)
	hs := newHarness(t, testConfig(), bus)
	hs.start()
	first.send(typed("1\n")...)
	if s := hs.scan(); string(s.Raw) != "1" {
		t.Fatalf("scan %q", s.Raw)
	}
	// Unplugged halfway through a code: the part is dropped, not passed on.
	bus.unplugged(scanner1.Path)
	before := bus.calls()
	first.send(typed("99")...)
	first.unplug()
	waitFor(t, "disconnected", func() bool { return !hs.src.Health().Connected })
	<-first.closedCh
	if first.closeDuringRead {
		t.Fatal("Close raced Read")
	}
	h := hs.src.Health()
	if h.Errors < 2 || !strings.Contains(h.LastError, "unplugged?") {
		t.Fatalf("health after unplug = %+v", h)
	}
	if fb := <-hs.fbs; fb.Reason != "decode_error" || !strings.Contains(fb.Message, "went away") {
		t.Fatalf("feedback %+v", fb)
	}
	waitFor(t, "polls while absent", func() bool { return bus.calls()-before >= 3 })
	hs.noScan(10 * time.Millisecond)
	second := newFakeDev()
	bus.plug(scanner1, second)
	waitFor(t, "reconnected", func() bool { return hs.src.Health().Connected })
	second.send(typed("2\n")...)
	if s := hs.scan(); string(s.Raw) != "2" {
		t.Fatalf("scan %q", s.Raw)
	}
	if got := bus.openedPaths(); len(got) != 2 {
		t.Fatalf("opened %v", got)
	}
}

func TestRunOpenAndEnumerateErrors(t *testing.T) {
	bus := &fakeBus{enumErr: errors.New("libusb: io error"), openErr: errors.New("hidapi: failed to open device"), openFails: 5}
	dev := newFakeDev()
	bus.plug(scanner1, dev)
	hs := newHarness(t, testConfig(), bus)
	hs.start()
	waitFor(t, "open", func() bool { return hs.src.Health().Connected })
	h := hs.src.Health()
	// One enumeration error, and five identical open failures counted once.
	if h.Errors != 2 || !strings.Contains(h.LastError, "99-pda-scanners.rules") || !strings.Contains(h.LastError, "failed to open device") {
		t.Fatalf("health = %+v", h)
	}
	if n := strings.Count(hs.log.String(), "hid scanner unavailable"); n != 2 {
		t.Fatalf("%d warnings, want 2:\n%s", n, hs.log)
	}
	dev.send(typed("5\n")...)
	if s := hs.scan(); string(s.Raw) != "5" {
		t.Fatalf("scan %q", s.Raw)
	}
}

func TestRunSelectsInterfaceAndSerial(t *testing.T) {
	bus := &fakeBus{}
	for _, d := range []DeviceInfo{
		{Path: "0001:0007:00", VendorID: 0x05e0, ProductID: 0x1200, Interface: 0, Serial: "B"},
		{Path: "0001:0007:01", VendorID: 0x05e0, ProductID: 0x1200, Interface: 1, Serial: "B"},
		{Path: "0001:0005:01", VendorID: 0x05e0, ProductID: 0x1200, Interface: 1, Serial: "A"},
		{Path: "0001:0009:01", VendorID: 0x05e0, ProductID: 0x9999, Interface: 1, Serial: "B"},
	} {
		bus.plug(d, newFakeDev())
	}
	c := testConfig()
	c.Interface, c.Serial = 1, "B"
	hs := newHarness(t, c, bus)
	hs.start()
	waitFor(t, "open", func() bool { return hs.src.Health().Connected })
	if got := bus.openedPaths(); len(got) != 1 || got[0] != "0001:0007:01" {
		t.Fatalf("opened %v", got)
	}
	// Any interface, any serial: the first by path, with a warning.
	if got := testConfig().match(bus.plugged()); len(got) != 3 || got[0].Path != "0001:0005:01" {
		t.Fatalf("match = %v", got)
	}
	// PID 0 is any product of the vendor.
	c = testConfig()
	c.PID = 0
	if got := c.match(bus.plugged()); len(got) != 4 {
		t.Fatalf("match any product = %v", got)
	}
}

func TestRunDecodeErrorAndPOS(t *testing.T) {
	bus := &fakeBus{}
	dev := newFakeDev()
	bus.plug(scanner1, dev)
	c := testConfig()
	c.Mode, c.ReportID = ModePOS, true
	hs := newHarness(t, c, bus)
	hs.start()
	bad := make([]byte, 64)
	bad[0], bad[1] = 2, 60
	good := make([]byte, 64)
	copy(good, "\x02\x04]d21234")
	dev.send(bad, good)
	s := hs.scan()
	if string(s.Raw) != "1234" || s.Symbology != "]d2" {
		t.Fatalf("scan %+v", s)
	}
	fb := <-hs.fbs
	if fb.Status != device.StatusRejected || fb.Reason != "decode_error" || !strings.Contains(fb.Message, "scan again") {
		t.Fatalf("feedback %+v", fb)
	}
	if h := hs.src.Health(); h.Errors != 1 || h.Scans != 1 || !strings.Contains(h.LastError, "length 60") || !strings.Contains(h.Detail, "hid-pos") {
		t.Fatalf("health %+v", h)
	}
	if strings.Contains(hs.log.String(), "no longer types") {
		t.Fatal("kernel driver warning in pos mode")
	}
}

func TestRunEmptyReads(t *testing.T) {
	bus := &fakeBus{}
	dev := newFakeDev()
	bus.plug(scanner1, dev)
	hs := newHarness(t, testConfig(), bus)
	for range maxEmptyReads {
		dev.send([]byte{})
	}
	hs.start()
	waitFor(t, "empty-read error", func() bool { return strings.Contains(hs.log.String(), "empty reads in a row") })
	<-dev.closedCh
	bus.unplugged(scanner1.Path) // else it reopens the closed fake
}

func TestRunTwice(t *testing.T) {
	bus := &fakeBus{}
	bus.plug(scanner1, newFakeDev())
	hs := newHarness(t, testConfig(), bus)
	hs.start()
	waitFor(t, "open", func() bool { return hs.src.Health().Connected })
	h := func(context.Context, device.Scan) device.Feedback { return device.Feedback{} }
	if err := hs.src.Run(context.Background(), h); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Run: %v", err)
	}
}

// Run returns promptly on cancel even while nothing is plugged in.
func TestRunCancelWhileAbsent(t *testing.T) {
	c := testConfig()
	c.PollInterval = time.Minute
	hs := newHarness(t, c, &fakeBus{})
	hs.start()
	waitFor(t, "first poll", func() bool { return strings.Contains(hs.log.String(), "waiting for hid scanner") })
	start := time.Now()
	hs.stop()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Run took %s to return", d)
	}
	if h := hs.src.Health(); h.Connected || h.Errors != 0 || !strings.Contains(h.Detail, "usb 05e0:1200") {
		t.Fatalf("health %+v", h)
	}
}
