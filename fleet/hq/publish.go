package hq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/gm"
)

// Rollout defaults.
const (
	DefaultThreshold   = 0.2
	DefaultWaveTimeout = 30 * time.Minute
	// DefaultValidity is how long a bundle may be applied after its
	// publish (its not_after); publish again before it runs out.
	DefaultValidity = 30 * 24 * time.Hour
)

// ErrHQKeyChanged refuses a publish signed with another key than the one
// the fleet's agents pin.
var ErrHQKeyChanged = errors.New("the signing key differs from the one this fleet publishes with (agents pin fleet.hq_key and would refuse every bundle)")

// PublishOptions shape a publish.
type PublishOptions struct {
	// Key is HQ's signing key. Required.
	Key *sm2.PrivateKey
	// Stores, or Percent of the stores (chosen by hashing store ids, so
	// the same canary stores come first every time), make wave 1; the
	// other devices form wave 2. Neither: one wave, released at once.
	Stores  []string
	Percent float64
	// Threshold halts the rollout when a wave's FAILED/(APPLIED+FAILED)
	// exceeds it; 0 halts on any failure (the CLI defaults to
	// DefaultThreshold).
	Threshold float64
	// WaveTimeout ends a wave even if not every device reported. Default
	// DefaultWaveTimeout.
	WaveTimeout time.Duration
	// ReplaceHQKey accepts a signing key other than the fleet's (after
	// every agent was given the new fleet.hq_key).
	ReplaceHQKey bool
	// Workers render and seal in parallel. Default GOMAXPROCS.
	Workers int
	// Validity sets each bundle's not_after (publish time + Validity).
	// Default DefaultValidity.
	Validity time.Duration
	// BundleFormat is bundle.FormatV2 (default: the catalogue as its own
	// signed object, not_after) or bundle.FormatV1 for fleets that still
	// run agents without v2 (catalogue inline, no expiry).
	BundleFormat string
}

// PublishResult says what a publish staged.
type PublishResult struct {
	Rollout uint64
	Version uint64
	Devices int
	Waves   []Wave
	// Warnings name tree files no device uses and files the tree ignores.
	Warnings []string
}

// Publish renders the tree for every enrolled device, validates each config
// as the agent would, and — only if all pass — seals one bundle per device
// with a fresh version and stages them in a new rollout whose first wave is
// released at once. A running rollout is superseded (halted). A tree or
// config problem is a *RenderError and nothing is staged.
//
// Rendering and sealing (SM2 signing and encryption) happen without the
// file lock, so Serve keeps committing reports meanwhile.
func (s *Store) Publish(ctx context.Context, tree string, o PublishOptions) (*PublishResult, error) {
	if o.Key == nil {
		return nil, errors.New("hq: publish: no signing key")
	}
	if len(o.Stores) > 0 && o.Percent != 0 {
		return nil, errors.New("hq: publish: give stores or a percentage, not both")
	}
	if o.Percent < 0 || o.Percent > 100 || math.IsNaN(o.Percent) {
		return nil, fmt.Errorf("hq: publish: percent must be between 0 and 100; got %g", o.Percent)
	}
	if o.Threshold < 0 || o.Threshold > 1 || math.IsNaN(o.Threshold) {
		return nil, fmt.Errorf("hq: publish: threshold must be between 0 and 1; got %g", o.Threshold)
	}
	if o.WaveTimeout < 0 {
		return nil, fmt.Errorf("hq: publish: wave timeout must not be negative; got %s", o.WaveTimeout)
	}
	if o.WaveTimeout == 0 {
		o.WaveTimeout = DefaultWaveTimeout
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Validity < 0 {
		return nil, fmt.Errorf("hq: publish: validity must not be negative; got %s", o.Validity)
	}
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	switch o.BundleFormat {
	case "", "v2", bundle.FormatV2:
		o.BundleFormat = bundle.FormatV2
	case "v1", bundle.FormatV1:
		o.BundleFormat = bundle.FormatV1
	default:
		return nil, fmt.Errorf("hq: publish: bundle format %q: want v2 or v1", o.BundleFormat)
	}
	hqKey := gm.Fingerprint(&o.Key.PublicKey)

	bctx := context.WithoutCancel(ctx)
	st, err := s.b.Settings(bctx)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := CheckHQKey(st, hqKey, o.ReplaceHQKey); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	devices, err := s.b.Devices(bctx)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if len(devices) == 0 {
		return nil, errors.New("hq: publish: no device is enrolled")
	}
	waves, err := planWaves(devices, o)
	if err != nil {
		return nil, fmt.Errorf("hq: publish: %w", err)
	}

	t, err := LoadTree(tree)
	if err != nil {
		return nil, err
	}
	rendered := make([]*Rendered, len(devices))
	failures := make([]error, len(devices))
	if err := parallel(ctx, len(devices), o.Workers, func(i int) error {
		r, err := t.Render(devices[i])
		if err == nil {
			err = r.Validate()
		}
		rendered[i], failures[i] = r, err
		return nil
	}); err != nil {
		return nil, fmt.Errorf("hq: publish: %w", err)
	}
	perDevice := map[string]error{}
	for i, err := range failures {
		if err != nil {
			perDevice[devices[i].ID] = err
		}
	}
	if len(perDevice) > 0 {
		return nil, &RenderError{Problems: groupProblems(perDevice)}
	}

	// The version is taken before sealing (it is signed into each
	// bundle) in its own commit: a publish that fails later leaves a gap,
	// never a version used twice.
	version, err := s.b.ReserveVersion(bctx)
	if err != nil {
		return nil, fmt.Errorf("publish: reserve a version: %w", err)
	}

	now := s.opts.Now().UTC()
	cats := &catPlan{}
	if o.BundleFormat == bundle.FormatV2 {
		if cats, err = s.planCatalogues(bctx, rendered, o.Key, version, now); err != nil {
			return nil, fmt.Errorf("hq: publish version %d: %w", version, err)
		}
	}
	sealed := make([][]byte, len(devices))
	hashes := make([]string, len(devices))
	if err := parallel(ctx, len(devices), o.Workers, func(i int) error {
		sh := sealHow{format: o.BundleFormat}
		if o.BundleFormat == bundle.FormatV2 {
			sh.notAfter = now.Add(o.Validity)
			sh.catalogue = cats.refs[i]
		}
		var err error
		sealed[i], hashes[i], err = seal(devices[i], rendered[i], version, now, o.Key, sh)
		return err
	}); err != nil {
		return nil, fmt.Errorf("hq: publish version %d: %w", version, err)
	}

	res := &PublishResult{Version: version, Devices: len(devices), Warnings: t.Unused(devices)}
	waveOf := map[string]int{}
	for w, ids := range waves.devices {
		for _, id := range ids {
			waveOf[id] = w
		}
	}
	stg := &Staging{Version: version, HQKey: hqKey, ReplaceHQKey: o.ReplaceHQKey, Now: now, Threshold: o.Threshold,
		WaveTimeout: o.WaveTimeout, WaveStores: waves.stores, WaveDevices: waves.devices, Bundles: make([]SealedBundle, len(devices))}
	for i, d := range devices {
		stg.Bundles[i] = SealedBundle{Device: d, Wave: waveOf[d.ID], Data: sealed[i], Hash: hashes[i]}
		if ref := cats.refs; ref != nil && ref[i] != nil {
			stg.Bundles[i].Catalogue = ref[i].SHA256
		}
	}
	stg.Catalogues = cats.fresh
	r, err := s.b.Stage(bctx, stg)
	if err != nil {
		return nil, fmt.Errorf("publish version %d: %w", version, err)
	}
	res.Rollout, res.Waves = r.ID, r.Waves
	s.opts.Logger.Info("published", "rollout", res.Rollout, "version", version, "devices", len(devices), "waves", len(res.Waves))
	return res, nil
}

// CheckHQKey refuses a signing key other than the fleet's unless replace.
func CheckHQKey(st Settings, fp string, replace bool) error {
	if st.HQKey != "" && st.HQKey != fp && !replace {
		return fmt.Errorf("%w: fleet key %s, this key %s", ErrHQKeyChanged, st.HQKey, fp)
	}
	return nil
}

// sealHow is what differs between the bundle formats.
type sealHow struct {
	format    string
	notAfter  time.Time
	catalogue *bundle.CatalogueRef // v2: the catalogue by reference
}

// seal builds and signs one device's bundle.
func seal(d Device, r *Rendered, version uint64, now time.Time, key *sm2.PrivateKey, how sealHow) ([]byte, string, error) {
	pub, err := gm.ParsePublicKey(d.PublicKey)
	if err != nil {
		return nil, "", fmt.Errorf("device %s: enrolled key: %w", d.ID, err)
	}
	body := bundle.Body{Device: d.ID, Store: d.Store, Version: version, CreatedAt: now, Config: r.Config,
		DeviceKey: gm.Fingerprint(pub), NotAfter: how.notAfter, Catalogue: how.catalogue}
	if how.format == bundle.FormatV1 {
		body.Products, body.Partners = r.Products, r.Partners
	}
	if len(r.Secrets) > 0 {
		body.Secrets = make(map[string]string, len(r.Secrets))
		for k, v := range r.Secrets {
			ct, err := bundle.EncryptSecret(pub, v)
			if err != nil {
				return nil, "", fmt.Errorf("device %s: secret %s: %w", d.ID, k, err)
			}
			body.Secrets[k] = ct
		}
	}
	data, hash, err := bundle.SealFormat(how.format, body, key)
	if err != nil {
		return nil, "", fmt.Errorf("device %s: %w", d.ID, err)
	}
	// Seal does not check the size; the agent refuses a bundle above it.
	if len(data) > bundle.MaxSize {
		return nil, "", fmt.Errorf("device %s: bundle is %d bytes, above the %d the agent accepts (catalogue too large?)", d.ID, len(data), bundle.MaxSize)
	}
	return data, hash, nil
}

// wavePlan lists each wave's stores and devices (sorted).
type wavePlan struct {
	stores  [][]string
	devices [][]string
}

// planWaves splits the devices into wave 1 (the chosen stores) and wave 2
// (the others); one wave when nothing is chosen or everything is.
func planWaves(devices []Device, o PublishOptions) (wavePlan, error) {
	byStore := map[string][]string{}
	for _, d := range devices {
		byStore[d.Store] = append(byStore[d.Store], d.ID)
	}
	all := make([]string, 0, len(byStore))
	for st := range byStore {
		all = append(all, st)
	}
	sort.Strings(all)

	chosen := map[string]bool{}
	switch {
	case len(o.Stores) > 0:
		var unknown []string
		for _, st := range o.Stores {
			if _, ok := byStore[st]; !ok {
				unknown = append(unknown, st)
			}
			chosen[st] = true
		}
		if len(unknown) > 0 {
			return wavePlan{}, fmt.Errorf("no enrolled device in store(s) %s", strings.Join(unknown, ", "))
		}
	case o.Percent > 0:
		// Ranking by a hash of the id spreads canaries across regions
		// and keeps them stable from one publish to the next.
		ranked := append([]string(nil), all...)
		rank := func(st string) string {
			sum := sha256.Sum256([]byte("pda-hq/wave1/" + st))
			return hex.EncodeToString(sum[:])
		}
		sort.Slice(ranked, func(i, j int) bool { return rank(ranked[i]) < rank(ranked[j]) })
		n := int(math.Ceil(float64(len(all)) * o.Percent / 100))
		for _, st := range ranked[:n] {
			chosen[st] = true
		}
	}
	var plan wavePlan
	add := func(pick func(string) bool) {
		var stores, ids []string
		for _, st := range all {
			if pick(st) {
				stores = append(stores, st)
				ids = append(ids, byStore[st]...)
			}
		}
		if len(ids) > 0 {
			sort.Strings(ids)
			plan.stores = append(plan.stores, stores)
			plan.devices = append(plan.devices, ids)
		}
	}
	if len(chosen) == 0 || len(chosen) == len(all) {
		add(func(string) bool { return true })
		return plan, nil
	}
	add(func(st string) bool { return chosen[st] })
	add(func(st string) bool { return !chosen[st] })
	return plan, nil
}

// parallel runs fn(0..n-1) on workers goroutines; the first error (or the
// context's) stops the rest.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}
