package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/hq"
)

func TestPrintStatusRegionWaveFullReason(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	reason := "msfx probe refused the new settings: 码上放心 answered isv.appkey-not-exists for app_key 24871234; " +
		"the config was reverted to v4 and the scanners restarted on it; check stores/S1.yaml msfx.app_key"
	s := &hq.Status{At: now, Version: 5, Devices: []hq.DeviceStatus{
		{ID: "P1", Store: "S1", Region: "east", Rollout: 3, Wave: 1, Served: &hq.BundleRef{Version: 5, Hash: "aaaaaaaaaa"},
			Report: &hq.Report{State: "FAILED", Version: 5, Error: reason}, Current: true, LastSeen: now.Add(-time.Minute)},
		{ID: "P2", Store: "S2", Region: "west", Rollout: 3, Wave: 2, Served: &hq.BundleRef{Version: 5, Hash: "bbbbbbbbbb"},
			Report: &hq.Report{State: "FAILED", Version: 99, Error: "bundle signature does not verify"}, LastSeen: now.Add(-time.Minute)},
	}}
	var b bytes.Buffer
	printStatus(&b, s, hq.StatusOptions{})
	out := b.String()
	lines := strings.Split(out, "\n")
	var p1, p2 string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "P1 "):
			p1 = l
		case strings.HasPrefix(l, "P2 "):
			p2 = l
		}
	}
	for _, want := range []string{"east", "#3/1", "FAILED v5"} {
		if !strings.Contains(p1, want) {
			t.Errorf("P1 row %q lacks %q", p1, want)
		}
	}
	// P2 runs v5; its refused v99 is not its state.
	if !strings.Contains(p2, "west") || !strings.Contains(p2, "#3/2") || strings.Contains(p2, "v99") {
		t.Errorf("P2 row %q", p2)
	}
	if !strings.Contains(out, "P2 last reported FAILED v99, not the served v5: bundle signature does not verify") {
		t.Errorf("no note on P2's other-version report:\n%s", out)
	}
	// The whole reason, wrapped: every word is there, no line is over 100.
	if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(reason), " ")) {
		t.Errorf("reason cut:\n%s", out)
	}
	for _, l := range lines {
		if strings.Contains(l, "msfx") || strings.HasPrefix(l, "      ") {
			if n := len([]rune(l)); n > 100 {
				t.Errorf("reason line of %d runes: %q", n, l)
			}
		}
	}
}
