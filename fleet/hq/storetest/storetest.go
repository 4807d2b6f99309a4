// Package storetest is the conformance suite every hq.Backend passes: the
// bbolt file (fleet/hq's tests) and PostgreSQL (fleet/hq/pgstore's tests)
// run the same checks through hq.Store and the Backend interface.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/gm"
)

// Open returns a fresh, empty Store whose clock is now.
type Open func(t *testing.T, now func() time.Time) *hq.Store

// Clock is a settable test clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at a fixed time.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Fleet is a store with enrolled devices, their keys and HQ's key.
type Fleet struct {
	St   *hq.Store
	Clk  *Clock
	HQ   *sm2.PrivateKey
	Keys map[string]*sm2.PrivateKey
	Tree string
}

// NewFleet enrolls devices given as id → store on a fresh store.
func NewFleet(t *testing.T, open Open, devices map[string]string) *Fleet {
	t.Helper()
	clk := NewClock()
	f := &Fleet{St: open(t, clk.Now), Clk: clk, HQ: key(t), Keys: map[string]*sm2.PrivateKey{}}
	var ds []hq.Device
	for id, store := range devices {
		k := key(t)
		f.Keys[id] = k
		ds = append(ds, hq.Device{ID: id, Store: store, PublicKey: gm.PublicKeyBase64(&k.PublicKey)})
	}
	if _, err := f.St.Enroll(ds...); err != nil {
		t.Fatal(err)
	}
	f.Tree = t.TempDir()
	if err := os.WriteFile(filepath.Join(f.Tree, "chain.yaml"), []byte("log: {level: info}\nqueue: {max_batch: 100}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func key(t *testing.T) *sm2.PrivateKey {
	t.Helper()
	k, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Publish publishes the fleet's tree.
func (f *Fleet) Publish(t *testing.T, o hq.PublishOptions) *hq.PublishResult {
	t.Helper()
	o.Key = f.HQ
	res, err := f.St.Publish(context.Background(), f.Tree, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Report commits one report per device (signed now) through the Backend
// and returns the events.
func (f *Fleet) Report(t *testing.T, state string, version uint64, ids ...string) []string {
	t.Helper()
	b := hq.Batch{Now: f.Clk.Now()}
	for _, id := range ids {
		b.Reports = append(b.Reports, hq.DeviceReport{Device: id, Report: hq.Report{State: state, Version: version, At: f.Clk.Now(), SignedAt: f.Clk.Now()}})
	}
	res, err := f.St.Backend().Commit(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return res.Events
}

// Served is each device's released version (0: none).
func (f *Fleet) Served(t *testing.T) map[string]uint64 {
	t.Helper()
	v, err := f.St.Backend().Served(context.Background(), func(string, *hq.BundleRef) bool { return true }, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, d := range v.Devices {
		if d.Released != nil {
			if len(d.Bundle) != d.Released.Size {
				t.Fatalf("device %s: bundle of %d bytes, ref says %d", d.Device.ID, len(d.Bundle), d.Released.Size)
			}
			out[d.Device.ID] = d.Released.Version
		} else {
			out[d.Device.ID] = 0
		}
	}
	return out
}

// Status reads the status.
func (f *Fleet) Status(t *testing.T) *hq.Status {
	t.Helper()
	s, err := f.St.Status(hq.StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// WaveIDs splits ids by the wave of a two-wave publish of stores.
func WaveIDs(res *hq.PublishResult, devices map[string]string) (wave1, wave2 []string) {
	in1 := map[string]bool{}
	for _, s := range res.Waves[0].Stores {
		in1[s] = true
	}
	for id, st := range devices {
		if in1[st] {
			wave1 = append(wave1, id)
		} else {
			wave2 = append(wave2, id)
		}
	}
	return wave1, wave2
}

// ChainJSON is a dump as comparable bytes.
func ChainJSON(t *testing.T, st *hq.Store) []byte {
	t.Helper()
	c, err := st.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Run runs the suite.
func Run(t *testing.T, open Open) {
	devices := map[string]string{"P1": "S1", "P2": "S2", "P3": "S3", "P4": "S4"}

	t.Run("Enroll", func(t *testing.T) {
		f := NewFleet(t, open, map[string]string{"B2": "S1", "A1": "S1", "a0": "S2"})
		ds, err := f.St.Devices()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		if !reflect.DeepEqual(ids, []string{"A1", "B2", "a0"}) {
			t.Fatalf("devices in byte order: %v", ids)
		}
		f.Publish(t, hq.PublishOptions{})
		gen := servedGen(t, f.St)
		// Same key: updated, bundle kept. New key: bundles dropped.
		k := key(t)
		rs, err := f.St.Enroll(hq.Device{ID: "A1", Store: "S2", PublicKey: gm.PublicKeyBase64(&f.Keys["A1"].PublicKey)},
			hq.Device{ID: "B2", Store: "S1", PublicKey: gm.PublicKeyBase64(&k.PublicKey)})
		if err != nil {
			t.Fatal(err)
		}
		if rs[0].New || rs[0].KeyChanged || !rs[1].KeyChanged || rs[1].Device.Fingerprint != gm.Fingerprint(&k.PublicKey) {
			t.Fatalf("enroll results %+v", rs)
		}
		if g := servedGen(t, f.St); g == gen {
			t.Fatal("enroll did not change the generation replicas reload on")
		}
		if s := f.Served(t); s["A1"] != 1 || s["B2"] != 0 {
			t.Fatalf("served after re-enroll: %v", s)
		}
		st, err := f.St.SetSettings(2*time.Minute, time.Hour)
		if err != nil || st.PollInterval != 2*time.Minute || st.Silence() != time.Hour || st.HQKey != gm.Fingerprint(&f.HQ.PublicKey) {
			t.Fatalf("settings %+v %v", st, err)
		}
		if got, _ := f.St.Settings(); got != st {
			t.Fatalf("settings read back %+v, want %+v", got, st)
		}
	})

	t.Run("WavesReleasedOnce", func(t *testing.T) {
		f := NewFleet(t, open, devices)
		res := f.Publish(t, hq.PublishOptions{Stores: []string{"S1", "S2"}, Threshold: 0.2})
		w1, w2 := WaveIDs(res, devices)
		s := f.Served(t)
		for _, id := range w1 {
			if s[id] != res.Version {
				t.Fatalf("wave 1 device %s served %d", id, s[id])
			}
		}
		for _, id := range w2 {
			if s[id] != 0 {
				t.Fatalf("wave 2 device %s served %d before its wave", id, s[id])
			}
		}
		if ev := f.Report(t, protocol.StateApplied, res.Version, w1[:1]...); len(ev) != 0 {
			t.Fatalf("events after half the wave: %v", ev)
		}
		ev := f.Report(t, protocol.StateApplied, res.Version, w1[1:]...)
		if len(ev) != 1 || !strings.Contains(ev[0], "wave 2 released to 2 device(s)") {
			t.Fatalf("events at the end of wave 1: %v", ev)
		}
		// The same reports again (a resend): nothing more happens.
		if ev := f.Report(t, protocol.StateApplied, res.Version, w1...); len(ev) != 0 {
			t.Fatalf("events after resent reports: %v", ev)
		}
		for id, v := range f.Served(t) {
			if v != res.Version {
				t.Fatalf("device %s served %d after wave 2 released", id, v)
			}
		}
		ev = f.Report(t, protocol.StateApplied, res.Version, w2...)
		if len(ev) != 1 || !strings.Contains(ev[0], "completed") {
			t.Fatalf("events at the end of wave 2: %v", ev)
		}
		r := f.Status(t).Rollouts[0]
		if r.State != hq.RolloutCompleted || r.Current != 1 || r.Waves[0].Counts.Applied != 2 || r.Live.Applied != 2 {
			t.Fatalf("rollout %+v", r)
		}
	})

	t.Run("ThresholdHalts", func(t *testing.T) {
		f := NewFleet(t, open, devices)
		f.Publish(t, hq.PublishOptions{})
		res := f.Publish(t, hq.PublishOptions{Stores: []string{"S1", "S2"}, Threshold: 0.2})
		w1, w2 := WaveIDs(res, devices)
		f.Report(t, protocol.StateApplied, res.Version, w1[0])
		ev := f.Report(t, protocol.StateFailed, res.Version, w1[1])
		if len(ev) != 1 || !strings.Contains(ev[0], "halted") {
			t.Fatalf("events: %v", ev)
		}
		s := f.Served(t)
		for _, id := range w2 {
			if s[id] != 1 {
				t.Fatalf("wave 2 device %s served %d after the halt; want the previous version 1", id, s[id])
			}
		}
		st := f.Status(t)
		if st.Rollouts[0].State != hq.RolloutHalted || st.Rollouts[1].State != hq.RolloutHalted || !strings.Contains(st.Rollouts[1].Reason, "superseded") {
			t.Fatalf("rollouts %+v", st.Rollouts)
		}
		// A later report does not revive it.
		if ev := f.Report(t, protocol.StateApplied, res.Version, w1[1]); len(ev) != 0 {
			t.Fatalf("events after the halt: %v", ev)
		}
	})

	t.Run("WaveTimeout", func(t *testing.T) {
		f := NewFleet(t, open, devices)
		res := f.Publish(t, hq.PublishOptions{Stores: []string{"S1"}, WaveTimeout: time.Minute})
		b := f.St.Backend()
		if r, err := b.Commit(context.Background(), hq.Batch{Now: f.Clk.Now()}); err != nil || len(r.Events) != 0 {
			t.Fatalf("idle commit: %+v %v", r, err)
		}
		f.Clk.Advance(time.Minute)
		r, err := b.Commit(context.Background(), hq.Batch{Now: f.Clk.Now()})
		if err != nil || len(r.Events) != 1 || !strings.Contains(r.Events[0], "no device of wave 1 reported") {
			t.Fatalf("commit after the timeout: %+v %v", r, err)
		}
		if st := f.Status(t); st.Rollouts[0].State != hq.RolloutHalted || st.Rollouts[0].Version != res.Version {
			t.Fatalf("rollout %+v", st.Rollouts[0])
		}
	})

	t.Run("ReportOrder", func(t *testing.T) {
		f := NewFleet(t, open, map[string]string{"P1": "S1"})
		f.Publish(t, hq.PublishOptions{})
		f.Publish(t, hq.PublishOptions{})
		b := f.St.Backend()
		t0 := f.Clk.Now()
		rep := func(state string, version uint64, signed time.Time) hq.DeviceReport {
			return hq.DeviceReport{Device: "P1", Report: hq.Report{State: state, Version: version, At: t0, SignedAt: signed}}
		}
		// In one batch: FAILED v2, then APPLIED v1 (the fallback), then an
		// older APPLYING (delayed) and a replayed APPLYING of v1 at the
		// same second as its APPLIED.
		_, err := b.Commit(context.Background(), hq.Batch{Now: t0, Reports: []hq.DeviceReport{
			rep(protocol.StateFailed, 2, t0.Add(time.Second)),
			rep(protocol.StateApplied, 1, t0.Add(2*time.Second)),
			rep(protocol.StateApplying, 2, t0),
			rep(protocol.StateApplying, 1, t0.Add(2*time.Second)),
		}, Seen: []hq.LastSeen{{Device: "P1", At: t0.UnixNano()}}})
		if err != nil {
			t.Fatal(err)
		}
		d := f.Status(t).Devices[0]
		if d.Report == nil || d.Report.State != protocol.StateApplied || d.Report.Version != 1 || !d.LastSeen.Equal(t0) {
			t.Fatalf("device status %+v report %+v", d, d.Report)
		}
		c, err := f.St.Dump(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if o := c.Devices[0].Outcome; o == nil || *o != (hq.Outcome{Version: 2, State: protocol.StateFailed}) {
			t.Fatalf("outcome %+v: the newest version's FAILED must stay", o)
		}
	})

	t.Run("Catalogues", func(t *testing.T) { runCatalogues(t, open) })

	t.Run("DumpLoad", func(t *testing.T) {
		f := NewFleet(t, open, devices)
		f.Publish(t, hq.PublishOptions{})
		res := f.Publish(t, hq.PublishOptions{Stores: []string{"S1"}})
		f.Report(t, protocol.StateApplying, res.Version, "P1")
		if _, err := f.St.Backend().Commit(context.Background(), hq.Batch{Now: f.Clk.Now(), Seen: []hq.LastSeen{{Device: "P2", At: 42}}}); err != nil {
			t.Fatal(err)
		}
		want := ChainJSON(t, f.St)
		c, err := f.St.Dump(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Rollouts) != 2 || len(c.Bundles) != 1+3*2 || c.Active != res.Rollout {
			t.Fatalf("dump: %d rollouts, %d bundles, active %d", len(c.Rollouts), len(c.Bundles), c.Active)
		}
		to := open(t, f.Clk.Now)
		if err := to.Load(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if got := ChainJSON(t, to); !bytes.Equal(got, want) {
			t.Fatalf("round trip differs:\n%s\nwant\n%s", got, want)
		}
		if err := to.Load(context.Background(), c); !errors.Is(err, hq.ErrNotEmpty) {
			t.Fatalf("load into a full store: %v", err)
		}
		// The loaded rollout carries on.
		ev := (&Fleet{St: to, Clk: f.Clk}).Report(t, protocol.StateApplied, res.Version, "P1")
		if len(ev) != 1 || !strings.Contains(ev[0], "wave 2 released to 3 device(s)") {
			t.Fatalf("events on the loaded store: %v", ev)
		}
	})
}

// served reads the view with every catalogue object's bytes.
func served(t *testing.T, st *hq.Store) *hq.ServedView {
	t.Helper()
	v, err := st.Backend().Served(context.Background(), func(string, *hq.BundleRef) bool { return true }, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// catalogueOf is the address the bundle's signed body names ("" none).
func catalogueOf(t *testing.T, f *Fleet, id string, data []byte) string {
	t.Helper()
	b, err := bundle.Open(data, &f.HQ.PublicKey, id, &f.Keys[id].PublicKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Body.Catalogue == nil {
		return ""
	}
	return b.Body.Catalogue.SHA256
}

// runCatalogues: the objects travel with the publish, are served, reused
// for unchanged content, dropped when no bundle names them, and survive
// Dump/Load.
func runCatalogues(t *testing.T, open Open) {
	f := NewFleet(t, open, map[string]string{"P1": "S1", "P2": "S2"})
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(f.Tree, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.Tree, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("catalogue/products.csv", "code,name\n1,chain\n")
	write("stores/S1.products.csv", "code,name\n1,S1\n")
	f.Publish(t, hq.PublishOptions{})
	v := served(t, f.St)
	objs := map[string][]byte{}
	for _, c := range v.Catalogues {
		if c.Data == nil || catalogue.ID(c.Data) != c.Address {
			t.Fatalf("object %s: bytes %d, not its address", c.Address, len(c.Data))
		}
		objs[c.Address] = c.Data
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects after the first publish, want 2 (chain and S1)", len(objs))
	}
	first := map[string]string{}
	for _, d := range v.Devices {
		addr := catalogueOf(t, f, d.Device.ID, d.Bundle)
		if objs[addr] == nil {
			t.Fatalf("%s names catalogue %q, not served", d.Device.ID, addr)
		}
		first[d.Device.ID] = addr
	}
	if first["P1"] == first["P2"] {
		t.Fatal("S1 has its own products: its object must differ")
	}
	// Only the chain's products change: S1's object is reused by address.
	write("catalogue/products.csv", "code,name\n1,chain v2\n")
	f.Publish(t, hq.PublishOptions{})
	v = served(t, f.St)
	second := map[string]string{}
	for _, d := range v.Devices {
		second[d.Device.ID] = catalogueOf(t, f, d.Device.ID, d.Bundle)
	}
	if second["P1"] != first["P1"] || second["P2"] == first["P2"] {
		t.Fatalf("addresses %v then %v: S1's must stay, the chain's change", first, second)
	}
	var addrs []string
	for _, c := range v.Catalogues {
		addrs = append(addrs, c.Address)
	}
	sort.Strings(addrs)
	want := []string{second["P1"], second["P2"]}
	sort.Strings(want)
	if !reflect.DeepEqual(addrs, want) {
		t.Fatalf("stored objects %v, want %v (the old chain object is no bundle's any more)", addrs, want)
	}
	// Served hands out bytes only where asked.
	lean, err := f.St.Backend().Served(context.Background(), func(string, *hq.BundleRef) bool { return false }, func(a string) bool { return a == second["P1"] })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range lean.Catalogues {
		if (c.Data != nil) != (c.Address == second["P1"]) {
			t.Fatalf("object %s: bytes %d when wanted %v", c.Address, len(c.Data), c.Address == second["P1"])
		}
	}

	c, err := f.St.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Catalogues) != 2 || c.Catalogues[0].ContentKey == "" {
		t.Fatalf("dump: %d catalogue objects %+v", len(c.Catalogues), c.Catalogues)
	}
	for _, b := range c.Bundles {
		if b.Catalogue != catalogueOf(t, f, b.Device, b.Data) {
			t.Fatalf("dump: bundle %s/%d names %q, its ref says %q", b.Device, b.Version, catalogueOf(t, f, b.Device, b.Data), b.Catalogue)
		}
	}
	to := open(t, f.Clk.Now)
	if err := to.Load(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got, want := ChainJSON(t, to), ChainJSON(t, f.St); !bytes.Equal(got, want) {
		t.Fatalf("round trip differs:\n%s\nwant\n%s", got, want)
	}
	// The loaded store reuses the objects it loaded: publishing the same
	// content makes no new one.
	g := &Fleet{St: to, Clk: f.Clk, HQ: f.HQ, Keys: f.Keys, Tree: f.Tree}
	g.Publish(t, hq.PublishOptions{})
	v = served(t, to)
	if len(v.Catalogues) != 2 {
		t.Fatalf("%d objects after publishing unchanged content on the loaded store", len(v.Catalogues))
	}
	for _, d := range v.Devices {
		if got := catalogueOf(t, g, d.Device.ID, d.Bundle); got != second[d.Device.ID] {
			t.Fatalf("%s: catalogue %s after the load, want %s", d.Device.ID, got, second[d.Device.ID])
		}
	}
	// A publish whose bundle names an object that is not stored (one
	// another publish dropped after this one looked it up) is refused
	// whole.
	before := ChainJSON(t, to)
	version, err := to.Backend().ReserveVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	devs, err := to.Devices()
	if err != nil {
		t.Fatal(err)
	}
	fp := gm.Fingerprint(&f.HQ.PublicKey)
	stg := &hq.Staging{Version: version, HQKey: fp, Now: f.Clk.Now(), Threshold: 0.2, WaveTimeout: time.Hour,
		WaveStores: [][]string{{devs[0].Store}}, WaveDevices: [][]string{{devs[0].ID}},
		Bundles: []hq.SealedBundle{{Device: devs[0], Data: []byte("{}"), Hash: strings.Repeat("1", 64), Catalogue: strings.Repeat("0", 64)}}}
	if _, err := to.Backend().Stage(context.Background(), stg); err == nil {
		t.Fatal("Stage accepted a bundle naming a catalogue object that is not stored")
	}
	// Only the reserved version moved.
	var a, b hq.Chain
	if err := json.Unmarshal(before, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ChainJSON(t, to), &b); err != nil {
		t.Fatal(err)
	}
	a.Version = b.Version
	if !reflect.DeepEqual(a, b) {
		t.Fatal("a refused Stage changed the store")
	}

	// A chain with a bundle naming a missing object is refused.
	c.Catalogues = c.Catalogues[:1]
	if err := open(t, f.Clk.Now).Load(context.Background(), c); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("load without a named object: %v", err)
	}
}

func servedGen(t *testing.T, st *hq.Store) uint64 {
	t.Helper()
	v, err := st.Backend().Served(context.Background(), func(string, *hq.BundleRef) bool { return false }, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	return v.Gen
}
