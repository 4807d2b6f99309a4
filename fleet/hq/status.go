package hq

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Status is the fleet at a glance.
type Status struct {
	At       time.Time `json:"at"`
	Settings Settings  `json:"settings"`
	// Version is the last version handed out.
	Version  uint64          `json:"version"`
	Devices  []DeviceStatus  `json:"devices"`
	Rollouts []RolloutStatus `json:"rollouts"`
	// Silent counts the silent devices.
	Silent int `json:"silent"`
}

// DeviceStatus is one device.
type DeviceStatus struct {
	ID          string `json:"id"`
	Store       string `json:"store"`
	Region      string `json:"region,omitempty"`
	Group       string `json:"group,omitempty"`
	Fingerprint string `json:"fingerprint"`
	// Staged is the latest bundle staged for the device, Served the one it
	// is given now (older while its wave has not started).
	Staged *BundleRef `json:"staged,omitempty"`
	Served *BundleRef `json:"served,omitempty"`
	// Report is the device's last report, nil if none.
	Report *Report `json:"report,omitempty"`
	// Current says whether Report is about the bundle served now: a
	// report about another version (a refused forged or test bundle, an
	// older one) is not the state of what the device should run.
	Current bool `json:"current"`
	// Rollout and Wave (from 1) place the device in the newest rollout;
	// 0 when it is not in it.
	Rollout uint64 `json:"rollout,omitempty"`
	Wave    int    `json:"wave,omitempty"`
	// LastSeen is the last authenticated request or report (zero: never).
	// A device in static mode fetches its bundle from a mirror HQ does not
	// see, so its reports are its only contact.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Silent: no contact for longer than Settings.Silence() (or never).
	Silent bool `json:"silent"`
}

// RolloutStatus is a rollout with its current wave's live counts.
type RolloutStatus struct {
	Rollout
	// Live counts the current wave now (the same as its final counts
	// once the rollout ended).
	Live WaveCounts `json:"live"`
}

// StatusOptions filter and tune Status.
type StatusOptions struct {
	// SilentAfter overrides the stored threshold when positive.
	SilentAfter time.Duration
	// Rollouts is how many recent rollouts to include. Default 10.
	Rollouts int
}

// Status reads the fleet's state. Last-seen times and reports are as of
// Serve's last commit (at most one tick old).
func (s *Store) Status(o StatusOptions) (*Status, error) {
	if o.Rollouts <= 0 {
		o.Rollouts = 10
	}
	now := s.opts.Now()
	st, err := s.b.Status(context.Background(), o.Rollouts)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	st.At = now.UTC()
	silence := st.Settings.Silence()
	if o.SilentAfter > 0 {
		silence = o.SilentAfter
	}
	// Which wave of the newest rollout each device is in.
	var newest *Rollout
	if len(st.Rollouts) > 0 {
		newest = &st.Rollouts[0].Rollout // newest first
	}
	for i := range st.Devices {
		ds := &st.Devices[i]
		if newest != nil {
			ds.Rollout, ds.Wave = newest.ID, waveOf(newest, ds)
			if ds.Wave == 0 {
				ds.Rollout = 0
			}
		}
		if ds.Report != nil {
			ds.Current = ds.Served == nil || ds.Served.Version == ds.Report.Version
			if ds.Report.At.After(ds.LastSeen) {
				ds.LastSeen = ds.Report.At.UTC()
			}
		}
		ds.Silent = ds.LastSeen.IsZero() || now.Sub(ds.LastSeen) > silence
		if ds.Silent {
			st.Silent++
		}
	}
	sort.Slice(st.Devices, func(i, j int) bool { return st.Devices[i].ID < st.Devices[j].ID })
	return st, nil
}

// waveOf is the wave (from 1) of r that holds the device, 0 if none:
// the rollout and wave its staged (or served) bundle was staged under.
func waveOf(r *Rollout, ds *DeviceStatus) int {
	for _, b := range []*BundleRef{ds.Staged, ds.Served} {
		if b != nil && b.Rollout == r.ID {
			return b.Wave + 1
		}
	}
	return 0
}
