//go:build linux

package serial

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"
	bugst "go.bug.st/serial"
	"go.bug.st/serial/enumerator"
	"golang.org/x/sys/unix"
)

// These tests drive the real open path (go.bug.st/serial on a pty slave,
// /dev/pts/N) from the master side, which plays the scanner. Nothing in
// the open path fails on a pty: go.bug.st/serial only touches the modem
// bits when Mode.InitialStatusBits is set, which the source leaves nil,
// and TIOCEXCL works on ptys.

// newPty opens a pty pair and returns the master and the slave's path.
// The test's own slave descriptor is closed at once so that the source's
// is the only one and closing the master hangs it up, like an unplug.
func newPty(t *testing.T) (*os.File, string) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	path := slave.Name()
	if err := slave.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = master.Close() })
	return master, path
}

// countingPort counts the bytes the source has read, so a test knows a
// partial code is in the framer before it pulls the plug.
type countingPort struct {
	port
	n *atomic.Int64
}

func (p countingPort) Read(b []byte) (int, error) {
	n, err := p.port.Read(b)
	p.n.Add(int64(n))
	return n, err
}

func write(t *testing.T, master *os.File, s string) {
	t.Helper()
	if _, err := master.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestPtyLifecycle(t *testing.T) {
	master, path := newPty(t)
	// The source opens a symlink, as udev SYMLINK rules give in the field;
	// a replug is a new pty with the link moved to it.
	link := filepath.Join(t.TempDir(), "scanner")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	const idleTimeout = 250 * time.Millisecond
	lb := &logBuf{}
	src, err := New("gun", Config{Port: link, Suffix: []byte("\r\n"), IdleTimeout: idleTimeout,
		ReconnectMin: 5 * time.Millisecond, ReconnectMax: 40 * time.Millisecond}, lb.logger())
	if err != nil {
		t.Fatal(err)
	}
	// The list only feeds the not-found message; the host's real ports
	// are none of this test's business.
	src.list = func() ([]*enumerator.PortDetails, error) {
		return []*enumerator.PortDetails{{Name: "/dev/ttyACM9", IsUSB: true, VID: "05E0", PID: "1200"}}, nil
	}
	var read atomic.Int64
	opens := atomic.Int32{}
	src.open = func(path string, mode *bugst.Mode) (port, error) {
		p, err := openPort(path, mode)
		if err != nil {
			return nil, err
		}
		opens.Add(1)
		return countingPort{p, &read}, nil
	}
	r := start(t, src)
	waitFor(t, "connected", func() bool { return src.Health().Connected })
	if h := src.Health(); h.Detail != link+" 9600 8N1" {
		t.Fatalf("detail %q", h.Detail)
	}

	// Framed scans, two in one write, GS and AIM id kept.
	write(t, master, "]d2010695\x1d21ABC\r\nCODE2\r\n")
	r.expect(t, "]d2010695\x1d21ABC", "CODE2")

	// No terminator: the idle timeout ends the code, stamped with the
	// time of its last byte.
	written := time.Now()
	write(t, master, "IDLE123")
	s := r.next(t)
	got := time.Now()
	if string(s.Raw) != "IDLE123" || s.Source != "gun" {
		t.Fatalf("scan %+v", s)
	}
	if s.At.Before(written) || got.Sub(s.At) < idleTimeout-time.Millisecond {
		t.Fatalf("idle scan at %v: written %v, delivered %v, idle timeout %v", s.At, written, got, idleTimeout)
	}

	// Line noise between codes is dropped.
	write(t, master, "\x00\x00\x07\r\n\x1b\x7fGOOD1\r\n")
	r.expect(t, "GOOD1")

	// Unplug in the middle of a code.
	before := read.Load()
	write(t, master, "PARTIAL")
	waitFor(t, "the partial code read", func() bool { return read.Load() == before+7 })
	if err := master.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "disconnected", func() bool { return !src.Health().Connected })
	waitFor(t, "not found", func() bool {
		return src.Health().LastError == link+" not found (unplugged?); serial ports seen: /dev/ttyACM9 (USB 05E0:1200 no serial)"
	})
	if n := lb.count("WARN", "serial port lost", link+" closed (unplugged?); discarded 7 bytes of an unfinished code"); n != 1 {
		t.Fatalf("%d lost-port warnings\n%s", n, lb)
	}

	// Replug.
	master2, path2 := newPty(t)
	tmp := link + ".new"
	if err := os.Symlink(path2, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reconnected", func() bool { return src.Health().Connected })
	write(t, master2, "AFTER1\r\n")
	r.expect(t, "AFTER1") // the partial code was neither delivered nor glued on
	if n := opens.Load(); n != 2 {
		t.Fatalf("%d opens, want 2", n)
	}
	if n := lb.count("WARN", "not found"); n != 1 {
		t.Fatalf("%d not-found warnings, want 1 however many retries\n%s", n, lb)
	}
	if h := src.Health(); h.Scans != 5 || h.Errors != 2 {
		t.Fatalf("health %+v", h)
	}

	// Shutdown unblocks the pending Read.
	r.stop(t)
	if src.Health().Connected {
		t.Fatal("connected after stop")
	}
}

// withoutCaps runs open on an OS thread that has given up caps, for tests
// run as root: with CAP_SYS_ADMIN TIOCEXCL does not stop a second open,
// and with CAP_DAC_OVERRIDE mode 000 does not stop any. Capabilities are
// per thread on Linux; the thread is never unlocked, so Go discards it
// when the goroutine ends, and the runtime starts new threads from a
// clean template thread, not from this one.
func withoutCaps(t *testing.T, caps ...int) opener {
	t.Helper()
	drop := func() error {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		for _, c := range caps {
			data[c/32].Effective &^= 1 << (c % 32)
		}
		return unix.Capset(&hdr, &data[0])
	}
	// Check once that it works here, so a failure is a skip, not a
	// misleading open error.
	ok := make(chan error)
	go func() {
		runtime.LockOSThread()
		ok <- drop()
	}()
	if err := <-ok; err != nil {
		t.Skipf("cannot drop capabilities: %v", err)
	}
	return func(path string, mode *bugst.Mode) (port, error) {
		type result struct {
			p   port
			err error
		}
		res := make(chan result)
		go func() {
			runtime.LockOSThread()
			if err := drop(); err != nil {
				res <- result{err: err}
				return
			}
			p, err := openPort(path, mode)
			res <- result{p, err}
		}()
		r := <-res
		return r.p, r.err
	}
}

func TestPtyBusy(t *testing.T) {
	master, path := newPty(t)
	holder, err := bugst.Open(path, &bugst.Mode{}) // takes the port with TIOCEXCL
	if err != nil {
		t.Fatal(err)
	}
	lb := &logBuf{}
	src, err := New("gun", Config{Port: path, Suffix: []byte("\r"), ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond}, lb.logger())
	if err != nil {
		t.Fatal(err)
	}
	open := withoutCaps(t, unix.CAP_SYS_ADMIN)
	var tries atomic.Int32
	src.open = func(path string, mode *bugst.Mode) (port, error) {
		tries.Add(1)
		return open(path, mode)
	}
	r := start(t, src)
	want := path + " is held by another program (is ModemManager or another agent using it?)"
	waitFor(t, "the busy error", func() bool { return src.Health().LastError == want })
	waitFor(t, "retries", func() bool { return tries.Load() >= 4 })
	if n := lb.count("WARN", want); n != 1 {
		t.Fatalf("%d busy warnings, want 1\n%s", n, lb)
	}
	// The other program lets go: the source takes the port.
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connected", func() bool { return src.Health().Connected })
	write(t, master, "OK1\r")
	r.expect(t, "OK1")
}

func TestPtyPermissionDenied(t *testing.T) {
	master, path := newPty(t)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	src, err := New("gun", Config{Port: path, Suffix: []byte("\r"), ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.open = withoutCaps(t, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH)
	r := start(t, src)
	want := "permission denied on " + path + ": add the pda-agent user to the dialout group or install configs/99-pda-scanners.rules"
	waitFor(t, "the permission error", func() bool { return src.Health().LastError == want })
	if err := os.Chmod(path, 0o620); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connected", func() bool { return src.Health().Connected })
	write(t, master, "OK2\r")
	r.expect(t, "OK2")
	if h := src.Health(); !strings.HasPrefix(h.Detail, path+" 9600 8N1") {
		t.Fatalf("detail %q", h.Detail)
	}
}
