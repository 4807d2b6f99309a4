package device

import (
	"context"
	"testing"
	"time"
)

func TestDebounce(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var passed []string
	dropped := 0
	h := Debounce(500*time.Millisecond, func(_ context.Context, s Scan) Feedback {
		passed = append(passed, s.Source+":"+string(s.Raw))
		return Feedback{Status: StatusAccepted}
	}, func(Scan) { dropped++ })
	steps := []struct {
		src, raw string
		at       time.Duration
		want     Status
	}{
		{"gun", "A", 0, StatusAccepted},
		{"gun", "A", 100 * time.Millisecond, StatusDuplicate}, // double read
		{"cam", "A", 150 * time.Millisecond, StatusAccepted},  // another source
		{"gun", "B", 200 * time.Millisecond, StatusAccepted},
		{"gun", "A", 300 * time.Millisecond, StatusAccepted}, // not the previous scan
		{"gun", "A", 900 * time.Millisecond, StatusAccepted}, // deliberate re-scan after the window
	}
	for i, st := range steps {
		fb := h(context.Background(), Scan{Source: st.src, Raw: []byte(st.raw), At: t0.Add(st.at)})
		if fb.Status != st.want {
			t.Fatalf("step %d: %s, want %s", i, fb.Status, st.want)
		}
	}
	if len(passed) != 5 || dropped != 1 {
		t.Fatalf("passed %v dropped %d", passed, dropped)
	}
	if Debounce(0, nil, nil) != nil {
		t.Fatal("window 0 should return the handler itself")
	}
}
