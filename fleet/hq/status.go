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
		// Which wave of the newest rollout each device is in.
		var newest uint64
		wave := map[string]int{}
		if k, _ := tx.Bucket(bktRollouts).Cursor().Last(); k != nil {
			newest = btou(k)
			r, err := getRollout(tx, newest)
			if err != nil {
				return err
			}
			for i := range r.Waves {
				ids, err := waveDevices(tx, newest, i)
				if err != nil {
					return err
				}
				for _, id := range ids {
					wave[id] = i + 1
				}
			}
		}
		for _, d := range devices {
			ds := DeviceStatus{ID: d.ID, Store: d.Store, Region: d.Region, Group: d.Group, Fingerprint: d.Fingerprint}
			if w := wave[d.ID]; w > 0 {
				ds.Rollout, ds.Wave = newest, w
			}
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
				ds.Current = ds.Served == nil || ds.Served.Version == rep.Version
			}
			if v := tx.Bucket(bktSeen).Get([]byte(d.ID)); len(v) == 8 {
				ds.LastSeen = time.Unix(0, int64(btou(v))).UTC()
			}
			if found && rep.At.After(ds.LastSeen) {
				ds.LastSeen = rep.At.UTC()
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
