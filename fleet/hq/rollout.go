package hq

import (
	"fmt"
	"time"

	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
)

// RolloutState is where a rollout stands.
type RolloutState string

// Rollout states. A rollout is running until its last wave has ended
// (completed) or a wave failed above the threshold, no device of a wave
// reported before its timeout, or a newer publish superseded it (halted).
// Only one rollout runs at a time.
const (
	RolloutRunning   RolloutState = "running"
	RolloutHalted    RolloutState = "halted"
	RolloutCompleted RolloutState = "completed"
)

// Rollout is one publish and how far it got.
type Rollout struct {
	ID      uint64    `json:"id"`
	Version uint64    `json:"version"`
	Created time.Time `json:"created"`
	// Threshold: a wave whose FAILED/(APPLIED+FAILED) exceeds it halts
	// the rollout.
	Threshold   float64       `json:"threshold"`
	WaveTimeout time.Duration `json:"wave_timeout"`
	Waves       []Wave        `json:"waves"`
	// Current is the index of the wave in progress (the last one reached
	// once the rollout ended).
	Current int          `json:"current"`
	State   RolloutState `json:"state"`
	Reason  string       `json:"reason,omitempty"`
	Ended   time.Time    `json:"ended,omitzero"`
}

// Wave is one step of a rollout.
type Wave struct {
	Stores  []string  `json:"stores"`
	Devices int       `json:"devices"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// Counts are the final counts once the wave ended.
	Counts *WaveCounts `json:"counts,omitempty"`
}

// WaveCounts tally the devices of a wave by what they reported for the
// rollout's version.
type WaveCounts struct {
	Targets  int `json:"targets"`
	Pending  int `json:"pending"` // no report for this version yet
	Applying int `json:"applying"`
	Applied  int `json:"applied"`
	Failed   int `json:"failed"`
	// FailedRatio is Failed/(Applied+Failed), 0 when neither.
	FailedRatio float64 `json:"failed_ratio"`
}

// Outcome states as stored (one byte).
const (
	outNone byte = iota
	outApplying
	outApplied
	outFailed
)

func stateCode(s string) byte {
	switch s {
	case protocol.StateApplying:
		return outApplying
	case protocol.StateApplied:
		return outApplied
	case protocol.StateFailed:
		return outFailed
	}
	return outNone
}

// stateName is the protocol state of a stored outcome code.
func stateName(code byte) string {
	switch code {
	case outApplying:
		return protocol.StateApplying
	case outApplied:
		return protocol.StateApplied
	case outFailed:
		return protocol.StateFailed
	}
	return ""
}

// Tally makes WaveCounts from the counts of a wave's outcomes (targets minus the counted
// ones are pending).
func Tally(targets, applying, applied, failed int) WaveCounts {
	c := WaveCounts{Targets: targets, Applying: applying, Applied: applied, Failed: failed}
	c.Pending = targets - applying - applied - failed
	if n := c.Applied + c.Failed; n > 0 {
		c.FailedRatio = float64(c.Failed) / float64(n)
	}
	return c
}

// WaveIsDue: every device of the running rollout's current wave reported
// APPLIED or FAILED, or its timeout passed.
func WaveIsDue(r *Rollout, c WaveCounts, now time.Time) bool {
	return c.Applied+c.Failed >= c.Targets || now.Sub(r.Waves[r.Current].Started) >= r.WaveTimeout
}

// EndWave ends r's current wave with counts c: the rollout halts if the
// failed ratio exceeds the threshold (or nobody reported), completes after
// the last wave, or moves to the next wave (next true: the caller releases
// its staged bundles, then calls WaveEvent). Both backends decide here.
func EndWave(r *Rollout, c WaveCounts, now time.Time) (next bool) {
	w := &r.Waves[r.Current]
	w.Ended, w.Counts = now, &c
	wave := r.Current + 1 // 1-based in messages
	last := r.Current == len(r.Waves)-1
	switch {
	case c.Applied+c.Failed == 0 && !last:
		r.State, r.Ended = RolloutHalted, now
		r.Reason = fmt.Sprintf("no device of wave %d reported within the wave timeout %s; later waves keep their previous bundle", wave, r.WaveTimeout)
	case c.FailedRatio > r.Threshold && !last:
		r.State, r.Ended = RolloutHalted, now
		r.Reason = fmt.Sprintf("wave %d: %d of %d reporting devices FAILED (%.0f%%), above the threshold %.0f%%; later waves keep their previous bundle",
			wave, c.Failed, c.Applied+c.Failed, 100*c.FailedRatio, 100*r.Threshold)
	case last:
		r.State, r.Ended = RolloutCompleted, now
		switch {
		case c.FailedRatio > r.Threshold:
			r.Reason = fmt.Sprintf("all waves released; last wave: %d of %d reporting devices FAILED (%.0f%%), above the threshold", c.Failed, c.Applied+c.Failed, 100*c.FailedRatio)
		case c.Pending+c.Applying > 0:
			r.Reason = fmt.Sprintf("all waves released; %d device(s) of the last wave had not reported when it timed out", c.Pending+c.Applying)
		}
	default:
		r.Current++
		r.Waves[r.Current].Started = now
		return true
	}
	return false
}

// WaveEvent describes what EndWave did; released is how many devices of
// the next wave got their bundle.
func WaveEvent(r *Rollout, c WaveCounts, released int) string {
	if r.State == RolloutRunning {
		return fmt.Sprintf("rollout %d: wave %d ended (%d applied, %d failed, %d silent); wave %d released to %d device(s)",
			r.ID, r.Current, c.Applied, c.Failed, c.Pending+c.Applying, r.Current+1, released)
	}
	if r.Reason == "" {
		return fmt.Sprintf("rollout %d %s", r.ID, r.State)
	}
	return fmt.Sprintf("rollout %d %s: %s", r.ID, r.State, r.Reason)
}

// NewRollout is the rollout a Staging creates (wave 0 started).
func NewRollout(id uint64, s *Staging) *Rollout {
	r := &Rollout{ID: id, Version: s.Version, Created: s.Now, Threshold: s.Threshold, WaveTimeout: s.WaveTimeout, State: RolloutRunning}
	for w, ids := range s.WaveDevices {
		wave := Wave{Stores: s.WaveStores[w], Devices: len(ids)}
		if w == 0 {
			wave.Started = s.Now
		}
		r.Waves = append(r.Waves, wave)
	}
	return r
}

// Supersede halts a running rollout for the new one.
func Supersede(r *Rollout, next, version uint64, now time.Time) bool {
	if r.State != RolloutRunning {
		return false
	}
	r.State, r.Ended = RolloutHalted, now
	r.Reason = fmt.Sprintf("superseded by rollout %d (version %d)", next, version)
	return true
}

// Report is a device's last accepted report.
type Report struct {
	State      string `json:"state"`
	Version    uint64 `json:"version"`
	Hash       string `json:"hash,omitempty"`
	Error      string `json:"error,omitempty"`
	ConfigHash string `json:"config_hash,omitempty"`
	// At is when HQ received it, SignedAt the device's X-PDA-Time.
	At       time.Time `json:"at"`
	SignedAt time.Time `json:"signed_at"`
}

// MergeReport decides what a new report changes; both backends decide
// here. Reports are ordered by the time the device signed: an older one
// (a replay, or one delayed behind a newer one) is ignored, and a replayed
// APPLYING never hides the APPLIED or FAILED that followed it. The outcome
// kept for rollouts is the newest version's: a device that reports FAILED
// for the new version and then APPLIED for the previous one it fell back
// to still counts as FAILED. old is nil when the device has no (readable)
// report, out nil when it has no outcome. keep: store rep as the report;
// setOut: make its version and state the outcome.
func MergeReport(old *Report, out *Outcome, rep Report) (keep, setOut bool) {
	code := stateCode(rep.State)
	regress := func(oldVersion uint64, oldState byte) bool {
		return oldVersion == rep.Version && oldState != outApplying && oldState != outNone && code == outApplying
	}
	if old != nil && (rep.SignedAt.Before(old.SignedAt) || rep.SignedAt.Equal(old.SignedAt) && regress(old.Version, stateCode(old.State))) {
		return false, false
	}
	return true, out == nil || rep.Version > out.Version || rep.Version == out.Version && !regress(out.Version, stateCode(out.State))
}
