package configs

import (
	"fmt"
	"strings"
	"time"
)

// Reconcile is the daily reconciliation inside the running agent: it asks
// each platform whether it holds the bills the device finished, within
// the store's quiet hours, yielding to uploads and online checks.
type Reconcile struct {
	Enabled bool `mapstructure:"enabled"`
	// QuietHours is "HH:MM-HH:MM" in China time (UTC+8, the store's and
	// the platforms' zone); it may wrap midnight ("23:00-05:00").
	QuietHours string `mapstructure:"quiet_hours"`
	// Lookback is how far back the bills compared were finished.
	Lookback time.Duration `mapstructure:"lookback"`
	// Rate bounds reconciliation's platform requests (per second), on
	// top of each client's own limit.
	Rate float64 `mapstructure:"rate"`
	// Keep is how long kept runs stay in the queue file; each back end's
	// latest run stays whatever its age (it holds the open findings).
	Keep time.Duration `mapstructure:"keep"`
}

// QuietWindow is a daily window of minutes after midnight; End may be
// below Start (the window wraps midnight).
type QuietWindow struct{ Start, End int }

// ParseQuietHours reads "HH:MM-HH:MM".
func ParseQuietHours(s string) (QuietWindow, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return QuietWindow{}, fmt.Errorf("%q: want HH:MM-HH:MM", s)
	}
	minute := func(v string) (int, error) {
		t, err := time.Parse("15:04", strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("%q: want HH:MM-HH:MM", s)
		}
		return t.Hour()*60 + t.Minute(), nil
	}
	start, err := minute(a)
	if err != nil {
		return QuietWindow{}, err
	}
	end, err := minute(b)
	if err != nil {
		return QuietWindow{}, err
	}
	if start == end {
		return QuietWindow{}, fmt.Errorf("%q: the window is empty", s)
	}
	return QuietWindow{Start: start, End: end}, nil
}

// chinaTime is UTC+8.
var chinaTime = time.FixedZone("CST", 8*3600)

// Contains tells whether t (any zone) falls in the window, in China time.
func (w QuietWindow) Contains(t time.Time) bool {
	t = t.In(chinaTime)
	m := t.Hour()*60 + t.Minute()
	if w.Start < w.End {
		return m >= w.Start && m < w.End
	}
	return m >= w.Start || m < w.End
}

// Next returns the next start of the window at or after t (t itself when
// t is inside it).
func (w QuietWindow) Next(t time.Time) time.Time {
	if w.Contains(t) {
		return t
	}
	c := t.In(chinaTime)
	start := time.Date(c.Year(), c.Month(), c.Day(), w.Start/60, w.Start%60, 0, 0, chinaTime)
	if !start.After(t) {
		start = start.AddDate(0, 0, 1)
	}
	return start
}

func (c *Config) validateReconcile(p *problems) {
	r := c.Reconcile
	if _, err := ParseQuietHours(r.QuietHours); err != nil {
		p.add("reconcile.quiet_hours", "%v", err)
	}
	if r.Lookback < time.Hour || r.Lookback > 31*24*time.Hour {
		p.add("reconcile.lookback", "must be between 1h and 744h (31 days); got %s", r.Lookback)
	}
	if r.Keep < 24*time.Hour {
		p.add("reconcile.keep", "must be at least 24h; got %s", r.Keep)
	}
	if r.Rate <= 0 || r.Rate > 10 {
		p.add("reconcile.rate", "must be above 0 and at most 10 requests per second; got %g", r.Rate)
	}
}
