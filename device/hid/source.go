package hid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pda-agent/pda-agent/device"
)

// Reader tuning.
const (
	// readSize holds any report of a full-speed device (64 bytes plus the
	// report id) with room to spare; hidapi truncates to it.
	readSize = 256
	// reportQueue buffers reports while the handler makes a scan durable,
	// so hidapi's own queue (30 reports, then it drops the oldest) never
	// fills: a long keyboard-wedge code is two reports per character.
	reportQueue = 1024
	// maxEmptyReads ends a connection whose device keeps returning no
	// data instead of blocking, rather than spin on it.
	maxEmptyReads = 100
)

// Source reads codes from a USB HID scanner. It implements device.Source
// and device.Reporter.
type Source struct {
	name      string
	cfg       Config // validated, defaulted
	log       *slog.Logger
	health    *device.HealthTracker
	enumerate enumerator
	open      opener
	now       func() time.Time
	feedback  func(device.Scan, device.Feedback)
	running   atomic.Bool
}

// New checks c and returns a source named name; it opens nothing. log may
// be nil. Without USB support in the build it fails with ErrUnavailable.
func New(name string, c Config, log *slog.Logger) (*Source, error) {
	if !Available() {
		return nil, fmt.Errorf("hid source %s: %w", name, ErrUnavailable)
	}
	return newSource(name, c, log, enumerateUSB, openUSB)
}

func newSource(name string, c Config, log *slog.Logger, enumerate enumerator, open opener) (*Source, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("hid source %s: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{
		name:      name,
		cfg:       c.withDefaults(),
		log:       log.With("source", name, "kind", "hid"),
		health:    device.NewHealthTracker(name, "hid"),
		enumerate: enumerate,
		open:      open,
		now:       time.Now,
	}, nil
}

// Name is the source's name in config.
func (s *Source) Name() string { return s.name }

// Health reports the scanner's state for the status page.
func (s *Source) Health() device.Health { return s.health.Health() }

// SetFeedback sets a function told about codes that never reach the
// handler because they could not be decoded (reason "decode_error"), so
// the operator hears to scan again. Call it before Run.
func (s *Source) SetFeedback(fn func(device.Scan, device.Feedback)) { s.feedback = fn }

// Run finds and opens the scanner, hands each code to h, and looks for the
// scanner again every PollInterval when it is unplugged, until ctx ends;
// then it returns nil at once (see the package comment for the reader it
// may leave parked). Run must not be called again while it runs.
func (s *Source) Run(ctx context.Context, h device.Handler) error {
	if h == nil {
		return fmt.Errorf("hid source %s: nil handler", s.name)
	}
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("hid source %s: already running", s.name)
	}
	defer s.running.Store(false)
	s.health.SetConnected(false, s.cfg.target()+" "+s.cfg.modeDetail(), s.now())
	for {
		dev, info, err := s.connect(ctx)
		if err != nil {
			break // ctx ended
		}
		err = s.serve(ctx, dev, info, h)
		now := s.now()
		s.health.SetConnected(false, "", now)
		if ctx.Err() != nil {
			break
		}
		s.health.Error(err, now)
		s.log.Warn("hid scanner lost; looking for it again", "err", err, "every", s.cfg.PollInterval)
		if !sleep(ctx, s.cfg.PollInterval) {
			break
		}
	}
	s.log.Info("hid source stopped")
	return nil
}

// connect polls until the device is there and opens it, or ctx ends.
// Each distinct problem is logged and counted once, not on every poll.
func (s *Source) connect(ctx context.Context) (hidDevice, DeviceInfo, error) {
	lastProblem := ""
	for {
		dev, info, err := s.tryOpen()
		if err == nil {
			return dev, info, nil
		}
		if msg := err.Error(); msg != lastProblem {
			lastProblem = msg
			if errors.Is(err, errNotFound) {
				s.log.Info("waiting for hid scanner", "want", s.cfg.target())
			} else {
				s.health.Error(err, s.now())
				s.log.Warn("hid scanner unavailable; retrying", "err", err, "every", s.cfg.PollInterval)
			}
		}
		if !sleep(ctx, s.cfg.PollInterval) {
			return nil, DeviceInfo{}, ctx.Err()
		}
	}
}

var errNotFound = errors.New("not plugged in")

func (s *Source) tryOpen() (hidDevice, DeviceInfo, error) {
	infos, err := s.enumerate(s.cfg.VID, s.cfg.PID)
	if err != nil {
		return nil, DeviceInfo{}, err
	}
	found := s.cfg.match(infos)
	if len(found) == 0 {
		return nil, DeviceInfo{}, fmt.Errorf("%s: %w", s.cfg.target(), errNotFound)
	}
	info := found[0]
	dev, err := s.open(info)
	if err != nil {
		return nil, info, fmt.Errorf("open %s: %w (on Linux, install configs/99-pda-scanners.rules for access to /dev/bus/usb; or another program, or an earlier run, still holds the scanner)", info, err)
	}
	now := s.now()
	s.health.SetConnected(true, info.String()+" "+s.cfg.modeDetail(), now)
	s.log.Info("hid scanner open", "device", info.String(), "product", info.Product, "mode", s.cfg.modeDetail())
	if len(found) > 1 {
		s.log.Warn("several devices match; using the first (set serial or interface to choose)", "matches", len(found), "using", info.String())
	}
	if detachesKernelDriver && s.cfg.Mode == ModeKeyboard {
		s.log.Warn("while pda-agent reads this scanner it no longer types into the desktop (kernel keyboard driver detached; replug it to type again after pda-agent stops)", "device", info.String())
	}
	return dev, info, nil
}

// report is one read, stamped when it came in.
type report struct {
	data []byte
	at   time.Time
	err  error
}

// serve runs one opened device until it fails or ctx ends.
func (s *Source) serve(ctx context.Context, dev hidDevice, info DeviceInfo, h device.Handler) error {
	reports := make(chan report, reportQueue)
	stop := make(chan struct{})
	defer close(stop)
	go s.read(dev, info, reports, stop)

	var dec decoder
	if s.cfg.Mode == ModePOS {
		dec = newPOS(s.cfg.ReportID)
	} else {
		dec = newKeyboard(layouts[s.cfg.Layout], s.cfg.ReportID, s.cfg.TabEnds)
	}
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	var last time.Time // arrival of the last report decoded
	for {
		var idleC <-chan time.Time
		if dec.pending() {
			idle.Reset(s.cfg.IdleTimeout - s.now().Sub(last))
			idleC = idle.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-reports:
			if err := s.take(ctx, dec, r, &last, h); err != nil {
				return err
			}
		case <-idleC:
			// A report already queued decides by its own arrival time:
			// the handler may have kept us from reading it.
			select {
			case r := <-reports:
				if err := s.take(ctx, dec, r, &last, h); err != nil {
					return err
				}
			default:
				s.emit(ctx, dec.flush(), last, h)
			}
		}
	}
}

// take decodes one report. Idle time is measured between arrivals, not
// between decodes, so a slow handler never splits or joins codes.
func (s *Source) take(ctx context.Context, dec decoder, r report, last *time.Time, h device.Handler) error {
	if dec.pending() && r.at.Sub(*last) >= s.cfg.IdleTimeout {
		s.emit(ctx, dec.flush(), *last, h)
	}
	if r.err != nil {
		if dec.pending() {
			err := errors.New("code in progress dropped: the scanner went away")
			s.emit(ctx, []event{{err: err}}, r.at, h)
		}
		return r.err
	}
	s.emit(ctx, dec.feed(r.data), r.at, h)
	*last = r.at
	return nil
}

// emit acts on decoder events.
func (s *Source) emit(ctx context.Context, events []event, at time.Time, h device.Handler) {
	for _, e := range events {
		switch {
		case e.err != nil:
			s.health.Error(e.err, at)
			s.log.Warn("hid input discarded", "err", e.err)
			if s.feedback != nil {
				s.feedback(device.Scan{Source: s.name, At: at}, device.Feedback{Status: device.StatusRejected,
					Reason: "decode_error", Message: "the scan could not be read: " + e.err.Error() + "; scan again"})
			}
		case e.note != "":
			s.log.Warn("hid input skipped", "note", e.note)
		case len(e.code) > 0:
			if ctx.Err() != nil {
				return // shutting down: the handler could not record it anyway
			}
			s.health.ScanSeen(at)
			fb := h(ctx, device.Scan{Source: s.name, Raw: e.code, Symbology: e.symbology, GSReliable: s.cfg.Mode == ModePOS, At: at})
			// A HID scanner has no way to show the verdict; the agent's
			// own feedback (log, bell, clerk page) does that.
			s.log.Debug("scan", "status", fb.Status, "reason", fb.Reason)
		}
	}
}

// read is the device's one reader goroutine. It alone closes the device,
// after its own Read returned, so Close never races a blocked Read.
func (s *Source) read(dev hidDevice, info DeviceInfo, out chan<- report, stop <-chan struct{}) {
	empty := 0
	for {
		select {
		case <-stop:
			s.closeDevice(dev, info)
			return
		default:
		}
		buf := make([]byte, readSize)
		n, err := dev.Read(buf)
		r := report{data: buf[:n], at: s.now()}
		switch {
		case err != nil:
			r.err = fmt.Errorf("read %s: %w (unplugged?)", info, err)
		case n == 0:
			if empty++; empty < maxEmptyReads {
				continue
			}
			r.err = fmt.Errorf("read %s: %d empty reads in a row", info, empty)
		default:
			empty = 0
		}
		if r.err != nil {
			// Closed before the error is handed on, so the reconnect that
			// follows never finds the interface still claimed.
			s.closeDevice(dev, info)
			select {
			case out <- r:
			case <-stop:
			}
			return
		}
		// Checked first: with room in the queue a select could pick the
		// send and leave the device open until the next report.
		select {
		case <-stop:
			s.log.Warn("hid report came after the source stopped: dropped (scan again)", "device", info.String())
			s.closeDevice(dev, info)
			return
		default:
		}
		select {
		case <-stop:
			s.closeDevice(dev, info)
			return
		case out <- r:
		}
	}
}

func (s *Source) closeDevice(dev hidDevice, info DeviceInfo) {
	if err := dev.Close(); err != nil {
		s.log.Warn("close hid device", "device", info.String(), "err", err)
	}
}

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
