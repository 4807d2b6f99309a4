package agent

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/configs"
)

// A bundle refused or reverted after the last good one makes the agent
// DEGRADED with the reason; a good one applied since clears it.
func TestStatusDegradedByFailedBundle(t *testing.T) {
	cfg, err := configs.LoadBytes("test", []byte(fmt.Sprintf("device: {id: FS1}\ndata_dir: %s\n", t.TempDir())), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	health := func() Status {
		t.Helper()
		st, err := a.Status()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := health(); st.Health != Healthy {
		t.Fatalf("at start: %s %v", st.Health, st.Problems)
	}
	applied := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	fs := FleetState{AppliedVersion: 5, AppliedAt: applied, FailedVersion: 6, FailedAt: applied.Add(time.Hour),
		FailedError: "bundle signature does not verify with fleet.hq_key"}
	a.SetFleetState(func() FleetState { return fs })
	st := health()
	if st.Health != Degraded || !strings.Contains(st.Fleet, "v6") || !strings.Contains(st.Fleet, "does not verify") ||
		!strings.Contains(st.Fleet, "v5 stays in force") || !strings.Contains(strings.Join(st.Problems, "\n"), st.Fleet) {
		t.Fatalf("after a refused bundle: %s %q %v", st.Health, st.Fleet, st.Problems)
	}
	// v7 applies: healthy again, the old failure is history.
	fs.AppliedVersion, fs.AppliedAt = 7, fs.FailedAt.Add(time.Minute)
	if st := health(); st.Health != Healthy || st.Fleet != "" {
		t.Fatalf("after a good bundle: %s %q", st.Health, st.Fleet)
	}
	// A failure before any bundle applied says the local config stays.
	if p := (FleetState{FailedVersion: 1, FailedAt: applied, FailedError: "x"}).problem(); !strings.Contains(p, "local config") {
		t.Errorf("first bundle failed: %q", p)
	}
}
