package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pda-agent/pda-agent/device"
)

// ErrTimeout is what FrameSource.Next returns (possibly wrapped) when no
// frame arrived within the timeout.
var ErrTimeout = errors.New("camera: no frame within the timeout")

// FrameSource delivers raw frames from a camera. The capture loop owns it:
// all its methods are called from one goroutine.
type FrameSource interface {
	// Start starts streaming.
	Start() error
	// Next waits up to timeout for the next frame and returns a copy the
	// caller owns (never the driver's buffer). It returns ErrTimeout when
	// no frame came in time and another error when the device failed.
	Next(timeout time.Duration) ([]byte, error)
	// Close stops streaming and releases the device.
	Close() error
	// Format is the negotiated frame size and format (YUYV, GREY or
	// MJPG); valid after Start.
	Format() (w, h int, fourcc string)
}

// Recycler is a FrameSource that takes frames back once the caller is done
// with them, to reuse their memory instead of allocating a frame's worth
// for every frame.
type Recycler interface {
	Recycle(frame []byte)
}

// Opener opens the frame source a config describes.
type Opener func(c Config) (FrameSource, error)

// Source is a camera scan source; it implements device.Source and
// device.Reporter.
type Source struct {
	name   string
	cfg    Config
	open   Opener
	log    *slog.Logger
	health *device.HealthTracker

	running atomic.Bool

	// Knobs tests turn.
	now         func() time.Time
	minBackoff  time.Duration
	maxBackoff  time.Duration
	maxTimeouts int // consecutive frame timeouts before reopening
	stats       stats
}

// stats counts frames, for tests and the debug log.
type stats struct {
	captured, dropped, processed, decoded, scans atomic.Uint64
}

var (
	_ device.Source   = (*Source)(nil)
	_ device.Reporter = (*Source)(nil)
)

// New makes a camera source on the V4L2 device in c. It opens nothing:
// the device is opened when Run starts and reopened whenever it fails,
// so a camera plugged in later is picked up. On systems without V4L2 New
// fails.
func New(name string, c Config, log *slog.Logger) (*Source, error) {
	if err := v4l2Available(); err != nil {
		return nil, err
	}
	return NewFromFrames(name, c, OpenV4L2, log)
}

// NewFromFrames makes a camera source that reads frames from what open
// returns: another capture API, recorded frames, a test fake.
func NewFromFrames(name string, c Config, open Opener, log *slog.Logger) (*Source, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, err
	}
	if open == nil {
		return nil, errors.New("camera: no frame source opener")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Source{
		name: name, cfg: c, open: open, log: log,
		health:      device.NewHealthTracker(name, "camera"),
		now:         time.Now,
		minBackoff:  500 * time.Millisecond,
		maxBackoff:  5 * time.Second, // a camera plugged back in is read within seconds
		maxTimeouts: 3,
	}, nil
}

// Name is the source's name.
func (s *Source) Name() string { return s.name }

// Health reports the camera's state.
func (s *Source) Health() device.Health { return s.health.Health() }

// Config is the source's config with defaults filled in.
func (s *Source) Config() Config { return s.cfg }

// captured is one frame handed from the capture goroutine to Run.
type captured struct {
	data   []byte
	w, h   int
	fourcc string
	at     time.Time
	from   FrameSource
}

func (f captured) recycle() {
	if r, ok := f.from.(Recycler); ok && f.data != nil {
		r.Recycle(f.data)
	}
}

// Run captures and decodes frames and hands each new code to h until ctx
// ends (then it returns nil, after the capture goroutine has closed the
// device: at most FrameTimeout later). Device errors are reported in
// Health and the device is reopened with backoff; Run itself only fails
// if it is already running.
//
// One goroutine captures and keeps only the newest frame; Run's goroutine
// decodes it and calls h. While decoding or h is slow, older frames are
// dropped rather than queued.
func (s *Source) Run(ctx context.Context, h device.Handler) error {
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("camera %s: already running", s.name)
	}
	defer s.running.Store(false)
	dec, err := NewDecoder(s.cfg)
	if err != nil {
		return fmt.Errorf("camera %s: %w", s.name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	latest := make(chan captured, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.capture(ctx, latest)
	}()
	defer func() {
		cancel()
		<-done
		select {
		case f := <-latest:
			f.recycle()
		default:
		}
	}()

	st := &runState{dec: dec, seen: map[string]time.Time{}, limit: logLimiter{every: time.Minute}}
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-latest:
			s.handle(ctx, st, f, h)
			s.stats.processed.Add(1)
		}
	}
}

// runState is what Run keeps between frames.
type runState struct {
	dec    *Decoder
	fd     frameDecoder
	seen   map[string]time.Time // codes in view: when last seen
	limit  logLimiter
	panics uint64
}

// handle decodes one frame and hands a new code to h.
func (s *Source) handle(ctx context.Context, st *runState, f captured, h device.Handler) {
	img, err := st.fd.toGray(f.data, f.w, f.h, f.fourcc)
	if err != nil {
		f.recycle()
		err = fmt.Errorf("camera %s: %w", s.name, err)
		s.health.Error(err, f.at)
		if st.limit.ok("frame:"+err.Error(), f.at) {
			s.log.Warn("camera: bad frame", "scanner", s.name, "err", err)
		}
		return
	}
	res, ok := st.dec.Decode(img)
	f.recycle() // img may share the frame's memory: only after decoding
	if p := st.dec.Panics(); p != st.panics {
		st.panics = p
		err := fmt.Errorf("camera %s: decoder panicked on a frame (recovered, %d so far)", s.name, p)
		s.health.Error(err, f.at)
		if st.limit.ok("panic", f.at) {
			s.log.Warn("camera: decoder panic", "scanner", s.name, "err", err)
		}
	}
	if !ok {
		return
	}
	s.stats.decoded.Add(1)
	if !fresh(st.seen, res, f.at, s.cfg.RepeatWindow) {
		return
	}
	s.stats.scans.Add(1)
	s.health.ScanSeen(f.at)
	fb := h(ctx, device.Scan{Source: s.name, Raw: []byte(res.Text), Symbology: res.Symbology, GSReliable: true, At: f.at})
	// The code was in view while h ran (it may block on a slow disk);
	// count it as seen until now, or the next frame would scan it again.
	if now := s.now(); now.After(f.at) {
		st.seen[key(res)] = now
	}
	s.log.Debug("camera scan", "scanner", s.name, "symbology", res.Symbology, "format", string(res.Format),
		"region", res.Region.String(), "status", string(fb.Status), "message", fb.Message)
}

func key(r Result) string { return r.Symbology + "\x00" + r.Text }

// fresh reports whether r seen at is a new scan, and records it as seen:
// the same code seen within window of the last time it was seen is the
// same scan (it stayed in view). Entries not seen for a window are
// dropped, so the map holds only codes in view.
func fresh(seen map[string]time.Time, r Result, at time.Time, window time.Duration) bool {
	k := key(r)
	last, ok := seen[k]
	for kk, t := range seen {
		if at.Sub(t) >= window {
			delete(seen, kk)
		}
	}
	if ok && at.Sub(last) < window {
		if at.After(last) {
			seen[k] = at
		}
		return false
	}
	seen[k] = at
	return true
}

// capture opens the device and streams frames into latest until ctx ends,
// reopening with backoff after failures.
func (s *Source) capture(ctx context.Context, latest chan captured) {
	backoff := s.minBackoff
	limit := logLimiter{every: time.Minute}
	for ctx.Err() == nil {
		fs, err := s.start()
		if err != nil {
			now := s.now()
			s.health.SetConnected(false, "", now)
			s.health.Error(err, now)
			if limit.ok("open:"+err.Error(), now) {
				s.log.Warn("camera: cannot open; retrying", "scanner", s.name, "err", err, "every", backoff)
			}
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, s.maxBackoff)
			continue
		}
		w, h, fourcc := fs.Format()
		s.health.SetConnected(true, fmt.Sprintf("%s %dx%d %s", s.cfg.Device, w, h, fourcc), s.now())
		s.log.Info("camera streaming", "scanner", s.name, "device", s.cfg.Device, "size", fmt.Sprintf("%dx%d", w, h), "format", fourcc)
		n, err := s.stream(ctx, fs, w, h, fourcc, latest)
		if cerr := fs.Close(); cerr != nil && err == nil && ctx.Err() == nil {
			err = fmt.Errorf("camera %s: close %s: %w", s.name, s.cfg.Device, cerr)
		}
		s.health.SetConnected(false, "", s.now())
		if ctx.Err() != nil {
			return
		}
		s.health.Error(err, s.now())
		s.log.Warn("camera: lost the device; reopening", "scanner", s.name, "err", err,
			"frames", n, "dropped", s.stats.dropped.Load())
		if n > 0 {
			backoff = s.minBackoff
		}
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, s.maxBackoff)
	}
}

// start opens and starts the frame source.
func (s *Source) start() (FrameSource, error) {
	fs, err := s.open(s.cfg)
	if err != nil {
		return nil, fmt.Errorf("camera %s: open %s: %w", s.name, s.cfg.Device, err)
	}
	if err := fs.Start(); err != nil {
		fs.Close()
		return nil, fmt.Errorf("camera %s: start streaming %s: %w", s.name, s.cfg.Device, err)
	}
	return fs, nil
}

// stream reads frames into latest, replacing a frame Run has not taken
// yet, until ctx ends (nil) or the device fails. It returns the number of
// frames read.
func (s *Source) stream(ctx context.Context, fs FrameSource, w, h int, fourcc string, latest chan captured) (int, error) {
	n, timeouts := 0, 0
	for ctx.Err() == nil {
		data, err := fs.Next(s.cfg.FrameTimeout)
		if errors.Is(err, ErrTimeout) {
			timeouts++
			s.health.Error(fmt.Errorf("camera %s: no frame from %s in %v: %w", s.name, s.cfg.Device, s.cfg.FrameTimeout, err), s.now())
			if timeouts >= s.maxTimeouts {
				// Some drivers stall for good; reopening revives them.
				return n, fmt.Errorf("camera %s: no frame from %s in %d tries: %w", s.name, s.cfg.Device, timeouts, err)
			}
			continue
		}
		if err != nil {
			return n, fmt.Errorf("camera %s: read %s: %w", s.name, s.cfg.Device, err)
		}
		timeouts = 0
		n++
		s.stats.captured.Add(1)
		f := captured{data: data, w: w, h: h, fourcc: fourcc, at: s.now(), from: fs}
		select {
		case latest <- f:
		default:
			// Run is still busy with the frame before: replace the stale
			// one waiting. Only this goroutine sends, so after taking it
			// the send cannot block.
			select {
			case old := <-latest:
				old.recycle()
				s.stats.dropped.Add(1)
			default:
			}
			latest <- f
		}
	}
	return n, nil
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

// logLimiter keeps a failing camera from flooding the log: a message is
// logged when it differs from the last one or every so often.
type logLimiter struct {
	every time.Duration
	last  string
	at    time.Time
}

func (l *logLimiter) ok(msg string, now time.Time) bool {
	if msg == l.last && now.Sub(l.at) < l.every {
		return false
	}
	l.last, l.at = msg, now
	return true
}
