package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/fleet/hq/pgstore/pgtest"
	"github.com/pda-agent/pda-agent/fleet/hq/protocol"
	"github.com/pda-agent/pda-agent/fleet/hq/storetest"
)

// lockedBuffer collects the replicas' logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// device is a simulated agent speaking the real protocol over HTTP.
type device struct {
	id    string
	f     *storetest.Fleet
	etag  string
	token string // the last poll token a replica handed out
}

func (d *device) do(t *testing.T, base, method, path string, body []byte, edit func(*http.Request)) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	if err := protocol.Sign(req, d.id, d.f.Keys[d.id], body, time.Now()); err != nil {
		t.Error(err)
		return nil, nil
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil // a killed replica: try the other
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp, out.Bytes()
}

// poll fetches the bundle from base and tells whether it is of version
// (verified as the agent would).
func (d *device) poll(t *testing.T, base string, version uint64) bool {
	resp, body := d.do(t, base, http.MethodGet, protocol.BundlePath(d.id), nil, func(r *http.Request) {
		if d.etag != "" {
			r.Header.Set("If-None-Match", d.etag)
		}
		if d.token != "" {
			r.Header.Set(protocol.HeaderPollToken, d.token)
		}
	})
	if resp == nil || resp.StatusCode != http.StatusOK {
		return false
	}
	d.token = resp.Header.Get(protocol.HeaderPollToken)
	o, err := bundle.Open(body, &d.f.HQ.PublicKey, d.id, &d.f.Keys[d.id].PublicKey, 0)
	if err != nil {
		t.Errorf("device %s refuses its bundle: %v", d.id, err)
		return false
	}
	d.etag = resp.Header.Get("ETag")
	return o.Body.Version == version
}

// report sends a report to base until a replica acknowledges it (204).
func (d *device) report(t *testing.T, bases []string, state string, version uint64) {
	body, _ := json.Marshal(protocol.Report{State: state, Version: version, Hash: strings.Trim(d.etag, `"`)})
	for i := 0; ; i++ {
		resp, _ := d.do(t, bases[i%len(bases)], http.MethodPost, protocol.ReportPath(d.id), body, nil)
		if resp != nil && resp.StatusCode == http.StatusNoContent {
			return
		}
		if i > 200 {
			t.Errorf("device %s: no replica acknowledged its report", d.id)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startReplica(t *testing.T, st *hq.Store, log *slog.Logger, pollKey []byte) string {
	t.Helper()
	srv, err := hq.NewServer(st, hq.ServeOptions{Tick: 20 * time.Millisecond, Logger: log, RetryAfter: time.Second, PollKey: pollKey})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Run(ctx)
	}()
	t.Cleanup(func() {
		ts.Close()
		cancel()
		<-done
	})
	return ts.URL
}

// testReplicas: two Servers, each with its own pool, on one database; 20
// simulated devices poll and report to either replica at once. Each wave
// is released once, the threshold halts once, no report is lost.
func testReplicas(t *testing.T, c *pgtest.Cluster) {
	dsn := migrated(t, c)
	devices := map[string]string{}
	for i := range 20 {
		devices[fmt.Sprintf("D%02d", i)] = fmt.Sprintf("S%02d", i/2)
	}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	f := storetest.NewFleet(t, func(t *testing.T, now func() time.Time) *hq.Store { return openPG(t, dsn, now) }, devices)
	// The replicas and the fleet run on the real clock: signatures are
	// checked against it.
	f.St = openPG(t, dsn, time.Now)
	stB := openPG(t, dsn, time.Now)
	// One poll key for both, as `serve --poll-key-file` gives them.
	pollKey := bytes.Repeat([]byte("replica poll key "), 2)
	bases := []string{startReplica(t, f.St, log, pollKey), startReplica(t, stB, log, pollKey)}

	run := func(version uint64, state string, ids []string) {
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := &device{id: id, f: f}
				deadline := time.Now().Add(20 * time.Second)
				for n := i; !d.poll(t, bases[n%2], version); n++ {
					if time.Now().After(deadline) {
						t.Errorf("device %s never got version %d", id, version)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				// Reports go to the replica the poll did not use.
				d.report(t, []string{bases[(i+1)%2], bases[i%2]}, state, version)
			}()
		}
		wg.Wait()
	}

	// Rollout 1: 30 % of the stores, then the rest; everybody APPLIED.
	res := f.Publish(t, hq.PublishOptions{Percent: 30, Threshold: 0.2, WaveTimeout: time.Hour})
	if len(res.Waves) != 2 {
		t.Fatalf("waves %+v", res.Waves)
	}
	run(res.Version, protocol.StateApplied, sortedIDs(devices))
	eventually(t, "rollout 1 completed", func() bool { return f.Status(t).Rollouts[0].State == hq.RolloutCompleted })
	if n := logs.count(fmt.Sprintf("rollout %d: wave 1 ended", res.Rollout)); n != 1 {
		t.Fatalf("wave 2 of rollout %d released %d times; logs:\n%s", res.Rollout, n, logs.b.String())
	}
	st := f.Status(t)
	for _, d := range st.Devices {
		if d.Report == nil || d.Report.State != protocol.StateApplied || d.Report.Version != res.Version || d.Served == nil || d.Served.Version != res.Version {
			t.Fatalf("device %s after rollout 1: report %+v served %+v", d.ID, d.Report, d.Served)
		}
	}
	if r := st.Rollouts[0]; r.Waves[0].Counts.Applied != r.Waves[0].Devices || r.Live.Applied != r.Waves[1].Devices {
		t.Fatalf("counts %+v", r)
	}
	checkSharedToken(t, f, dsn, bases, res.Version)

	// Rollout 2: wave 1 fails; the halt happens once and wave 2 keeps
	// version 1.
	res2 := f.Publish(t, hq.PublishOptions{Percent: 30, Threshold: 0.2, WaveTimeout: time.Hour})
	w1, w2 := storetest.WaveIDs(res2, devices)
	run(res2.Version, protocol.StateFailed, w1)
	eventually(t, "rollout 2 halted", func() bool { return f.Status(t).Rollouts[0].State == hq.RolloutHalted })
	if n := logs.count(fmt.Sprintf("rollout %d halted", res2.Rollout)); n != 1 {
		t.Fatalf("rollout %d halted %d times; logs:\n%s", res2.Rollout, n, logs.b.String())
	}
	for _, d := range f.Status(t).Devices {
		want := res.Version
		if contains(w1, d.ID) {
			want = res2.Version
		}
		if d.Served == nil || d.Served.Version != want {
			t.Fatalf("device %s serves %+v after the halt; want version %d (wave 2: %v)", d.ID, d.Served, want, w2)
		}
	}
}

// checkSharedToken: a poll token replica A handed out answers 304 on
// replica B with no SM2 check (the signature is spoiled, so only the token
// path can say 304), while a replica with another poll key takes the
// signed path and refuses it.
func checkSharedToken(t *testing.T, f *storetest.Fleet, dsn string, bases []string, version uint64) {
	t.Helper()
	d := &device{id: "D00", f: f}
	if !d.poll(t, bases[0], version) || d.token == "" {
		t.Fatalf("replica A: no bundle of version %d or no poll token (token %q)", version, d.token)
	}
	spoiled := func(r *http.Request) {
		r.Header.Set("If-None-Match", d.etag)
		r.Header.Set(protocol.HeaderPollToken, d.token)
		r.Header.Set(protocol.HeaderSignature, strings.Repeat("A", 86)+"==")
	}
	resp, _ := d.do(t, bases[1], http.MethodGet, protocol.BundlePath(d.id), nil, spoiled)
	if resp == nil || resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") != d.etag {
		t.Fatalf("replica B on replica A's token: %v, want 304 with ETag %s", resp, d.etag)
	}
	other := startReplica(t, openPG(t, dsn, time.Now), slog.New(slog.DiscardHandler), bytes.Repeat([]byte("x"), 32))
	if resp, _ := d.do(t, other, http.MethodGet, protocol.BundlePath(d.id), nil, spoiled); resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a replica with another poll key answered %v, want 401 (its token check must fail)", resp)
	}
}

func sortedIDs(m map[string]string) []string {
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if ids[j] < ids[i] {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
	}
	return ids
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
