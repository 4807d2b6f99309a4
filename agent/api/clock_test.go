package api

import (
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// TestWrongDeviceClock: the platform's clock runs 25 min ahead of the
// device's, beyond 码上放心's ±10 min window. The first uploads are refused
// for their timestamp (TOP 31), which must not make a dead letter; the
// answers' Date headers measure the offset, the requests are then stamped
// with the corrected time, the sale is delivered, and status raises an
// alarm saying how far off the clock is.
func TestWrongDeviceClock(t *testing.T) {
	const ahead = 25 * time.Minute
	e := start(t, envOpts{msfx: true, msfxNow: func() time.Time { return time.Now().Add(ahead) }})
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, nil)
	e.scan("till", codeA, "accepted")
	var b queue.Bill
	e.ok("POST", "/v1/sessions/till/finish", nil, &b)

	deadline := time.Now().Add(40 * time.Second)
	for {
		if got, ok := e.gw.Bill(sandbox.DefaultStoreRefEntID, b.Code); ok && got.Applied == 1 {
			break
		}
		if time.Now().After(deadline) {
			var st agent.Status
			e.ok("GET", "/v1/status", nil, &st)
			t.Fatalf("the sale never reached 码上放心: %+v", st.Destinations["msfx"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The platform did refuse the device's own times first.
	if s := e.gw.Stats(); s.Rejected["stale_timestamp"] == 0 {
		t.Fatalf("no timestamp was refused: %v", s.Rejected)
	}
	var st agent.Status
	e.ok("GET", "/v1/status", nil, &st)
	if st.Clock == nil || !st.Clock.Wrong || st.Clock.OffsetSeconds < 1490 || st.Clock.OffsetSeconds > 1510 {
		t.Fatalf("clock state %+v", st.Clock)
	}
	found := false
	for _, al := range st.Alarms {
		if al.Kind == "clock" && strings.Contains(al.Message, "min") && strings.Contains(al.Message, "behind") && strings.Contains(al.Message, "本机时钟慢") {
			found = true
		}
	}
	if !found || st.Health != agent.Degraded {
		t.Fatalf("no clock alarm in %+v (health %s)", st.Alarms, st.Health)
	}
	if d := st.Destinations["msfx"]; d.Dead != 0 {
		t.Fatalf("a wrong clock made dead letters: %+v", d)
	}
}
