package agent

import (
	"testing"
	"time"
)

// Times for people are China time with the offset printed, whatever the
// zone of the time given or of the machine.
func TestTimesShowTheirZone(t *testing.T) {
	utc := time.Date(2026, 11, 27, 1, 30, 5, 0, time.UTC) // 09:30:05 in China
	ny := utc.In(time.FixedZone("EST", -5*3600))
	for _, c := range []struct {
		got, want string
	}{
		{Clock(utc, utc.Add(time.Hour)), "09:30:05 +08:00"},
		{Clock(ny, utc.Add(time.Hour)), "09:30:05 +08:00"},
		// 23:00 UTC is the next day in China: a date is shown.
		{Clock(utc, time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)), "2026-11-27 09:30 +08:00"},
		{StoreTime(ny), "2026-11-27 09:30 +08:00"},
		{Clock(time.Time{}, utc), "?"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
	if _, off := utc.In(StoreZone()).Zone(); off != 8*3600 {
		t.Errorf("StoreZone offset %d", off)
	}
}
