package hq

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/pda-agent/pda-agent/gm"
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

	allBuckets = [][]byte{bktMeta, bktDevices, bktSlots, bktBundles, bktReports, bktOutcomes, bktSeen, bktRollouts, bktWaves}

	keySchema   = []byte("schema")
	keyVersion  = []byte("version")  // last bundle version handed out
	keyGen      = []byte("gen")      // bumped by every change Serve must reload
	keyRollout  = []byte("rollout")  // last rollout id
	keyActive   = []byte("active")   // the running rollout, 0 if none
	keySettings = []byte("settings") // Settings JSON
)

// Errors callers act on.
var (
	// ErrLocked: another process held the file longer than LockTimeout.
	ErrLocked = errors.New("hq database is locked by another process (a long publish or export? try again)")
	// ErrNotExist: the database file does not exist (enroll creates it).
	ErrNotExist = errors.New("hq database does not exist (pda-hq enroll creates it)")
	// ErrNewerSchema: the file was written by a newer pda-hq.
	ErrNewerSchema = errors.New("hq database was written by a newer pda-hq")
)

// Options configure a Store.
type Options struct {
	// Create makes the file if it does not exist; otherwise a missing
	// file is ErrNotExist, so a mistyped --db is not silently empty.
	Create bool
	// LockTimeout bounds each wait for the file lock. Default 10s.
	LockTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives notable events. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is HQ's state: one bbolt file, fsync on every commit.
//
// A Store does not keep the file open between operations. bbolt admits one
// process at a time, and the operator runs `pda-hq publish`, `enroll`,
// `status` and `export` while `pda-hq serve` runs; so every operation opens
// the file, runs its transaction and closes it, waiting up to LockTimeout
// for the lock (opening costs tens of microseconds). Serve keeps what it
// needs in memory and takes the lock only for its short group commits.
type Store struct {
	path string
	opts Options
}

// Open checks the file at path (creating it if o.Create) and returns the
// Store. The file is not kept open.
func Open(path string, o Options) (*Store, error) {
	o = o.withDefaults()
	s := &Store{path: path, opts: o}
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

// Path is the database file.
func (s *Store) Path() string { return s.path }

// with opens the file, runs fn and closes it. A corrupt file is an error,
// never replaced: HQ's file is the fleet's record of keys and versions.
func (s *Store) with(create bool, fn func(db *bolt.DB) error) (err error) {
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

func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	return s.with(false, func(db *bolt.DB) error { return db.Update(fn) })
}

func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	return s.with(false, func(db *bolt.DB) error { return db.View(fn) })
}

// DefaultPollInterval is the agents' expected poll interval until set.
const DefaultPollInterval = time.Minute

// Settings are HQ-wide settings kept in the file.
type Settings struct {
	// HQKey is the fingerprint of the key bundles are signed with, fixed
	// by the first publish: agents pin it (fleet.hq_key), so a publish
	// with another key would be refused by every device.
	HQKey string `json:"hq_key,omitempty"`
	// PollInterval is how often agents are expected to poll.
	PollInterval time.Duration `json:"poll_interval"`
	// SilentAfter marks a device silent after this long without contact;
	// 0 means 3 × PollInterval.
	SilentAfter time.Duration `json:"silent_after,omitempty"`
}

// Silence is the effective silent threshold.
func (st Settings) Silence() time.Duration {
	if st.SilentAfter > 0 {
		return st.SilentAfter
	}
	p := st.PollInterval
	if p <= 0 {
		p = DefaultPollInterval
	}
	return 3 * p
}

// Settings returns the stored settings.
func (s *Store) Settings() (Settings, error) {
	var st Settings
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		st, err = getSettings(tx)
		return err
	})
	return st, err
}

// SetSettings changes the poll interval and silent threshold (HQKey is
// kept: only a publish with ReplaceHQKey changes it).
func (s *Store) SetSettings(pollInterval, silentAfter time.Duration) (Settings, error) {
	if pollInterval <= 0 || silentAfter < 0 {
		return Settings{}, fmt.Errorf("hq: settings: poll interval must be positive and silent-after not negative; got %s and %s", pollInterval, silentAfter)
	}
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

// Device is an enrolled device.
type Device struct {
	ID     string `json:"id"`
	Store  string `json:"store"`
	Region string `json:"region,omitempty"`
	Group  string `json:"group,omitempty"`
	// PublicKey is the device's SM2 public key, Base64 of 04‖X‖Y (Enroll
	// also accepts PEM and stores this canonical form).
	PublicKey   string    `json:"public_key"`
	Fingerprint string    `json:"fingerprint"`
	EnrolledAt  time.Time `json:"enrolled_at"`
}

var (
	// deviceIDRE is configs' rule for device.id: the id starts bill codes.
	deviceIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)
	// nameRE keeps store, region and group ids usable as file names.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

func checkName(kind, v string, required bool) error {
	if v == "" && !required {
		return nil
	}
	if !nameRE.MatchString(v) || v != filepath.Base(v) {
		return fmt.Errorf("%s %q: must be 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit (it names a file in the config tree)", kind, v)
	}
	return nil
}

// EnrollResult says what Enroll did with one device.
type EnrollResult struct {
	Device Device
	// New is true for a device not enrolled before.
	New bool
	// KeyChanged: the device was enrolled with another key; its bundles
	// (whose secrets only the old key can read) were dropped, so it gets
	// no_bundle until the next publish.
	KeyChanged bool
}

// Enroll adds devices or updates them (store, region, group, key), all in
// one transaction. PublicKey may be Base64 or PEM.
func (s *Store) Enroll(devices ...Device) ([]EnrollResult, error) {
	now := s.opts.Now().UTC()
	clean := make([]Device, 0, len(devices))
	seen := map[string]bool{}
	for _, d := range devices {
		if !deviceIDRE.MatchString(d.ID) {
			return nil, fmt.Errorf("hq: enroll: device id %q: must be 1-16 of A-Z a-z 0-9 _ - (the agent's device.id rule)", d.ID)
		}
		if seen[d.ID] {
			return nil, fmt.Errorf("hq: enroll: device %s given twice", d.ID)
		}
		seen[d.ID] = true
		for _, c := range []struct {
			kind, v  string
			required bool
		}{{"store", d.Store, true}, {"region", d.Region, false}, {"group", d.Group, false}} {
			if err := checkName(c.kind, c.v, c.required); err != nil {
				return nil, fmt.Errorf("hq: enroll %s: %w", d.ID, err)
			}
		}
		pub, err := gm.ParsePublicKey(d.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("hq: enroll %s: %w", d.ID, err)
		}
		d.PublicKey = gm.PublicKeyBase64(pub)
		d.Fingerprint = gm.Fingerprint(pub)
		clean = append(clean, d)
	}
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
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return out, nil
}

// Devices lists the enrolled devices in id order.
func (s *Store) Devices() ([]Device, error) {
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

// BundleRef describes one sealed bundle of a device.
type BundleRef struct {
	Version  uint64    `json:"version"`
	Hash     string    `json:"hash"`
	Size     int       `json:"size"`
	StagedAt time.Time `json:"staged_at"`
	Rollout  uint64    `json:"rollout"`
	Wave     int       `json:"wave"` // 0-based index in the rollout
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
