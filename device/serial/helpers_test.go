package serial

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/device"
)

// wait bounds every wait in these tests.
const wait = 3 * time.Second

// logBuf collects a source's log for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count is the number of log lines at level holding every part.
func (l *logBuf) count(level string, parts ...string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		ok := strings.Contains(line, "level="+level+" ")
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// running is a source under test.
type running struct {
	src    *Source
	scans  chan device.Scan
	cancel context.CancelFunc
	done   chan error
}

// start runs src with a handler that accepts every scan; the source is
// stopped, and must stop in time, at the end of the test.
func start(t *testing.T, src *Source) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{src: src, scans: make(chan device.Scan, 64), cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- src.Run(ctx, func(_ context.Context, s device.Scan) device.Feedback {
			r.scans <- s
			return device.Feedback{Status: device.StatusAccepted}
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the source and checks that Run returns nil promptly.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(wait):
		t.Fatalf("Run did not return within %v of cancel", wait)
	}
}

// next is the next scan; it fails the test after the deadline.
func (r *running) next(t *testing.T) device.Scan {
	t.Helper()
	select {
	case s := <-r.scans:
		return s
	case <-time.After(wait):
		t.Fatalf("no scan within %v", wait)
		return device.Scan{}
	}
}

// expect checks the next scans' data, in order.
func (r *running) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		if s := r.next(t); string(s.Raw) != w {
			t.Fatalf("scan %q, want %q", s.Raw, w)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
