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
	// LastSeen is the last authenticated request (zero: never).
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
	for i := range st.Devices {
		ds := &st.Devices[i]
		ds.Silent = ds.LastSeen.IsZero() || now.Sub(ds.LastSeen) > silence
		if ds.Silent {
			st.Silent++
		}
	}
	sort.Slice(st.Devices, func(i, j int) bool { return st.Devices[i].ID < st.Devices[j].ID })
	return st, nil
}
