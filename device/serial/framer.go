package serial

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrFrameTooLong is reported by Framer.Feed for input longer than the
// frame limit; the input is discarded up to the next terminator.
var ErrFrameTooLong = errors.New("frame too long")

// gs is the GS1 group separator, which is data in a code.
const gs = 0x1D

// Framer cuts a scanner's byte stream into codes. It knows nothing of
// ports or time: the caller feeds it what it reads and calls Flush when
// the line has been idle. The zero value is not usable; use NewFramer.
//
// Rules:
//   - The suffix ends a frame and is stripped. A suffix of CRLF also
//     accepts a bare CR or LF, and a suffix of LF drops a CR just before
//     it: scanners are inconsistent about line ends.
//   - A prefix at the start of a frame is stripped; a frame without it is
//     taken anyway.
//   - Between frames, control bytes other than GS are noise and dropped
//     (NULs from a powering-up scanner, the LF after a CR). Inside a frame
//     every byte is kept: the code parser judges them.
//   - Empty frames are never emitted.
//   - A frame over the limit is discarded up to the next terminator (or
//     Flush) and reported once as ErrFrameTooLong, never split into codes.
type Framer struct {
	prefix, suffix []byte
	max            int
	anyEOL         bool // suffix is CRLF: CR or LF ends a frame
	trimCR         bool // suffix is LF: drop a CR before it

	buf     []byte // frame data; while discarding, the tail that may start a suffix
	pmatch  int    // prefix bytes matched at the start of a frame
	started bool   // frame data (or a whole prefix) seen
	over    bool   // discarding an over-long frame
	held    int    // bytes taken since the last frame ended
}

// NewFramer returns a framer for the given prefix and suffix (either may
// be empty) and frame limit in bytes (<= 0: DefaultMaxFrame).
func NewFramer(prefix, suffix []byte, max int) *Framer {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &Framer{
		prefix: bytes.Clone(prefix),
		suffix: bytes.Clone(suffix),
		max:    max,
		anyEOL: string(suffix) == "\r\n",
		trimCR: string(suffix) == "\n",
		buf:    make([]byte, 0, 64),
	}
}

// Feed consumes bytes read from the port and returns the frames they
// complete (fresh slices, prefix and suffix removed) and an error for each
// frame found too long.
func (f *Framer) Feed(b []byte) (frames [][]byte, errs []error) {
	for _, c := range b {
		frames, errs = f.feed(c, frames, errs)
	}
	return frames, errs
}

func (f *Framer) feed(c byte, frames [][]byte, errs []error) ([][]byte, []error) {
	f.held++
	if f.over {
		f.discard(c)
		return frames, errs
	}
	if !f.started {
		if f.pmatch < len(f.prefix) && c == f.prefix[f.pmatch] {
			f.pmatch++
			f.started = f.pmatch == len(f.prefix)
			return frames, errs
		}
		if f.pmatch > 0 {
			// Not the prefix after all: what matched so far is data.
			// Replay it byte by byte so a terminator inside it still counts.
			replay := append(f.prefix[:f.pmatch:f.pmatch], c)
			f.pmatch, f.held, f.started = 0, 1, true
			frames, errs = f.data(replay[0], frames, errs)
			for _, r := range replay[1:] {
				frames, errs = f.feed(r, frames, errs)
			}
			return frames, errs
		}
		if c < 0x20 && c != gs || c == 0x7F {
			f.held--
			return frames, errs
		}
		f.started = true
	}
	return f.data(c, frames, errs)
}

// data adds a byte to a started frame.
func (f *Framer) data(c byte, frames [][]byte, errs []error) ([][]byte, []error) {
	f.buf = append(f.buf, c)
	if n, ok := f.ended(); ok {
		frame := f.buf[:n]
		if f.trimCR && n > 0 && frame[n-1] == '\r' {
			frame = frame[:n-1]
		}
		if len(frame) > 0 {
			frames = append(frames, bytes.Clone(frame))
		}
		f.Reset()
		return frames, errs
	}
	if f.tooLong() {
		errs = append(errs, fmt.Errorf("%w: more than %d bytes without a terminator", ErrFrameTooLong, f.max))
		f.over = true
		f.keepTail()
	}
	return frames, errs
}

// ended reports whether buf ends with a terminator and the length of the
// data before it.
func (f *Framer) ended() (int, bool) {
	n := len(f.buf)
	switch {
	case f.anyEOL:
		if c := f.buf[n-1]; c == '\r' || c == '\n' {
			return n - 1, true
		}
	case len(f.suffix) > 0:
		if bytes.HasSuffix(f.buf, f.suffix) {
			return n - len(f.suffix), true
		}
	}
	return 0, false
}

// tooLong reports whether no terminator can now end buf within the limit.
func (f *Framer) tooLong() bool {
	n := len(f.buf)
	switch {
	case f.anyEOL || len(f.suffix) == 0:
		return n > f.max
	case f.trimCR:
		// Room for the CR of a CRLF scanner under an LF setting.
		return n > f.max+1 || n == f.max+1 && f.buf[n-1] != '\r'
	default:
		// The shortest frame buf can still become ends where the suffix
		// begun at its tail would end.
		return n-f.overlap() > f.max
	}
}

// overlap is the length of the longest proper start of the suffix that
// buf ends with: a terminator that may be arriving.
func (f *Framer) overlap() int {
	for j := min(len(f.suffix)-1, len(f.buf)); j > 0; j-- {
		if bytes.HasSuffix(f.buf, f.suffix[:j]) {
			return j
		}
	}
	return 0
}

// discard drops a byte of an over-long frame, watching for its end.
func (f *Framer) discard(c byte) {
	if f.anyEOL {
		if c == '\r' || c == '\n' {
			f.Reset()
		}
		return
	}
	if len(f.suffix) == 0 {
		return
	}
	f.buf = append(f.buf, c)
	if bytes.HasSuffix(f.buf, f.suffix) {
		f.Reset()
		return
	}
	f.keepTail()
}

// keepTail keeps only the bytes of buf that could begin a suffix.
func (f *Framer) keepTail() {
	keep := max(len(f.suffix)-1, 0)
	if f.anyEOL {
		keep = 0
	}
	if len(f.buf) > keep {
		f.buf = append(f.buf[:0], f.buf[len(f.buf)-keep:]...)
	}
}

// Flush ends the current frame because the line went idle and returns it,
// if there is one. A terminator cut short at its end (the CR of CRLF under
// an LF setting, the start of a multi-byte suffix) is dropped. An
// unfinished over-long frame, or a lone prefix, ends without a frame.
func (f *Framer) Flush() ([]byte, bool) {
	defer f.Reset()
	if f.over || !f.started || len(f.buf) == 0 {
		return nil, false
	}
	frame := f.buf
	switch {
	case f.trimCR:
		frame = bytes.TrimSuffix(frame, []byte{'\r'})
	case !f.anyEOL && len(f.suffix) > 1:
		frame = frame[:len(frame)-f.overlap()]
	}
	if len(frame) == 0 {
		return nil, false
	}
	return bytes.Clone(frame), true
}

// Pending is the number of bytes taken since the last frame ended: the
// unfinished frame, prefix included. Zero when between frames.
func (f *Framer) Pending() int { return f.held }

// Reset drops any unfinished frame, e.g. when the port goes away, so it
// is never glued to the next one.
func (f *Framer) Reset() {
	f.buf = f.buf[:0]
	f.pmatch, f.started, f.over, f.held = 0, false, false, 0
}
