package hq

import (
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
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
	st := &Status{At: now.UTC()}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if st.Settings, err = getSettings(tx); err != nil {
			return err
		}
		silence := st.Settings.Silence()
		if o.SilentAfter > 0 {
			silence = o.SilentAfter
		}
		st.Version = getU64(tx.Bucket(bktMeta), keyVersion)
		devices, err := allDevices(tx)
		if err != nil {
			return err
		}
		for _, d := range devices {
			ds := DeviceStatus{ID: d.ID, Store: d.Store, Region: d.Region, Group: d.Group, Fingerprint: d.Fingerprint}
			sl, err := getSlot(tx, d.ID)
			if err != nil {
				return err
			}
			ds.Staged, ds.Served = sl.Staged, sl.Released
			var rep Report
			found, err := getJSON(tx.Bucket(bktReports), []byte(d.ID), &rep)
			if err != nil {
				return err
			}
			if found {
				ds.Report = &rep
			}
			if v := tx.Bucket(bktSeen).Get([]byte(d.ID)); len(v) == 8 {
				ds.LastSeen = time.Unix(0, int64(btou(v))).UTC()
			}
			ds.Silent = ds.LastSeen.IsZero() || now.Sub(ds.LastSeen) > silence
			if ds.Silent {
				st.Silent++
			}
			st.Devices = append(st.Devices, ds)
		}
		c := tx.Bucket(bktRollouts).Cursor()
		for k, _ := c.Last(); k != nil && len(st.Rollouts) < o.Rollouts; k, _ = c.Prev() {
			r, err := getRollout(tx, btou(k))
			if err != nil {
				return err
			}
			rs := RolloutStatus{Rollout: *r}
			if w := r.Waves[r.Current]; w.Counts != nil {
				rs.Live = *w.Counts
			} else {
				ids, err := waveDevices(tx, r.ID, r.Current)
				if err != nil {
					return err
				}
				rs.Live = countWave(tx, ids, r.Version)
			}
			st.Rollouts = append(st.Rollouts, rs)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	sort.Slice(st.Devices, func(i, j int) bool { return st.Devices[i].ID < st.Devices[j].ID })
	return st, nil
}
