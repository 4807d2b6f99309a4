package configs

import (
	"testing"
	"time"
)

func TestQuietHours(t *testing.T) {
	cst := time.FixedZone("UTC+8", 8*3600)
	at := func(h, m int) time.Time { return time.Date(2026, 12, 7, h, m, 0, 0, cst) }
	night, err := ParseQuietHours("01:00-05:00")
	if err != nil {
		t.Fatal(err)
	}
	wrap, err := ParseQuietHours("23:30 - 02:00")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		w    QuietWindow
		t    time.Time
		in   bool
		next time.Time
	}{
		{night, at(0, 59), false, at(1, 0)},
		{night, at(1, 0), true, at(1, 0)},
		{night, at(4, 59), true, at(4, 59)},
		{night, at(5, 0), false, at(1, 0).AddDate(0, 0, 1)},
		{night, at(13, 0), false, at(1, 0).AddDate(0, 0, 1)},
		{wrap, at(23, 45), true, at(23, 45)},
		{wrap, at(1, 59), true, at(1, 59)},
		{wrap, at(2, 0), false, at(23, 30)},
		{wrap, at(23, 29), false, at(23, 30)},
	} {
		// The clock's own zone does not matter: the window is China time.
		utc := c.t.UTC()
		if got := c.w.Contains(utc); got != c.in {
			t.Errorf("%+v contains %s = %v", c.w, c.t.Format("15:04"), got)
		}
		if got := c.w.Next(utc); !got.Equal(c.next) {
			t.Errorf("%+v next after %s = %s, want %s", c.w, c.t, got.In(cst), c.next)
		}
	}
	for _, bad := range []string{"", "01:00", "1-5", "01:00-01:00", "25:00-03:00"} {
		if _, err := ParseQuietHours(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
