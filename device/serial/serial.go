// Package serial is a scan source for scanners on a serial port or USB
// CDC-ACM: a PDA's built-in imager on /dev/ttyS*, a gun in USB-COM mode on
// /dev/ttyACM*. The bytes are cut into codes by a pure Framer; the port
// itself sits behind a small interface so the reader loop, reconnects and
// error reporting are testable without hardware.
package serial

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/pda-agent/pda-agent/device"
	bugst "go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// port is the part of a go.bug.st/serial port the source uses. Close must
// be safe to call concurrently with Read and must unblock it.
type port interface {
	Read([]byte) (int, error)
	SetReadTimeout(time.Duration) error
	Close() error
}

// opener opens a port by path.
type opener func(path string, mode *bugst.Mode) (port, error)

// lister lists the serial ports with their USB details.
type lister func() ([]*enumerator.PortDetails, error)

// openPort locks path (see portLock) and opens it. Locking first means a
// second agent is refused before it can touch the line settings.
func openPort(path string, mode *bugst.Mode) (port, error) {
	lk, err := lockPort(path)
	if err != nil {
		return nil, err
	}
	p, err := bugst.Open(path, mode)
	if err != nil {
		_ = lk.release()
		return nil, err // not a typed nil in the interface
	}
	return &lockedPort{Port: p, lock: lk}, nil
}

// lockedPort is an open port and its lock, released when the port closes.
type lockedPort struct {
	bugst.Port
	lock *portLock
	once sync.Once
}

func (p *lockedPort) Close() error {
	err := p.Port.Close()
	p.once.Do(func() { _ = p.lock.release() })
	return err
}

func listPorts() ([]*enumerator.PortDetails, error) { return enumerator.GetDetailedPortsList() }

var (
	_ device.Source   = (*Source)(nil)
	_ device.Reporter = (*Source)(nil)
)

// Source reads codes from a serial scanner. It implements device.Source
// and device.Reporter.
type Source struct {
	name     string
	cfg      Config // validated, defaulted
	log      *slog.Logger
	health   *device.HealthTracker
	open     opener
	list     lister
	now      func() time.Time
	feedback func(device.Scan, device.Feedback)
}

// New checks c and returns a source named name. log may be nil.
func New(name string, c Config, log *slog.Logger) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("serial source %s: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{
		name:   name,
		cfg:    c.withDefaults(),
		log:    log.With("source", name, "kind", "serial"),
		health: device.NewHealthTracker(name, "serial"),
		open:   openPort,
		list:   listPorts,
		now:    time.Now,
	}, nil
}

// Name is the source's name in config.
func (s *Source) Name() string { return s.name }

// Health reports the port's state for the status page.
func (s *Source) Health() device.Health { return s.health.Health() }

// SetFeedback sets a function told about input that never reaches the
// handler (an over-long frame, rejected with reason "too_long"), so the
// operator hears about it like any other rejection. Call it before Run.
func (s *Source) SetFeedback(fn func(device.Scan, device.Feedback)) { s.feedback = fn }

// Run opens the port, hands each code to h, and reopens the port with
// backoff when it goes away, until ctx ends; then it returns nil.
func (s *Source) Run(ctx context.Context, h device.Handler) error {
	fr := NewFramer(s.cfg.Prefix, s.cfg.Suffix, s.cfg.MaxFrame)
	bo := backoff{min: s.cfg.ReconnectMin, max: s.cfg.ReconnectMax}
	// lastProblem keys the last problem reported, so a port that stays
	// missing is logged once, not on every retry.
	lastProblem := ""
	s.health.SetConnected(false, s.cfg.target()+" "+s.cfg.lineSettings(), s.now())
	for ctx.Err() == nil {
		p, path, err := s.connect()
		if err != nil {
			if key := problemKey(err); key != lastProblem {
				lastProblem = key
				now := s.now()
				s.health.SetConnected(false, s.cfg.target()+" "+s.cfg.lineSettings(), now)
				s.health.Error(err, now)
				s.log.Warn("serial port unavailable; retrying", "err", err)
			} else {
				s.log.Debug("serial port still unavailable", "err", err)
			}
			if !sleep(ctx, bo.next()) {
				break
			}
			continue
		}
		bo.reset()
		lastProblem = ""
		detail := path + " " + s.cfg.lineSettings()
		s.health.SetConnected(true, detail, s.now())
		s.log.Info("serial port open", "port", path, "line", s.cfg.lineSettings())

		err = s.read(ctx, p, fr, h)
		if !closePort(p) {
			s.log.Warn("serial port did not close in time; left open (is another program reading it?)", "port", path, "waited", closeWait)
		}
		partial := fr.Pending()
		fr.Reset()
		now := s.now()
		s.health.SetConnected(false, "", now)
		if ctx.Err() != nil {
			break
		}
		lost := lostError(path, err, partial)
		lastProblem = "lost"
		s.health.Error(lost, now)
		s.log.Warn("serial port lost; reconnecting", "err", lost)
		if !sleep(ctx, bo.next()) {
			break
		}
	}
	s.log.Info("serial source stopped")
	return nil
}

// connect finds and opens the port.
func (s *Source) connect() (port, string, error) {
	path := s.cfg.Port
	if path == "" {
		// Enumerate on every attempt: a replugged scanner may come back
		// as /dev/ttyACM1.
		ports, err := s.list()
		if err != nil {
			return nil, "", &openError{kind: kindOther, msg: "list serial ports: " + err.Error(), err: err}
		}
		if path, err = selectPort(ports, s.cfg.USBVID, s.cfg.USBPID, s.cfg.USBSerial); err != nil {
			return nil, "", err
		}
	}
	p, err := s.open(path, s.cfg.mode())
	if err != nil {
		return nil, path, s.openFailed(path, err)
	}
	return p, path, nil
}

// read runs one connection: it reads until the port fails or ctx ends.
// The Reads happen on a goroutine of their own so that a stop never waits
// for one: go.bug.st/serial's Read can sit in read(2) after select said
// the port was readable but another reader took the bytes, and then
// nothing but new input ends it.
func (s *Source) read(ctx context.Context, p port, fr *Framer, h device.Handler) error {
	rd := startReader(p)
	defer rd.stop()

	var last time.Time // when the last byte came in
	for {
		// Wait forever between codes and only IdleTimeout inside one, so
		// an idle scanner costs no wakeups; a timed-out Read returns
		// (0, nil), which ends the frame.
		want := bugst.NoTimeout
		if fr.Pending() > 0 {
			want = s.cfg.IdleTimeout
		}
		var r readResult
		select {
		case rd.req <- want:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case r = <-rd.res:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.n > 0 {
			last = s.now()
			frames, errs := fr.Feed(rd.buf[:r.n])
			for _, e := range errs {
				s.tooLong(e, last)
			}
			for _, f := range frames {
				s.deliver(ctx, h, f, last)
			}
		}
		if r.err != nil {
			return r.err
		}
		if r.n == 0 {
			if f, ok := fr.Flush(); ok {
				s.deliver(ctx, h, f, last)
			}
		}
	}
}

// reader does a port's Reads, one per request, on its own goroutine. Only
// it touches the read timeout (go.bug.st/serial does not lock it) and buf
// between a request and its result.
type reader struct {
	p   port
	buf []byte
	req chan time.Duration
	res chan readResult
}

type readResult struct {
	n   int
	err error
}

func startReader(p port) *reader {
	// res has room for the answer to a request abandoned at shutdown, so
	// the goroutine can finish and see req closed.
	r := &reader{p: p, buf: make([]byte, 256), req: make(chan time.Duration), res: make(chan readResult, 1)}
	go r.loop()
	return r
}

func (r *reader) loop() {
	var timeout time.Duration // 0: not set yet; never a wanted value
	for want := range r.req {
		if want != timeout {
			if err := r.p.SetReadTimeout(want); err != nil {
				r.res <- readResult{err: fmt.Errorf("set read timeout: %w", err)}
				continue
			}
			timeout = want
		}
		n, err := r.p.Read(r.buf)
		r.res <- readResult{n: n, err: err}
	}
}

// stop lets the goroutine end once its Read returns (the port's Close is
// what makes it return).
func (r *reader) stop() { close(r.req) }

// closeWait bounds how long a stop waits for the port to close. Close
// waits for a pending Read, which a read(2) stuck as above never ends;
// the process is stopping anyway, so the port is left to the kernel.
const closeWait = time.Second

// closePort closes p, giving up after closeWait; false if it gave up.
func closePort(p port) bool {
	done := make(chan struct{})
	go func() {
		_ = p.Close() // may already be closed; the read error says why
		close(done)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func (s *Source) deliver(ctx context.Context, h device.Handler, raw []byte, at time.Time) {
	if ctx.Err() != nil {
		return // shutting down: the handler could not record it anyway
	}
	s.health.ScanSeen(at)
	fb := h(ctx, device.Scan{Source: s.name, Raw: raw, At: at})
	// A serial scanner has no way to show the verdict; the agent's own
	// feedback (log, bell) does that.
	s.log.Debug("scan", "status", fb.Status, "reason", fb.Reason)
}

func (s *Source) tooLong(err error, at time.Time) {
	fb := device.Feedback{Status: device.StatusRejected, Reason: "too_long",
		Message: fmt.Sprintf("more than %d bytes without a terminator: not a code (scans run together, or a wrong suffix setting?); scan again", s.cfg.MaxFrame)}
	s.health.Error(err, at)
	s.log.Warn("input discarded", "err", err)
	if s.feedback != nil {
		s.feedback(device.Scan{Source: s.name, At: at}, fb)
	}
}

// lostError describes a port that failed while open.
func lostError(path string, err error, partial int) error {
	var why string
	var pe *bugst.PortError
	if errors.As(err, &pe) && pe.Code() == bugst.PortClosed {
		why = fmt.Sprintf("%s closed (unplugged?)", path)
	} else {
		why = fmt.Sprintf("%s: read failed", path)
	}
	if partial > 0 {
		why += fmt.Sprintf("; discarded %d bytes of an unfinished code: scan it again", partial)
	}
	return fmt.Errorf("%s: %w", why, err)
}

// problemKind sorts open failures for messages and for logging each once.
type problemKind int

const (
	kindOther problemKind = iota
	kindBusy
	kindPermission
	kindNotFound
	kindAmbiguous
)

// openError is a port that could not be found or opened, with a message
// that tells the operator what to do.
type openError struct {
	kind problemKind
	msg  string
	err  error
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.err }

// problemKey is what must change for a retry's failure to be reported
// again; a not-found message listing other ports is still the same
// problem.
func problemKey(err error) string {
	var oe *openError
	if errors.As(err, &oe) && oe.kind != kindOther {
		return fmt.Sprint(oe.kind)
	}
	return err.Error()
}

// openFailed turns an open error into one that says what to do.
func (s *Source) openFailed(path string, err error) error {
	var pe *bugst.PortError
	isPE := errors.As(err, &pe)
	var le *lockedError
	switch {
	case errors.As(err, &le):
		return &openError{kind: kindBusy, err: err,
			msg: fmt.Sprintf("%s is in use by %s, which holds its lock (another agent on the same port?); stop it or give each scanner its own port", path, describePid(le.pid))}
	case isPE && pe.Code() == bugst.PortBusy || errors.Is(err, syscall.EBUSY):
		return &openError{kind: kindBusy, err: err,
			msg: fmt.Sprintf("%s is held by another program (is ModemManager or another agent using it?)", path)}
	case isPE && pe.Code() == bugst.PermissionDenied || errors.Is(err, fs.ErrPermission):
		return &openError{kind: kindPermission, err: err,
			msg: fmt.Sprintf("permission denied on %s: add the pda-agent user to the dialout group or install configs/99-pda-scanners.rules", path)}
	case isPE && pe.Code() == bugst.PortNotFound || errors.Is(err, fs.ErrNotExist):
		seen := "unknown"
		if ports, lerr := s.list(); lerr != nil {
			seen = "unknown (" + lerr.Error() + ")"
		} else {
			seen = describePorts(ports)
		}
		return &openError{kind: kindNotFound, err: err,
			msg: fmt.Sprintf("%s not found (unplugged?); serial ports seen: %s", path, seen)}
	}
	return &openError{kind: kindOther, err: err, msg: fmt.Sprintf("open %s: %v", path, err)}
}

// backoff is an exponential delay, from min doubling up to max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
