package hq

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm2"

	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/gm"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newStore(t testing.TB, clk *clock) *Store {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "hq.db"), Options{Create: true, Now: clk.Now, LockTimeout: 5 * time.Second, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func genKey(t testing.TB) *sm2.PrivateKey {
	t.Helper()
	k, err := gm.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fleet is a store with enrolled devices and their private keys.
type fleet struct {
	st   *Store
	clk  *clock
	hq   *sm2.PrivateKey
	keys map[string]*sm2.PrivateKey
}

// newFleet enrolls devices given as id → store.
func newFleet(t testing.TB, devices map[string]string) *fleet {
	t.Helper()
	clk := newClock()
	f := &fleet{st: newStore(t, clk), clk: clk, hq: genKey(t), keys: map[string]*sm2.PrivateKey{}}
	var ds []Device
	for id, store := range devices {
		k := genKey(t)
		f.keys[id] = k
		ds = append(ds, Device{ID: id, Store: store, PublicKey: gm.PublicKeyBase64(&k.PublicKey)})
	}
	if _, err := f.st.Enroll(ds...); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fleet) publish(t testing.TB, tree string, o PublishOptions) *PublishResult {
	t.Helper()
	o.Key = f.hq
	res, err := f.st.Publish(context.Background(), tree, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// writeTree creates a config tree from relative path → content.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// served returns the bundle bytes the store serves a device now.
func served(t testing.TB, st *Store, id string) []byte {
	t.Helper()
	v, err := st.b.Served(context.Background(), func(d string, _ *BundleRef) bool { return d == id }, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range v.Devices {
		if d.Device.ID == id {
			return d.Bundle
		}
	}
	return nil
}

// startServer runs a Server on loopback until the test ends.
func startServer(t testing.TB, st *Store, o ServeOptions, run bool) (*Server, string) {
	t.Helper()
	if o.Tick == 0 {
		o.Tick = 10 * time.Millisecond
	}
	srv, err := NewServer(st, o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if run {
		go func() {
			defer close(done)
			_ = srv.Run(ctx)
		}()
	} else {
		close(done)
	}
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
	})
	return srv, ts.URL
}

type response struct {
	status int
	header http.Header
	body   []byte
	code   string // the JSON error code, if any
}

// do sends a signed request; sign may alter the request after signing.
func do(t testing.TB, method, url, device string, key *sm2.PrivateKey, at time.Time, body []byte, edit func(*http.Request)) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		if err := protocol.Sign(req, device, key, body, at); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: raw}
	var eb protocol.ErrorBody
	if resp.StatusCode >= 400 && json.Unmarshal(raw, &eb) == nil {
		r.code = eb.Error
	}
	return r
}

func (f *fleet) get(t testing.TB, base, id, ifNoneMatch string) response {
	t.Helper()
	return do(t, http.MethodGet, base+protocol.BundlePath(id), id, f.keys[id], f.clk.Now(), nil, func(r *http.Request) {
		if ifNoneMatch != "" {
			r.Header.Set("If-None-Match", ifNoneMatch)
		}
	})
}

func (f *fleet) report(t testing.TB, base, id string, rep protocol.Report) response {
	t.Helper()
	body, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, http.MethodPost, base+protocol.ReportPath(id), id, f.keys[id], f.clk.Now(), body, nil)
}

// open verifies a served bundle as the device would.
func (f *fleet) open(t testing.TB, id string, data []byte, applied uint64) *bundle.Opened {
	t.Helper()
	o, err := bundle.Open(data, &f.hq.PublicKey, id, &f.keys[id].PublicKey, applied)
	if err != nil {
		t.Fatalf("device %s refuses its bundle: %v", id, err)
	}
	return o
}

// applyAll has every device fetch its bundle and report state.
func (f *fleet) applyAll(t testing.TB, base string, state string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		r := f.get(t, base, id, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", id, r.status, r.body)
		}
		o := f.open(t, id, r.body, 0)
		if rr := f.report(t, base, id, protocol.Report{State: state, Version: o.Body.Version, Hash: o.Hash}); rr.status != http.StatusNoContent {
			t.Fatalf("report %s: %d %s", id, rr.status, rr.body)
		}
	}
}

// eventually polls cond for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustStatus(t testing.TB, st *Store) *Status {
	t.Helper()
	s, err := st.Status(StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func deviceStatus(t testing.TB, st *Store, id string) DeviceStatus {
	t.Helper()
	for _, d := range mustStatus(t, st).Devices {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("device %s not in status", id)
	return DeviceStatus{}
}

const chainYAML = "log: {level: info}\nqueue: {max_batch: 100}\n"
