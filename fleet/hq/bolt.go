package hq

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is bumped when the on-disk layout changes incompatibly.
const schemaVersion = 1

// Buckets of the HQ file.
var (
	bktMeta     = []byte("meta")     // schema, counters, settings
	bktDevices  = []byte("devices")  // id → deviceRecord JSON
	bktSlots    = []byte("slots")    // id → slot JSON (staged and released bundle refs)
	bktBundles  = []byte("bundles")  // id 0x00 version → sealed bundle bytes
	bktReports  = []byte("reports")  // id → Report JSON (last accepted report)
	bktOutcomes = []byte("outcomes") // id → version(8) state(1): the newest version's result
	bktSeen     = []byte("seen")     // id → unix nanos of the last authenticated request
	bktRollouts = []byte("rollouts") // id(8) → Rollout JSON (without device lists)
	bktWaves    = []byte("waves")    // rollout(8) wave(4) → JSON list of device ids
	// Catalogue objects. Created on open like the others, so a file made
	// before them needs no schema change.
	bktCatalogues = []byte("catalogues")        // address → signed object bytes
	bktCatContent = []byte("catalogue-content") // content key → address
	bktCatRefs    = []byte("catalogue-refs")    // bundleKey(device, version) → address

	allBuckets = [][]byte{bktMeta, bktDevices, bktSlots, bktBundles, bktReports, bktOutcomes, bktSeen, bktRollouts, bktWaves,
		bktCatalogues, bktCatContent, bktCatRefs}

	keySchema   = []byte("schema")
	keyVersion  = []byte("version")  // last bundle version handed out
	keyGen      = []byte("gen")      // bumped by every change Serve must reload
	keyRollout  = []byte("rollout")  // last rollout id
	keyActive   = []byte("active")   // the running rollout, 0 if none
	keySettings = []byte("settings") // Settings JSON
)

// boltBackend is HQ's state in one bbolt file, fsync on every commit.
//
// It does not keep the file open between operations. bbolt admits one
// process at a time, and the operator runs `pda-hq publish`, `enroll`,
// `status` and `export` while `pda-hq serve` runs; so every operation opens
// the file, runs its transaction and closes it, waiting up to LockTimeout
// for the lock (opening costs tens of microseconds). Serve keeps what it
// needs in memory and takes the lock only for its short group commits.
type boltBackend struct {
	path string
	opts Options
}

// Open checks the bbolt file at path (creating it if o.Create) and returns
// a Store over it. The file is not kept open.
func Open(path string, o Options) (*Store, error) {
	b, err := OpenBolt(path, o)
	if err != nil {
		return nil, err
	}
	s := New(b, o)
	s.path = path
	return s, nil
}

// OpenBolt is the bbolt Backend alone (Open wraps it in a Store).
func OpenBolt(path string, o Options) (Backend, error) {
	o = o.withDefaults()
	s := &boltBackend{path: path, opts: o}
	if o.Create {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("hq: create directory of %s: %w", path, err)
		}
	}
	err := s.with(o.Create, func(db *bolt.DB) error {
		return db.Update(func(tx *bolt.Tx) error {
			for _, name := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("bucket %s: %w", name, err)
				}
			}
			meta := tx.Bucket(bktMeta)
			v := meta.Get(keySchema)
			if v == nil {
				if err := meta.Put(keySchema, u64(schemaVersion)); err != nil {
					return err
				}
				return putJSON(meta, keySettings, Settings{PollInterval: DefaultPollInterval})
			}
			if len(v) != 8 {
				return fmt.Errorf("schema key has %d bytes: not a pda-hq database?", len(v))
			}
			if got := btou(v); got > schemaVersion {
				return fmt.Errorf("%w (file schema %d, this build %d)", ErrNewerSchema, got, schemaVersion)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Close: nothing is held between operations.
func (s *boltBackend) Close() error { return nil }

// with opens the file, runs fn and closes it. A corrupt file is an error,
// never replaced: HQ's file is the fleet's record of keys and versions.
func (s *boltBackend) with(create bool, fn func(db *bolt.DB) error) (err error) {
	if !create {
		if _, serr := os.Stat(s.path); errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("hq: %s: %w", s.path, ErrNotExist)
		}
	}
	var db *bolt.DB
	defer func() {
		if r := recover(); r != nil {
			// bbolt panics on some damaged files; report, do not crash.
			err = fmt.Errorf("hq: %s: panic while reading the file (damaged? restore a backup): %v", s.path, r)
		}
		if db != nil {
			if cerr := db.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("hq: close %s: %w", s.path, cerr)
			}
		}
	}()
	db, err = bolt.Open(s.path, 0o600, &bolt.Options{Timeout: s.opts.LockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("hq: %s: %w", s.path, ErrLocked)
		}
		return fmt.Errorf("hq: open %s: %w", s.path, err)
	}
	if err := fn(db); err != nil {
		return fmt.Errorf("hq: %s: %w", s.path, err)
	}
	return nil
}

func (s *boltBackend) update(fn func(tx *bolt.Tx) error) error {
	return s.with(false, func(db *bolt.DB) error { return db.Update(fn) })
}

func (s *boltBackend) view(fn func(tx *bolt.Tx) error) error {
	return s.with(false, func(db *bolt.DB) error { return db.View(fn) })
}

func (s *boltBackend) Settings(context.Context) (Settings, error) {
	var st Settings
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		st, err = getSettings(tx)
		return err
	})
	return st, err
}

func (s *boltBackend) SetSettings(_ context.Context, pollInterval, silentAfter time.Duration) (Settings, error) {
	var st Settings
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if st, err = getSettings(tx); err != nil {
			return err
		}
		st.PollInterval, st.SilentAfter = pollInterval, silentAfter
		return putJSON(tx.Bucket(bktMeta), keySettings, st)
	})
	return st, err
}

func getSettings(tx *bolt.Tx) (Settings, error) {
	st := Settings{PollInterval: DefaultPollInterval}
	if v := tx.Bucket(bktMeta).Get(keySettings); v != nil {
		if err := json.Unmarshal(v, &st); err != nil {
			return st, fmt.Errorf("settings: %w", err)
		}
	}
	return st, nil
}

func (s *boltBackend) Enroll(_ context.Context, now time.Time, clean []Device) ([]EnrollResult, error) {
	out := make([]EnrollResult, 0, len(clean))
	err := s.update(func(tx *bolt.Tx) error {
		db := tx.Bucket(bktDevices)
		for _, d := range clean {
			r := EnrollResult{Device: d}
			var old Device
			found, err := getJSON(db, []byte(d.ID), &old)
			if err != nil {
				return err
			}
			switch {
			case !found:
				r.New = true
				d.EnrolledAt = now
			default:
				d.EnrolledAt = old.EnrolledAt
				if old.PublicKey != d.PublicKey {
					r.KeyChanged = true
					d.EnrolledAt = now
					if err := dropBundles(tx, d.ID); err != nil {
						return err
					}
				}
			}
			r.Device = d
			if err := putJSON(db, []byte(d.ID), d); err != nil {
				return err
			}
			out = append(out, r)
		}
		return bumpGen(tx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *boltBackend) Devices(context.Context) ([]Device, error) {
	var out []Device
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = allDevices(tx)
		return err
	})
	return out, err
}

func allDevices(tx *bolt.Tx) ([]Device, error) {
	var out []Device
	err := tx.Bucket(bktDevices).ForEach(func(k, v []byte) error {
		var d Device
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("device %s: %w", k, err)
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

func (s *boltBackend) ReserveVersion(context.Context) (uint64, error) {
	var version uint64
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		version = getU64(meta, keyVersion) + 1
		return meta.Put(keyVersion, u64(version))
	})
	return version, err
}

func (s *boltBackend) Stage(_ context.Context, stg *Staging) (*Rollout, error) {
	var r *Rollout
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		st, err := getSettings(tx)
		if err != nil {
			return err
		}
		if err := CheckHQKey(st, stg.HQKey, stg.ReplaceHQKey); err != nil {
			return err
		}
		rid := getU64(meta, keyRollout) + 1
		if prev := getU64(meta, keyActive); prev != 0 {
			pr, err := getRollout(tx, prev)
			if err != nil {
				return err
			}
			if Supersede(pr, rid, stg.Version, stg.Now) {
				if err := putJSON(tx.Bucket(bktRollouts), rolloutKey(prev), pr); err != nil {
					return err
				}
			}
		}
		db := tx.Bucket(bktDevices)
		for _, b := range stg.Bundles {
			d := b.Device
			var cur Device
			found, err := getJSON(db, []byte(d.ID), &cur)
			if err != nil {
				return err
			}
			if !found || cur.PublicKey != d.PublicKey {
				return fmt.Errorf("device %s was removed or re-enrolled with another key during the publish; publish again", d.ID)
			}
			ref := &BundleRef{Version: stg.Version, Hash: b.Hash, Size: len(b.Data), StagedAt: stg.Now, Rollout: rid, Wave: b.Wave}
			sl, err := getSlot(tx, d.ID)
			if err != nil {
				return err
			}
			sl.Staged = ref
			if b.Wave == 0 {
				rel := *ref
				sl.Released = &rel
			}
			if err := tx.Bucket(bktBundles).Put(bundleKey(d.ID, stg.Version), b.Data); err != nil {
				return err
			}
			if b.Catalogue != "" {
				if err := tx.Bucket(bktCatRefs).Put(bundleKey(d.ID, stg.Version), []byte(b.Catalogue)); err != nil {
					return err
				}
			}
			if err := putJSON(tx.Bucket(bktSlots), []byte(d.ID), sl); err != nil {
				return err
			}
			if err := gcBundles(tx, d.ID, sl); err != nil {
				return err
			}
		}
		if err := putCatalogues(tx, stg.Catalogues); err != nil {
			return err
		}
		// An object found by an earlier read may have been dropped by a
		// publish in between (PostgreSQL's foreign key refuses the same).
		for _, b := range stg.Bundles {
			if b.Catalogue != "" && tx.Bucket(bktCatalogues).Get([]byte(b.Catalogue)) == nil {
				return fmt.Errorf("catalogue object %s of device %s is not stored (removed by another publish?); publish again", b.Catalogue, b.Device.ID)
			}
		}
		if err := gcCatalogues(tx); err != nil {
			return fmt.Errorf("catalogues: %w", err)
		}
		r = NewRollout(rid, stg)
		for w, ids := range stg.WaveDevices {
			if err := putJSON(tx.Bucket(bktWaves), waveKey(rid, w), ids); err != nil {
				return err
			}
		}
		if err := putJSON(tx.Bucket(bktRollouts), rolloutKey(rid), r); err != nil {
			return err
		}
		st.HQKey = stg.HQKey
		if err := putJSON(meta, keySettings, st); err != nil {
			return err
		}
		for k, v := range map[string]uint64{string(keyRollout): rid, string(keyActive): rid} {
			if err := meta.Put([]byte(k), u64(v)); err != nil {
				return err
			}
		}
		return bumpGen(tx)
	})
	return r, err
}

func (s *boltBackend) Served(_ context.Context, want func(id string, ref *BundleRef) bool, wantCat func(addr string) bool) (*ServedView, error) {
	v := &ServedView{}
	err := s.view(func(tx *bolt.Tx) error {
		v.Gen = getU64(tx.Bucket(bktMeta), keyGen)
		if err := tx.Bucket(bktCatalogues).ForEach(func(k, data []byte) error {
			c := ServedCatalogue{Address: string(k)}
			if wantCat(c.Address) {
				c.Data = bytes.Clone(data)
			}
			v.Catalogues = append(v.Catalogues, c)
			return nil
		}); err != nil {
			return err
		}
		devices, err := allDevices(tx)
		if err != nil {
			return err
		}
		v.Devices = make([]ServedDevice, 0, len(devices))
		for _, d := range devices {
			sd := ServedDevice{Device: d}
			sl, err := getSlot(tx, d.ID)
			if err != nil {
				return err
			}
			if ref := sl.Released; ref != nil {
				sd.Released = ref
				if want(d.ID, ref) {
					raw := tx.Bucket(bktBundles).Get(bundleKey(d.ID, ref.Version))
					if raw == nil {
						return fmt.Errorf("device %s: released bundle version %d is missing from the file", d.ID, ref.Version)
					}
					sd.Bundle = bytes.Clone(raw)
				}
			}
			v.Devices = append(v.Devices, sd)
		}
		return nil
	})
	return v, err
}

// Commit runs the batch, the last-seen times and the rollout step in one
// transaction. A cycle with nothing to write and no wave due only reads,
// so an idle HQ does not fsync.
func (s *boltBackend) Commit(_ context.Context, b Batch) (CommitResult, error) {
	var res CommitResult
	work := func(tx *bolt.Tx) error {
		for _, p := range b.Reports {
			if err := applyReport(tx, p.Device, p.Report); err != nil {
				return fmt.Errorf("report of %s: %w", p.Device, err)
			}
		}
		sb := tx.Bucket(bktSeen)
		for _, x := range b.Seen {
			if err := sb.Put([]byte(x.Device), u64(uint64(x.At))); err != nil {
				return err
			}
		}
		if tx.Writable() {
			ev, err := evaluate(tx, b.Now)
			if err != nil {
				return fmt.Errorf("rollout: %w", err)
			}
			if ev != "" {
				res.Events = append(res.Events, ev)
			}
		}
		res.Gen = getU64(tx.Bucket(bktMeta), keyGen)
		return nil
	}
	write := len(b.Reports) > 0 || len(b.Seen) > 0
	var err error
	if !write {
		var due bool
		err = s.view(func(tx *bolt.Tx) error {
			var err error
			if _, _, due, err = waveDue(tx, b.Now); err != nil || due {
				return err
			}
			return work(tx)
		})
		write = due
	}
	if write && err == nil {
		res.Events = nil
		err = s.update(work)
	}
	return res, err
}

func (s *boltBackend) Status(_ context.Context, rollouts int) (*Status, error) {
	st := &Status{}
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if st.Settings, err = getSettings(tx); err != nil {
			return err
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
			st.Devices = append(st.Devices, ds)
		}
		c := tx.Bucket(bktRollouts).Cursor()
		for k, _ := c.Last(); k != nil && len(st.Rollouts) < rollouts; k, _ = c.Prev() {
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
	return st, err
}

func (s *boltBackend) Dump(context.Context) (*Chain, error) {
	c := &Chain{Format: ChainFormat}
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		var err error
		if c.Settings, err = getSettings(tx); err != nil {
			return err
		}
		c.Version, c.LastRollout, c.Active = getU64(meta, keyVersion), getU64(meta, keyRollout), getU64(meta, keyActive)
		devices, err := allDevices(tx)
		if err != nil {
			return err
		}
		for _, d := range devices {
			cd := ChainDevice{Device: d}
			sl, err := getSlot(tx, d.ID)
			if err != nil {
				return err
			}
			cd.Staged, cd.Released = sl.Staged, sl.Released
			var rep Report
			if found, err := getJSON(tx.Bucket(bktReports), []byte(d.ID), &rep); err != nil {
				return err
			} else if found {
				cd.Report = &rep
			}
			if v := tx.Bucket(bktOutcomes).Get([]byte(d.ID)); len(v) == 9 {
				cd.Outcome = &Outcome{Version: btou(v[:8]), State: stateName(v[8])}
			}
			if v := tx.Bucket(bktSeen).Get([]byte(d.ID)); len(v) == 8 {
				cd.LastSeen = int64(btou(v))
			}
			c.Devices = append(c.Devices, cd)
		}
		if err := tx.Bucket(bktBundles).ForEach(func(k, v []byte) error {
			i := bytes.IndexByte(k, 0)
			if i < 0 || len(k) != i+9 {
				return fmt.Errorf("bundle key %q: malformed", k)
			}
			c.Bundles = append(c.Bundles, ChainBundle{Device: string(k[:i]), Version: btou(k[i+1:]), Data: bytes.Clone(v),
				Catalogue: string(tx.Bucket(bktCatRefs).Get(k))})
			return nil
		}); err != nil {
			return err
		}
		keyOf := map[string]string{}
		if err := tx.Bucket(bktCatContent).ForEach(func(k, v []byte) error {
			keyOf[string(v)] = string(k)
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bktCatalogues).ForEach(func(k, v []byte) error {
			c.Catalogues = append(c.Catalogues, CatalogueObject{Address: string(k), ContentKey: keyOf[string(k)], Data: bytes.Clone(v)})
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bktRollouts).ForEach(func(k, _ []byte) error {
			r, err := getRollout(tx, btou(k))
			if err != nil {
				return err
			}
			cr := ChainRollout{Rollout: *r}
			for w := range r.Waves {
				ids, err := waveDevices(tx, r.ID, w)
				if err != nil {
					return err
				}
				cr.WaveDevices = append(cr.WaveDevices, ids)
			}
			c.Rollouts = append(c.Rollouts, cr)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *boltBackend) Load(_ context.Context, c *Chain) error {
	return s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		if k, _ := tx.Bucket(bktDevices).Cursor().First(); k != nil || getU64(meta, keyVersion) != 0 {
			return ErrNotEmpty
		}
		if err := putJSON(meta, keySettings, c.Settings); err != nil {
			return err
		}
		for k, v := range map[string]uint64{string(keyVersion): c.Version, string(keyRollout): c.LastRollout, string(keyActive): c.Active} {
			if err := meta.Put([]byte(k), u64(v)); err != nil {
				return err
			}
		}
		for _, d := range c.Devices {
			id := []byte(d.Device.ID)
			if err := putJSON(tx.Bucket(bktDevices), id, d.Device); err != nil {
				return err
			}
			if d.Staged != nil || d.Released != nil {
				if err := putJSON(tx.Bucket(bktSlots), id, slot{Staged: d.Staged, Released: d.Released}); err != nil {
					return err
				}
			}
			if d.Report != nil {
				if err := putJSON(tx.Bucket(bktReports), id, d.Report); err != nil {
					return err
				}
			}
			if o := d.Outcome; o != nil {
				if err := tx.Bucket(bktOutcomes).Put(id, append(u64(o.Version), stateCode(o.State))); err != nil {
					return err
				}
			}
			if d.LastSeen != 0 {
				if err := tx.Bucket(bktSeen).Put(id, u64(uint64(d.LastSeen))); err != nil {
					return err
				}
			}
		}
		if err := putCatalogues(tx, c.Catalogues); err != nil {
			return err
		}
		for _, b := range c.Bundles {
			if err := tx.Bucket(bktBundles).Put(bundleKey(b.Device, b.Version), b.Data); err != nil {
				return err
			}
			if b.Catalogue != "" {
				if err := tx.Bucket(bktCatRefs).Put(bundleKey(b.Device, b.Version), []byte(b.Catalogue)); err != nil {
					return err
				}
			}
		}
		for _, r := range c.Rollouts {
			if err := putJSON(tx.Bucket(bktRollouts), rolloutKey(r.Rollout.ID), r.Rollout); err != nil {
				return err
			}
			for w, ids := range r.WaveDevices {
				if err := putJSON(tx.Bucket(bktWaves), waveKey(r.Rollout.ID, w), ids); err != nil {
					return err
				}
			}
		}
		return bumpGen(tx)
	})
}

// slot is a device's bundles: the latest staged one and the one served.
// They differ while the device's wave has not started (or its rollout was
// halted before reaching it).
type slot struct {
	Staged   *BundleRef `json:"staged,omitempty"`
	Released *BundleRef `json:"released,omitempty"`
}

func getSlot(tx *bolt.Tx, id string) (slot, error) {
	var sl slot
	_, err := getJSON(tx.Bucket(bktSlots), []byte(id), &sl)
	return sl, err
}

// dropBundles forgets everything HQ staged for a device.
func dropBundles(tx *bolt.Tx, id string) error {
	if err := tx.Bucket(bktSlots).Delete([]byte(id)); err != nil {
		return err
	}
	if err := tx.Bucket(bktOutcomes).Delete([]byte(id)); err != nil {
		return err
	}
	return gcBundles(tx, id, slot{})
}

// gcBundles deletes the device's bundle bytes its slot no longer refers to.
func gcBundles(tx *bolt.Tx, id string, sl slot) error {
	keep := map[uint64]bool{}
	if sl.Staged != nil {
		keep[sl.Staged.Version] = true
	}
	if sl.Released != nil {
		keep[sl.Released.Version] = true
	}
	prefix := append([]byte(id), 0)
	b := tx.Bucket(bktBundles)
	var del [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
		if !keep[btou(k[len(prefix):])] {
			del = append(del, append([]byte(nil), k...))
		}
	}
	for _, k := range del {
		if err := b.Delete(k); err != nil {
			return err
		}
		if err := tx.Bucket(bktCatRefs).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func (s *boltBackend) Catalogues(_ context.Context, contentKeys []string) (map[string]CatalogueObject, error) {
	out := map[string]CatalogueObject{}
	err := s.view(func(tx *bolt.Tx) error {
		for _, ck := range contentKeys {
			addr := tx.Bucket(bktCatContent).Get([]byte(ck))
			if addr == nil {
				continue
			}
			if data := tx.Bucket(bktCatalogues).Get(addr); data != nil {
				out[ck] = CatalogueObject{Address: string(addr), ContentKey: ck, Data: bytes.Clone(data)}
			}
		}
		return nil
	})
	return out, err
}

// putCatalogues stores catalogue objects and their content keys.
func putCatalogues(tx *bolt.Tx, objs []CatalogueObject) error {
	for _, o := range objs {
		if err := tx.Bucket(bktCatalogues).Put([]byte(o.Address), o.Data); err != nil {
			return err
		}
		if o.ContentKey != "" {
			if err := tx.Bucket(bktCatContent).Put([]byte(o.ContentKey), []byte(o.Address)); err != nil {
				return err
			}
		}
	}
	return nil
}

// gcCatalogues drops the catalogue objects (and their content keys) no
// stored bundle refers to. gcBundles drops a bundle's reference with it.
func gcCatalogues(tx *bolt.Tx) error {
	live := map[string]bool{}
	if err := tx.Bucket(bktCatRefs).ForEach(func(_, v []byte) error {
		live[string(v)] = true
		return nil
	}); err != nil {
		return err
	}
	// Collect first: bbolt cursors must not see deletes under them.
	var deadObjs, deadContent [][]byte
	cb, cc := tx.Bucket(bktCatalogues), tx.Bucket(bktCatContent)
	if err := cb.ForEach(func(k, _ []byte) error {
		if !live[string(k)] {
			deadObjs = append(deadObjs, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	if err := cc.ForEach(func(k, v []byte) error {
		if !live[string(v)] {
			deadContent = append(deadContent, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range deadObjs {
		if err := cb.Delete(k); err != nil {
			return err
		}
	}
	for _, k := range deadContent {
		if err := cc.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func bundleKey(id string, version uint64) []byte {
	k := make([]byte, 0, len(id)+9)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, version)
}

func bumpGen(tx *bolt.Tx) error {
	meta := tx.Bucket(bktMeta)
	return meta.Put(keyGen, u64(getU64(meta, keyGen)+1))
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return btou(v)
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func btou(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode record %q: %w", k, err)
	}
	return true, nil
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
	var applying, applied, failed int
	for _, id := range ids {
		v := out.Get([]byte(id))
		if len(v) != 9 || btou(v[:8]) != version {
			continue
		}
		switch v[8] {
		case outApplying:
			applying++
		case outApplied:
			applied++
		case outFailed:
			failed++
		}
	}
	return Tally(len(ids), applying, applied, failed)
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
// tells whether the wave has ended (see waveIsDue). r is nil when no
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
	return r, c, WaveIsDue(r, c, now), nil
}

// evaluate advances the running rollout once its current wave is due (see
// endWave). It returns a description of what changed, "" if nothing did.
func evaluate(tx *bolt.Tx, now time.Time) (string, error) {
	r, c, due, err := waveDue(tx, now)
	if err != nil || !due {
		return "", err
	}
	meta := tx.Bucket(bktMeta)
	if r.State != RolloutRunning {
		return "", meta.Put(keyActive, u64(0))
	}
	n := 0
	if EndWave(r, c, now) {
		ids, err := waveDevices(tx, r.ID, r.Current)
		if err != nil {
			return "", err
		}
		if n, err = release(tx, r.ID, ids); err != nil {
			return "", err
		}
		if err := bumpGen(tx); err != nil {
			return "", err
		}
	} else if err := meta.Put(keyActive, u64(0)); err != nil {
		return "", err
	}
	return WaveEvent(r, c, n), putJSON(tx.Bucket(bktRollouts), rolloutKey(r.ID), r)
}

// applyReport records a report (see mergeReport).
func applyReport(tx *bolt.Tx, id string, rep Report) error {
	rb := tx.Bucket(bktReports)
	var old Report
	// An unreadable old record is replaced rather than failing the whole
	// batch (every report in it would be refused).
	found, err := getJSON(rb, []byte(id), &old)
	oldp := &old
	if err != nil || !found {
		oldp = nil
	}
	ob := tx.Bucket(bktOutcomes)
	var out *Outcome
	if v := ob.Get([]byte(id)); len(v) == 9 {
		out = &Outcome{Version: btou(v[:8]), State: stateName(v[8])}
	}
	keep, setOut := MergeReport(oldp, out, rep)
	if !keep {
		return nil
	}
	if setOut {
		if err := ob.Put([]byte(id), append(u64(rep.Version), stateCode(rep.State))); err != nil {
			return err
		}
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return rb.Put([]byte(id), raw)
}
