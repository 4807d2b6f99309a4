package agent

import (
	"fmt"
	"time"
)

// FleetState is what the fleet client knows of HQ's bundles (a copy of
// fleet/client.State's fields the status needs).
type FleetState struct {
	AppliedVersion uint64
	AppliedAt      time.Time
	// Failed* describe the last bundle refused (forged, for another
	// device, undecryptable) or applied and reverted.
	FailedVersion uint64
	FailedError   string
	FailedAt      time.Time
}

// SetFleetState gives the agent the fleet client's state, read at each
// status: a bundle refused or reverted after the last good one makes the
// agent DEGRADED with the reason until a good one applies (the log alone
// is easy to miss).
func (a *Agent) SetFleetState(f func() FleetState) { a.fleetState.Store(&f) }

// problem is the status line of a failure newer than the last apply, ""
// when there is none.
func (fs FleetState) problem() string {
	if fs.FailedAt.IsZero() || !fs.FailedAt.After(fs.AppliedAt) {
		return ""
	}
	still := "the device's local config stays in force (no HQ bundle applied yet)"
	if fs.AppliedVersion > 0 {
		still = fmt.Sprintf("HQ config v%d stays in force", fs.AppliedVersion)
	}
	return fmt.Sprintf("fleet: HQ bundle v%d refused or reverted at %s: %s; %s", fs.FailedVersion, StoreTime(fs.FailedAt), fs.FailedError, still)
}

// NoteFleet adds what the fleet client's state file says to a status read
// without the agent (Inspector.Status): a bundle refused or reverted after
// the last good one is a problem there too, with the same reason the
// running agent gives.
func (s *Status) NoteFleet(fs FleetState) {
	if s.Fleet = fs.problem(); s.Fleet != "" {
		s.Problems = append(s.Problems, s.Fleet)
		if s.Health == Healthy {
			s.Health = Degraded
		}
	}
}
