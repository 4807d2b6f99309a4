//go:build linux

package serial

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/device"
	bugst "go.bug.st/serial"
)

// stopBound is what the issue asks of a stop with a scanner attached.
const stopBound = 2 * time.Second

// runUntilCancel starts src, waits for it to hold the port, cancels it and
// returns how long Run took to return.
func runUntilCancel(t *testing.T, src *Source, meanwhile func()) time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(context.Context, device.Scan) device.Feedback {
			return device.Feedback{Status: device.StatusAccepted}
		})
	}()
	waitFor(t, "connected", func() bool { return src.Health().Connected })
	if meanwhile != nil {
		meanwhile()
	}
	began := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return time.Since(began)
	case <-time.After(10 * stopBound):
		t.Fatalf("Run still running %v after cancel", 10*stopBound)
		return 0
	}
}

func TestPtyStopSilent(t *testing.T) {
	_, path := newPty(t)
	src, err := New("gun", Config{Port: path, Suffix: []byte("\r")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := runUntilCancel(t, src, func() { time.Sleep(100 * time.Millisecond) }); d > stopBound {
		t.Fatalf("stop took %v, want at most %v", d, stopBound)
	}
	// The port and its lock are free again.
	p, err := openPort(path, &bugst.Mode{})
	if err != nil {
		t.Fatalf("reopen after stop: %v", err)
	}
	_ = p.Close()
}

// TestPtyStopWithStolenBytes: another reader on the same pty (root gets
// past TIOCEXCL and this one ignores the lock) takes bytes the source's
// select woke for, which leaves the source's Read in read(2) with nothing
// to end it. The stop must not wait for it.
func TestPtyStopWithStolenBytes(t *testing.T) {
	master, path := newPty(t)
	lb := &logBuf{}
	src, err := New("gun", Config{Port: path, Suffix: []byte("\r"), IdleTimeout: time.Hour}, lb.logger())
	if err != nil {
		t.Fatal(err)
	}
	d := runUntilCancel(t, src, func() {
		thief, err := bugst.Open(path, &bugst.Mode{})
		if err != nil {
			t.Skipf("no second open of the pty (not root?): %v", err)
		}
		t.Cleanup(func() { _ = thief.Close() })
		stolen := make(chan struct{}, 64)
		go func() {
			buf := make([]byte, 1)
			for {
				if n, err := thief.Read(buf); err != nil {
					return
				} else if n > 0 {
					stolen <- struct{}{}
				}
			}
		}()
		// Byte by byte until the thief has taken a few: each race it wins
		// can strand the source in read(2).
		for got := 0; got < 8; {
			write(t, master, "x")
			select {
			case <-stolen:
				got++
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	if d > stopBound {
		t.Fatalf("stop took %v, want at most %v\n%s", d, stopBound, lb)
	}
}

// stuckPort is a port whose Read never returns and whose Close waits for
// the Read, as go.bug.st/serial's does with a read(2) no input ends.
type stuckPort struct {
	mu      sync.RWMutex // held by Read, as go.bug.st/serial's closeLock
	reading chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *stuckPort) Read([]byte) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.once.Do(func() { close(p.reading) })
	<-p.release
	return 0, errors.New("released")
}

func (*stuckPort) SetReadTimeout(time.Duration) error { return nil }

func (p *stuckPort) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return nil
}

func TestSourceStopsWhenCloseHangs(t *testing.T) {
	p := &stuckPort{reading: make(chan struct{}), release: make(chan struct{})}
	defer close(p.release)
	src, lb := newFakeSource(t, Config{}, &fakeOpener{results: []openResult{{p: p}}}, nil)
	d := runUntilCancel(t, src, func() { <-p.reading })
	if d > stopBound || d < closeWait {
		t.Fatalf("stop took %v, want between %v and %v", d, closeWait, stopBound)
	}
	if n := lb.count("WARN", "serial port did not close in time"); n != 1 {
		t.Fatalf("%d close warnings, want 1\n%s", n, lb)
	}
}

func TestPortLockSameProcess(t *testing.T) {
	_, path := newPty(t)
	p, err := openPort(path, &bugst.Mode{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = openPort(path, &bugst.Mode{})
	var le *lockedError
	if !errors.As(err, &le) || le.pid != os.Getpid() {
		t.Fatalf("second open: %v, want locked by pid %d", err, os.Getpid())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p, err = openPort(path, &bugst.Mode{})
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	_ = p.Close()
}

// TestPortLockHolderProcess is not a test: TestPortLockOtherProcess runs
// the test binary as a second agent that holds the port given in the
// environment until its stdin closes.
func TestPortLockHolderProcess(t *testing.T) {
	path := os.Getenv("PDA_SERIAL_LOCK_HOLDER")
	if path == "" {
		t.Skip("helper process only")
	}
	p, err := openPort(path, &bugst.Mode{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("holding")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = p.Close()
	os.Exit(0)
}

func TestPortLockOtherProcess(t *testing.T) {
	_, path := newPty(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPortLockHolderProcess$")
	cmd.Env = append(os.Environ(), "PDA_SERIAL_LOCK_HOLDER="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "holding\n" {
		t.Fatalf("holder: %q %v", line, err)
	}

	lb := &logBuf{}
	src, err := New("gun", Config{Port: path, Suffix: []byte("\r"), ReconnectMin: 5 * time.Millisecond, ReconnectMax: 20 * time.Millisecond}, lb.logger())
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, src)
	pid := strconv.Itoa(cmd.Process.Pid)
	want := path + " is in use by pid " + pid + " (serial.test), which holds its lock"
	waitFor(t, "the locked error", func() bool { return strings.HasPrefix(src.Health().LastError, want) })
	if src.Health().Connected {
		t.Fatal("connected to a port another process holds")
	}
	// The holder stops: the source takes the port.
	_ = stdin.Close()
	_ = cmd.Wait()
	waitFor(t, "connected", func() bool { return src.Health().Connected })
	if n := lb.count("WARN", "pid "+pid); n != 1 {
		t.Fatalf("%d warnings naming the holder, want 1\n%s", n, lb)
	}
	r.stop(t)
}

func TestFindLockHolder(t *testing.T) {
	locks := `1: POSIX  ADVISORY  WRITE 700 00:18:3 0 EOF
2: FLOCK  ADVISORY  WRITE 4242 00:1a:7 0 EOF
2: -> FLOCK  ADVISORY  WRITE 4343 00:1a:7 0 EOF
3: FLOCK  ADVISORY  WRITE 99 103:02:7 0 EOF
`
	for _, c := range []struct {
		major, minor uint32
		ino          uint64
		pid          int
	}{
		{0, 0x1a, 7, 4242}, // the waiter 4343 is not the holder
		{0x103, 2, 7, 99},
		{0, 0x18, 3, 0}, // a POSIX lock is not ours
		{0, 0x1a, 8, 0},
	} {
		pid, ok := findLockHolder(bufio.NewScanner(strings.NewReader(locks)), c.major, c.minor, c.ino)
		if pid != c.pid || ok != (c.pid != 0) {
			t.Errorf("%x:%x:%d: pid %d %v, want %d", c.major, c.minor, c.ino, pid, ok, c.pid)
		}
	}
}
