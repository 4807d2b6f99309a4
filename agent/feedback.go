package agent

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/pda-agent/pda-agent/device"
)

// Feedback tells the operator about each scan, beyond what the source
// itself can show (a stdin echo line, a TCP reply). The store UI (a later
// issue) is one more Feedback.
type Feedback interface {
	Scan(session string, s device.Scan, fb device.Feedback)
}

// FeedbackFunc adapts a function to Feedback.
type FeedbackFunc func(session string, s device.Scan, fb device.Feedback)

// Scan calls f.
func (f FeedbackFunc) Scan(session string, s device.Scan, fb device.Feedback) { f(session, s, fb) }

// logFeedback writes every result to the log; rejections and errors at
// warn level so they stand out.
type logFeedback struct{ log *slog.Logger }

func (l logFeedback) Scan(session string, s device.Scan, fb device.Feedback) {
	level := slog.LevelInfo
	if fb.Status == device.StatusRejected || fb.Status == device.StatusError {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "scan "+string(fb.Status), "source", s.Source, "session", session, "reason", fb.Reason, "message", fb.Message)
}

// bellFeedback rings the terminal bell: once for a duplicate, twice for a
// rejection, three times for a scan that was not recorded. Accepted scans
// are silent: the scanner's own good-read beep covers them.
type bellFeedback struct {
	mu sync.Mutex
	w  io.Writer
}

func (b *bellFeedback) Scan(_ string, _ device.Scan, fb device.Feedback) {
	n := 0
	switch fb.Status {
	case device.StatusDuplicate:
		n = 1
	case device.StatusRejected:
		n = 2
	case device.StatusError:
		n = 3
	}
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _ = io.WriteString(b.w, strings.Repeat("\a", n))
}
