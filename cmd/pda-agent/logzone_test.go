package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Log lines carry China time with the offset, as status does.
func TestLogTimesInStoreZone(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: storeTimeAttr}))
	r := slog.NewRecord(time.Date(2026, 11, 27, 1, 30, 5, 0, time.UTC), slog.LevelInfo, "scan", 0)
	r.AddAttrs(slog.Time("at", time.Date(2026, 11, 27, 1, 30, 5, 0, time.UTC)))
	if err := log.Handler().Handle(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if !strings.HasPrefix(line, "time=2026-11-27T09:30:05.000+08:00 ") {
		t.Errorf("log line %q: want the time in UTC+8 with its offset", line)
	}
	// Only the record's own time is converted: attributes keep theirs.
	if !strings.Contains(line, "at=2026-11-27T01:30:05.000Z") {
		t.Errorf("log line %q: an attribute's time was changed", line)
	}
}
