package hq

import (
	"net/http"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
)

// Status places each device in the newest rollout's waves, counts a report
// as contact (a static-mode device never fetches from HQ), and says
// whether the last report is about the bundle served now.
func TestStatusWaveContactAndCurrentReport(t *testing.T) {
	f := newFleet(t, map[string]string{"PDA1": "S1", "PDA2": "S2"})
	res := f.publish(t, writeTree(t, map[string]string{"chain.yaml": chainYAML}), PublishOptions{Stores: []string{"S1"}})
	_, base := startServer(t, f.st, ServeOptions{Now: f.clk.Now, Tick: 10 * time.Millisecond}, true)

	d1 := deviceStatus(t, f.st, "PDA1")
	if d1.Rollout != res.Rollout || d1.Wave != 1 || !d1.LastSeen.IsZero() || !d1.Silent {
		t.Fatalf("PDA1 before any contact: %+v", d1)
	}
	if d2 := deviceStatus(t, f.st, "PDA2"); d2.Wave != 2 {
		t.Fatalf("PDA2 wave %d, want 2", d2.Wave)
	}
	// PDA1 in static mode: it got its bundle from a mirror and only reports.
	o := f.open(t, "PDA1", served(t, f.st, "PDA1"), 0)
	if r := f.report(t, base, "PDA1", protocol.Report{State: protocol.StateApplied, Version: o.Body.Version, Hash: o.Hash}); r.status != http.StatusNoContent {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	eventually(t, "the report counted as contact", func() bool {
		d := deviceStatus(t, f.st, "PDA1")
		return !d.Silent && !d.LastSeen.IsZero() && d.Report != nil && d.Current
	})
	// A refused bundle of another version (forged, or from a test HQ):
	// the report is kept, but it is not the state of the served bundle.
	f.clk.Advance(time.Second)
	if r := f.report(t, base, "PDA1", protocol.Report{State: protocol.StateFailed, Version: 99, Hash: "ff", Error: "signature does not verify"}); r.status != http.StatusNoContent {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	eventually(t, "the FAILED v99 report", func() bool {
		d := deviceStatus(t, f.st, "PDA1")
		return d.Report != nil && d.Report.Version == 99 && !d.Current && d.Served != nil && d.Served.Version == o.Body.Version
	})
}
