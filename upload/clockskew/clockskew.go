// Package clockskew measures how far this device's clock is from the back
// ends' clocks, from the Date header of their HTTP answers, and gives the
// clients a corrected clock for the times they put in requests.
//
// Why: a PDA whose real-time clock lost power, or that never synchronised
// (no NTP through the store's router), stamps its requests minutes or years
// off. 码上放心 refuses a TOP timestamp outside ±10 min of China time and the
// 医保 gateways refuse x-tif/_api_ timestamps outside their window; each
// refusal used to become a dead letter. Both protocols let the caller choose
// the request time, so the clients stamp requests with the corrected clock
// and a refusal for the time is retried, not final.
//
// A Date header has one-second resolution and arrives after a round trip,
// so one sample is the server's time at the midpoint of the exchange ± half
// the round trip + 1 s. An offset is trusted only when two consecutive
// samples agree within Agree; a single odd header (a proxy, a cached answer)
// changes nothing.
package clockskew

import (
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Defaults.
const (
	// DefaultTolerance is the offset below which the clock is taken as
	// right: the request times are not corrected and no alarm is raised.
	// Both platforms allow minutes; NTP-less devices drift seconds a day.
	DefaultTolerance = 30 * time.Second
	// DefaultAgree is how close two consecutive samples must be to trust
	// their offset.
	DefaultAgree = 3 * time.Second
	// maxRoundTrip bounds the samples used: a slow answer's Date says
	// little about when the server stamped it.
	maxRoundTrip = 10 * time.Second
)

// Skew is the measured offset of the back ends' clocks from the local
// clock. It is safe for concurrent use; the zero value is not usable, use
// New.
type Skew struct {
	now       func() time.Time
	tolerance time.Duration
	agree     time.Duration
	onChange  func(State)

	mu      sync.Mutex
	last    time.Duration // the latest sample's offset
	haveOne bool
	offset  time.Duration // trusted offset (server − local)
	trusted bool
	at      time.Time // local time of the trusted measurement
	source  string    // host that gave the trusted measurement
}

// Options configure a Skew. Zero values take the defaults.
type Options struct {
	// Now is the local clock (time.Now if nil).
	Now func() time.Time
	// Tolerance: offsets smaller than this count as none.
	Tolerance time.Duration
	// Agree: two consecutive samples within this of each other are trusted.
	Agree time.Duration
	// OnChange, if set, is called (not under a lock) when the clock
	// becomes wrong or right again, e.g. to log it.
	OnChange func(State)
}

// New returns a Skew that has measured nothing yet.
func New(o Options) *Skew {
	s := &Skew{now: o.Now, tolerance: o.Tolerance, agree: o.Agree, onChange: o.OnChange}
	if s.now == nil {
		s.now = time.Now
	}
	if s.tolerance <= 0 {
		s.tolerance = DefaultTolerance
	}
	if s.agree <= 0 {
		s.agree = DefaultAgree
	}
	return s
}

// Observe records one answer: sent and received are local times around the
// exchange, date is the answer's Date header. Answers without a parsable
// Date, or with a long round trip, are ignored. It reports whether the
// sample was used.
func (s *Skew) Observe(host string, sent, received time.Time, date string) bool {
	if date == "" || received.Before(sent) || received.Sub(sent) > maxRoundTrip {
		return false
	}
	server, err := http.ParseTime(date)
	if err != nil {
		return false
	}
	// The server stamped a time in [server, server+1s) somewhere in the
	// round trip: compare its middle with the exchange's middle.
	mid := sent.Add(received.Sub(sent) / 2)
	off := server.Add(500 * time.Millisecond).Sub(mid)
	s.mu.Lock()
	wasWrong := s.trusted && absDur(s.offset) >= s.tolerance
	if s.haveOne && absDur(off-s.last) <= s.agree {
		s.offset, s.trusted, s.at, s.source = (off+s.last)/2, true, received, host
	}
	s.last, s.haveOne = off, true
	isWrong := s.trusted && absDur(s.offset) >= s.tolerance
	s.mu.Unlock()
	if wasWrong != isWrong && s.onChange != nil {
		s.onChange(s.State())
	}
	return true
}

// Offset is the trusted offset (server − local; positive: the device is
// behind) and whether there is one.
func (s *Skew) Offset() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset, s.trusted
}

// Wrong tells whether the trusted offset is beyond the tolerance.
func (s *Skew) Wrong() bool {
	off, ok := s.Offset()
	return ok && absDur(off) >= s.tolerance
}

// Now is the corrected clock: the local clock plus the trusted offset when
// it is beyond the tolerance, else the local clock. Clients stamp requests
// with it.
func (s *Skew) Now() time.Time {
	t := s.now()
	if off, ok := s.Offset(); ok && absDur(off) >= s.tolerance {
		return t.Add(off)
	}
	return t
}

// State is a report of the measurement for status, metrics and alarms.
type State struct {
	// Measured is false until two agreeing samples arrived.
	Measured bool `json:"measured"`
	// OffsetSeconds is server − local, rounded to the second (positive:
	// the device clock is behind).
	OffsetSeconds int64 `json:"offset_seconds"`
	// Wrong is true when the offset is beyond the tolerance: requests are
	// then stamped with the corrected time.
	Wrong bool `json:"wrong"`
	// At is when it was measured; Source which back end's host said so.
	At     time.Time `json:"at,omitzero"`
	Source string    `json:"source,omitempty"`
	// Message describes it for the operator (empty when the clock is right
	// or nothing was measured).
	Message string `json:"message,omitempty"`
}

// State reports the measurement.
func (s *Skew) State() State {
	s.mu.Lock()
	off, ok, at, src := s.offset, s.trusted, s.at, s.source
	s.mu.Unlock()
	st := State{Measured: ok, OffsetSeconds: int64(off.Round(time.Second) / time.Second), At: at, Source: src}
	if ok && absDur(off) >= s.tolerance {
		st.Wrong = true
		st.Message = Describe(off) + "; requests are stamped with the corrected time — set the clock (NTP) so that bills carry the right times"
	}
	return st
}

// Describe says how far off the device clock is, given server − local:
// "the device clock is 7 min 12 s behind (本机时钟慢 7 分 12 秒)".
func Describe(off time.Duration) string {
	word, zh := "behind", "慢"
	if off < 0 {
		word, zh, off = "ahead", "快", -off
	}
	off = off.Round(time.Second)
	en, cn := spell(off)
	return fmt.Sprintf("the device clock is %s %s (本机时钟%s %s)", en, word, zh, cn)
}

// spell renders d as "2 d 3 h", "7 min 12 s" or "40 s", with its Chinese.
func spell(d time.Duration) (en, zh string) {
	days := int64(d / (24 * time.Hour))
	h := int64(d/time.Hour) % 24
	m := int64(d/time.Minute) % 60
	sec := int64(d/time.Second) % 60
	switch {
	case days > 0:
		return fmt.Sprintf("%d d %d h", days, h), fmt.Sprintf("%d 天 %d 小时", days, h)
	case h > 0:
		return fmt.Sprintf("%d h %d min", h, m), fmt.Sprintf("%d 小时 %d 分", h, m)
	case m > 0:
		return fmt.Sprintf("%d min %d s", m, sec), fmt.Sprintf("%d 分 %d 秒", m, sec)
	}
	return fmt.Sprintf("%d s", sec), fmt.Sprintf("%d 秒", sec)
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Transport observes the Date header of every answer that passes through
// it into Skew, then hands the answer on unchanged.
type Transport struct {
	Base http.RoundTripper // http.DefaultTransport if nil
	Skew *Skew
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	sent := t.Skew.now()
	resp, err := base.RoundTrip(req)
	if err == nil && resp != nil {
		t.Skew.Observe(req.URL.Host, sent, t.Skew.now(), resp.Header.Get("Date"))
	}
	return resp, err
}

// Client returns a copy of hc (a new client if nil) whose transport feeds
// s. The copy keeps hc's timeout, redirect policy and jar.
func Client(hc *http.Client, s *Skew) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	c.Transport = &Transport{Base: base, Skew: s}
	return &c
}
