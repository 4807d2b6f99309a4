package hq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"time"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/gm"
)

// Backend is where HQ keeps its state. Two implement it: the embedded
// bbolt file (Open; one process, the default) and PostgreSQL (package
// fleet/hq/pgstore; several `pda-hq serve` replicas on one database).
//
// Every method is one transaction. The rules all backends keep (the
// conformance suite in fleet/hq/storetest checks them):
//   - Stage and the rollout step in Commit are serialised against each
//     other and against themselves across processes: a wave is released
//     once, whichever process commits the report that ends it.
//   - Commit stores the whole batch or nothing: a report is acknowledged
//     only after Commit returned nil.
//   - Served reads one consistent view (never a released ref without its
//     bundle bytes, nor a bundle without the catalogue object it names).
//   - Stage stores a publish's catalogue objects with its bundles, and
//     drops the objects no stored bundle refers to any more.
type Backend interface {
	// Settings returns the stored settings.
	Settings(ctx context.Context) (Settings, error)
	// SetSettings changes the poll interval and silent threshold.
	SetSettings(ctx context.Context, pollInterval, silentAfter time.Duration) (Settings, error)
	// Enroll adds or updates checked devices (canonical keys and
	// fingerprints filled in); a device whose key changed loses its
	// bundles and its rollout outcome. now stamps EnrolledAt.
	Enroll(ctx context.Context, now time.Time, devices []Device) ([]EnrollResult, error)
	// Devices lists the enrolled devices in id order.
	Devices(ctx context.Context) ([]Device, error)
	// ReserveVersion takes the next bundle version in its own commit.
	ReserveVersion(ctx context.Context) (uint64, error)
	// Stage commits a publish (see Staging) and returns the new rollout.
	Stage(ctx context.Context, s *Staging) (*Rollout, error)
	// Catalogues returns the stored catalogue objects sealed for the
	// given content keys (a key with none is absent), so a publish reuses
	// an unchanged catalogue's object, address and the devices' copies.
	Catalogues(ctx context.Context, contentKeys []string) (map[string]CatalogueObject, error)
	// Served returns every device's released bundle ref, with its bytes
	// where want says so, every stored catalogue object's address, with
	// its bytes where wantCat says so, and the change counter the view is
	// at.
	Served(ctx context.Context, want func(id string, ref *BundleRef) bool, wantCat func(addr string) bool) (*ServedView, error)
	// Commit stores a batch of reports and last-seen times, then ends
	// the running rollout's current wave if it is due (every device
	// reported, or the wave timeout passed at b.Now). An empty batch
	// with no wave due writes nothing.
	Commit(ctx context.Context, b Batch) (CommitResult, error)
	// Status reads the fleet (Silent and At are left to the caller) with
	// the newest `rollouts` rollouts.
	Status(ctx context.Context, rollouts int) (*Status, error)
	// Dump reads the whole chain; Load writes one into an empty store.
	Dump(ctx context.Context) (*Chain, error)
	Load(ctx context.Context, c *Chain) error
	// Close releases the backend's resources.
	Close() error
}

// Staging is a publish ready to commit: a sealed bundle per device, the
// catalogue objects they refer to that are not stored yet, and the wave
// plan. Stage checks HQKey against the stored one (unless
// ReplaceHQKey), that every device still has the key it was sealed for,
// halts the running rollout, stages every bundle, releases wave 0's and
// makes the new rollout the running one.
type Staging struct {
	Version      uint64
	HQKey        string
	ReplaceHQKey bool
	Now          time.Time
	Threshold    float64
	WaveTimeout  time.Duration
	// Waves lists each wave's stores and device ids (every device of
	// Bundles in exactly one wave).
	WaveStores  [][]string
	WaveDevices [][]string
	Bundles     []SealedBundle
	// Catalogues are the new catalogue objects (an object already stored
	// is referred to by address only).
	Catalogues []CatalogueObject
}

// CatalogueObject is a signed catalogue object (catalogue.Seal) as HQ
// stores it.
type CatalogueObject struct {
	// Address is the SHA-256 of Data, hex: the name devices fetch it by.
	Address string `json:"address"`
	// ContentKey names what was sealed (signing key, scope, products,
	// partners); a publish of the same content reuses the object.
	ContentKey string `json:"content_key"`
	Data       []byte `json:"data"`
}

// SealedBundle is one device's bundle of a publish.
type SealedBundle struct {
	Device Device // as read before sealing: its key must be unchanged
	Wave   int
	Data   []byte
	Hash   string
	// Catalogue is the address of the catalogue object the bundle refers
	// to ("" for none: a v1 bundle or no products and partners).
	Catalogue string
}

// ServedView is what the devices are served.
type ServedView struct {
	Gen     uint64
	Devices []ServedDevice
	// Catalogues are every stored catalogue object, with Data only where
	// wantCat said so.
	Catalogues []ServedCatalogue
}

// ServedCatalogue is a stored catalogue object's address and, when asked
// for, its bytes.
type ServedCatalogue struct {
	Address string
	Data    []byte
}

// ServedDevice is a device, its released bundle (nil if none) and that
// bundle's bytes when asked for.
type ServedDevice struct {
	Device   Device
	Released *BundleRef
	Bundle   []byte
}

// Batch is one writer cycle's work.
type Batch struct {
	Reports []DeviceReport
	Seen    []LastSeen
	Now     time.Time
}

// DeviceReport is an accepted report of a device.
type DeviceReport struct {
	Device string
	Report Report
}

// LastSeen is a device's last authenticated request, unix nanoseconds.
type LastSeen struct {
	Device string
	At     int64
}

// CommitResult says what a Commit changed.
type CommitResult struct {
	// Events describe rollout changes ("" never).
	Events []string
	// Gen is the change counter after the commit: a Server reloads its
	// snapshot when it differs from the one it serves.
	Gen uint64
}

// Errors callers act on.
var (
	// ErrLocked: another process held the file longer than LockTimeout.
	ErrLocked = errors.New("hq database is locked by another process (a long publish or export? try again)")
	// ErrNotExist: the database file does not exist (enroll creates it).
	ErrNotExist = errors.New("hq database does not exist (pda-hq enroll creates it)")
	// ErrNewerSchema: the file was written by a newer pda-hq.
	ErrNewerSchema = errors.New("hq database was written by a newer pda-hq")
	// ErrNotEmpty: Load into a store that already holds a chain.
	ErrNotEmpty = errors.New("hq database already holds devices or versions (import needs an empty one)")
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

// Store is HQ: publish, enroll, status and serve over a Backend.
type Store struct {
	b    Backend
	path string
	opts Options
}

// New returns a Store over b (Create and LockTimeout of o are unused).
func New(b Backend, o Options) *Store {
	return &Store{b: b, opts: o.withDefaults()}
}

// Backend is the store's backend.
func (s *Store) Backend() Backend { return s.b }

// Close closes the backend.
func (s *Store) Close() error { return s.b.Close() }

// Path is the database file ("" for a backend other than bbolt).
func (s *Store) Path() string { return s.path }

// DefaultPollInterval is the agents' expected poll interval until set.
const DefaultPollInterval = time.Minute

// Settings are HQ-wide settings kept in the database.
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
	return s.b.Settings(context.Background())
}

// SetSettings changes the poll interval and silent threshold (HQKey is
// kept: only a publish with ReplaceHQKey changes it).
func (s *Store) SetSettings(pollInterval, silentAfter time.Duration) (Settings, error) {
	if pollInterval <= 0 || silentAfter < 0 {
		return Settings{}, fmt.Errorf("hq: settings: poll interval must be positive and silent-after not negative; got %s and %s", pollInterval, silentAfter)
	}
	return s.b.SetSettings(context.Background(), pollInterval, silentAfter)
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
	out, err := s.b.Enroll(context.Background(), now, clean)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return out, nil
}

// Devices lists the enrolled devices in id order.
func (s *Store) Devices() ([]Device, error) {
	return s.b.Devices(context.Background())
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

// Chain is a whole HQ database in a backend-neutral form: what
// `pda-hq export --chain` writes and `pda-hq import` loads.
type Chain struct {
	// Format is ChainFormat.
	Format   int      `json:"format"`
	Settings Settings `json:"settings"`
	// Version is the last bundle version handed out, LastRollout the
	// last rollout id, Active the running rollout (0: none).
	Version     uint64         `json:"version"`
	LastRollout uint64         `json:"last_rollout"`
	Active      uint64         `json:"active"`
	Devices     []ChainDevice  `json:"devices"`
	Bundles     []ChainBundle  `json:"bundles"`
	Rollouts    []ChainRollout `json:"rollouts"`
	// Catalogues are the stored catalogue objects (format 2).
	Catalogues []CatalogueObject `json:"catalogues,omitempty"`
}

// ChainFormat is the version of the Chain layout: 2 added the catalogue
// objects. Load also reads format 1 (a chain without them).
const ChainFormat = 2

// ChainDevice is a device and everything HQ knows of it.
type ChainDevice struct {
	Device   Device     `json:"device"`
	Staged   *BundleRef `json:"staged,omitempty"`
	Released *BundleRef `json:"released,omitempty"`
	Report   *Report    `json:"report,omitempty"`
	// Outcome is the newest version's result the rollouts count.
	Outcome *Outcome `json:"outcome,omitempty"`
	// LastSeen is unix nanoseconds, 0 never.
	LastSeen int64 `json:"last_seen,omitempty"`
}

// Outcome is what a device reported for the newest version it reported.
type Outcome struct {
	Version uint64 `json:"version"`
	State   string `json:"state"`
}

// ChainBundle is one stored sealed bundle.
type ChainBundle struct {
	Device  string `json:"device"`
	Version uint64 `json:"version"`
	Data    []byte `json:"data"`
	// Catalogue is the address of the catalogue object it refers to.
	Catalogue string `json:"catalogue,omitempty"`
}

// ChainRollout is a rollout with its waves' device ids.
type ChainRollout struct {
	Rollout     Rollout    `json:"rollout"`
	WaveDevices [][]string `json:"wave_devices"`
}

// Check catches a Chain that would load inconsistent state.
func (c *Chain) Check() error {
	if c.Format != 1 && c.Format != ChainFormat {
		return fmt.Errorf("chain format %d; this build reads 1 to %d", c.Format, ChainFormat)
	}
	cats := map[string]bool{}
	for _, o := range c.Catalogues {
		if cats[o.Address] {
			return fmt.Errorf("catalogue object %s listed twice", o.Address)
		}
		if catalogue.ID(o.Data) != o.Address {
			return fmt.Errorf("catalogue object %s: its bytes do not hash to its address", o.Address)
		}
		cats[o.Address] = true
	}
	ids := map[string]bool{}
	for _, d := range c.Devices {
		if ids[d.Device.ID] {
			return fmt.Errorf("device %s listed twice", d.Device.ID)
		}
		ids[d.Device.ID] = true
	}
	have := map[string]bool{}
	for _, b := range c.Bundles {
		if !ids[b.Device] {
			return fmt.Errorf("bundle of unknown device %s", b.Device)
		}
		if b.Catalogue != "" && !cats[b.Catalogue] {
			return fmt.Errorf("bundle %s/%d: catalogue object %s is missing", b.Device, b.Version, b.Catalogue)
		}
		have[fmt.Sprint(b.Device, "/", b.Version)] = true
	}
	for _, d := range c.Devices {
		if r := d.Released; r != nil && !have[fmt.Sprint(d.Device.ID, "/", r.Version)] {
			return fmt.Errorf("device %s: released version %d has no bundle", d.Device.ID, r.Version)
		}
	}
	return nil
}

// Dump reads the whole chain.
func (s *Store) Dump(ctx context.Context) (*Chain, error) {
	c, err := s.b.Dump(ctx)
	if err != nil {
		return nil, fmt.Errorf("hq: dump: %w", err)
	}
	return c, nil
}

// Load writes a dumped chain into this (empty) store.
func (s *Store) Load(ctx context.Context, c *Chain) error {
	if err := c.Check(); err != nil {
		return fmt.Errorf("hq: load: %w", err)
	}
	if err := s.b.Load(ctx, c); err != nil {
		return fmt.Errorf("hq: load: %w", err)
	}
	return nil
}
