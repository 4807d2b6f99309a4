package configs

import (
	"testing"
	"time"
)

// FuzzParseQuietHours: any text in reconcile.quiet_hours is either refused
// or a window whose Next lies within a day and inside the window.
func FuzzParseQuietHours(f *testing.F) {
	for _, s := range []string{"01:00-05:00", "23:00-02:00", "5:00-5:00", "-", "24:00-01:00", " 01:00 - 05:00 "} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 7, 12, 34, 0, 0, time.FixedZone("CST", 8*3600))
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseQuietHours(s)
		if err != nil {
			return
		}
		if w.Start < 0 || w.Start >= 24*60 || w.End < 0 || w.End >= 24*60 {
			t.Fatalf("%q: window %+v out of the day", s, w)
		}
		next := w.Next(now)
		if next.Before(now) || next.Sub(now) > 24*time.Hour {
			t.Fatalf("%q: next window %s from %s", s, next, now)
		}
		if !w.Contains(next) {
			t.Fatalf("%q: next %s is not inside %+v", s, next, w)
		}
	})
}
