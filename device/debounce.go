package device

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// Debounce drops a scan whose bytes equal the previous scan's from the same
// source within window: scanners and imagers commonly report one read
// twice. A deliberate re-scan after the window goes through (and the
// bill's own duplicate check then counts it once). The dropped scan gets
// StatusDuplicate feedback without reaching h. window <= 0 disables it.
func Debounce(window time.Duration, h Handler, onDrop func(Scan)) Handler {
	if window <= 0 {
		return h
	}
	var mu sync.Mutex
	last := map[string]Scan{}
	return func(ctx context.Context, s Scan) Feedback {
		mu.Lock()
		prev, seen := last[s.Source]
		last[s.Source] = s
		mu.Unlock()
		if seen && bytes.Equal(prev.Raw, s.Raw) && prev.Symbology == s.Symbology &&
			s.At.Sub(prev.At) >= 0 && s.At.Sub(prev.At) < window {
			if onDrop != nil {
				onDrop(s)
			}
			return Feedback{Status: StatusDuplicate, Reason: "double_read", Message: "same code read twice within " + window.String() + ": ignored"}
		}
		return h(ctx, s)
	}
}
