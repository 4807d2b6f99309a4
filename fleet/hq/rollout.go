package hq

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

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

func rolloutKey(id uint64) []byte { return u64(id) }

func waveKey(id uint64, wave int) []byte {
	return binary.BigEndian.AppendUint32(u64(id), uint32(wave))
}

func getRollout(tx *bolt.Tx, id uint64) (*Rollout, error) {
	var r Rollout
	found, err := getJSON(tx.Bucket(bktRollouts), rolloutKey(id), &r)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("rollout %d: not found", id)
	}
	return &r, nil
}

func waveDevices(tx *bolt.Tx, id uint64, wave int) ([]string, error) {
	var ids []string
	if _, err := getJSON(tx.Bucket(bktWaves), waveKey(id, wave), &ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// countWave tallies what the wave's devices reported for version.
func countWave(tx *bolt.Tx, ids []string, version uint64) WaveCounts {
	out := tx.Bucket(bktOutcomes)
	c := WaveCounts{Targets: len(ids)}
	for _, id := range ids {
		v := out.Get([]byte(id))
		st := outNone
		if len(v) == 9 && btou(v[:8]) == version {
			st = v[8]
		}
		switch st {
		case outApplying:
			c.Applying++
		case outApplied:
			c.Applied++
		case outFailed:
			c.Failed++
		default:
			c.Pending++
		}
	}
	if n := c.Applied + c.Failed; n > 0 {
		c.FailedRatio = float64(c.Failed) / float64(n)
	}
	return c
}

// release serves the staged bundles of a wave's devices.
func release(tx *bolt.Tx, rollout uint64, ids []string) (int, error) {
	n := 0
	for _, id := range ids {
		sl, err := getSlot(tx, id)
		if err != nil {
			return n, err
		}
		// A device re-enrolled since has no staged bundle of this rollout.
		if sl.Staged == nil || sl.Staged.Rollout != rollout {
			continue
		}
		ref := *sl.Staged
		sl.Released = &ref
		if err := putJSON(tx.Bucket(bktSlots), []byte(id), sl); err != nil {
			return n, err
		}
		if err := gcBundles(tx, id, sl); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// waveDue reads the running rollout and its current wave's counts, and
// tells whether the wave has ended: every device reported APPLIED or FAILED
// for the rollout's version, or the wave timeout passed. r is nil when no
// rollout runs.
func waveDue(tx *bolt.Tx, now time.Time) (r *Rollout, c WaveCounts, due bool, err error) {
	id := getU64(tx.Bucket(bktMeta), keyActive)
	if id == 0 {
		return nil, c, false, nil
	}
	if r, err = getRollout(tx, id); err != nil {
		return nil, c, false, err
	}
	if r.State != RolloutRunning {
		return r, c, true, nil // stale pointer: evaluate clears it
	}
	ids, err := waveDevices(tx, id, r.Current)
	if err != nil {
		return nil, c, false, err
	}
	c = countWave(tx, ids, r.Version)
	timedOut := now.Sub(r.Waves[r.Current].Started) >= r.WaveTimeout
	return r, c, c.Applied+c.Failed >= c.Targets || timedOut, nil
}

// evaluate advances the running rollout once its current wave is due (see
// waveDue): the rollout halts if the failed ratio exceeds the threshold
// (or nobody reported), completes after the last wave, or releases the
// next wave. It returns a description of what changed, "" if nothing did.
func evaluate(tx *bolt.Tx, now time.Time) (string, error) {
	r, c, due, err := waveDue(tx, now)
	if err != nil || !due {
		return "", err
	}
	meta := tx.Bucket(bktMeta)
	id := r.ID
	if r.State != RolloutRunning {
		return "", meta.Put(keyActive, u64(0))
	}
	w := &r.Waves[r.Current]
	w.Ended, w.Counts = now, &c
	wave := r.Current + 1 // 1-based in messages
	last := r.Current == len(r.Waves)-1
	var event string
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
		next, err := waveDevices(tx, id, r.Current+1)
		if err != nil {
			return "", err
		}
		n, err := release(tx, id, next)
		if err != nil {
			return "", err
		}
		r.Current++
		r.Waves[r.Current].Started = now
		event = fmt.Sprintf("rollout %d: wave %d ended (%d applied, %d failed, %d silent); wave %d released to %d device(s)",
			id, wave, c.Applied, c.Failed, c.Pending+c.Applying, wave+1, n)
		if err := bumpGen(tx); err != nil {
			return "", err
		}
	}
	if r.State != RolloutRunning {
		event = fmt.Sprintf("rollout %d %s: %s", id, r.State, r.Reason)
		if r.Reason == "" {
			event = fmt.Sprintf("rollout %d %s", id, r.State)
		}
		if err := meta.Put(keyActive, u64(0)); err != nil {
			return "", err
		}
	}
	return event, putJSON(tx.Bucket(bktRollouts), rolloutKey(id), r)
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

// applyReport records a report. Reports are ordered by the time the device
// signed: an older one (a replay, or one delayed behind a newer one) is
// ignored, and a replayed APPLYING never hides the APPLIED or FAILED that
// followed it. The outcome kept for rollouts is the newest version's: a
// device that reports FAILED for the new version and then APPLIED for the
// previous one it fell back to still counts as FAILED.
func applyReport(tx *bolt.Tx, id string, rep Report) error {
	rb := tx.Bucket(bktReports)
	var old Report
	// An unreadable old record is replaced rather than failing the whole
	// batch (every report in it would be refused).
	found, err := getJSON(rb, []byte(id), &old)
	if err != nil {
		found = false
	}
	code := stateCode(rep.State)
	regress := func(oldVersion uint64, oldState byte) bool {
		return oldVersion == rep.Version && oldState != outApplying && oldState != outNone && code == outApplying
	}
	if found && (rep.SignedAt.Before(old.SignedAt) || rep.SignedAt.Equal(old.SignedAt) && regress(old.Version, stateCode(old.State))) {
		return nil
	}
	ob := tx.Bucket(bktOutcomes)
	v := ob.Get([]byte(id))
	var ov uint64
	ost := outNone
	if len(v) == 9 {
		ov, ost = btou(v[:8]), v[8]
	}
	if len(v) != 9 || rep.Version > ov || rep.Version == ov && !regress(ov, ost) {
		if err := ob.Put([]byte(id), append(u64(rep.Version), code)); err != nil {
			return err
		}
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return rb.Put([]byte(id), raw)
}
