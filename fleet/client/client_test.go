package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/durable"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/gm"
)

func TestFirstApplyThenUnchanged(t *testing.T) {
	ks := newKeys(t)
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	dir := filepath.Join(t.TempDir(), "fleet")
	logs := &logBuf{}
	rec := &recorder{}
	c := newClient(t, testConfig(t, ks, srv.URL, dir, logs), rec)

	// Nothing staged yet: keep the current (local) config.
	mustPoll(t, c, StatusNone)
	if o, sec, err := Current(dir, &ks.hq.PublicKey, device, ks.dev); o != nil || sec != nil || err != nil {
		t.Fatalf("Current before any apply: %v %v %v", o, sec, err)
	}

	data, hash := ks.sealed(t, 1)
	hq.stage(data, hash)
	res := mustPoll(t, c, StatusApplied)
	if res.Version != 1 || res.Hash != hash || res.Err != nil {
		t.Fatalf("result %+v", res)
	}
	if rec.count() != 1 || rec.calls[0].secrets["msfx.app_secret"] != secretValue || rec.calls[0].hash != hash {
		t.Fatalf("applier calls %+v", rec.calls)
	}
	want := []wireReport{{State: "APPLYING", Version: 1, Hash: hash}, {State: "APPLIED", Version: 1, Hash: hash}}
	if got := hq.gotReports(); !equalReports(got, want) {
		t.Fatalf("reports %+v, want %+v", got, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, currentFile)); !bytes.Equal(got, data) {
		t.Fatal("current.bundle is not the bytes received")
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v %v", fi.Mode(), err)
	}
	if p := readState(t, dir); p.AppliedVersion != 1 || p.AppliedHash != hash || p.ApplyingDigest != "" || p.Pending != nil {
		t.Fatalf("state.json %+v", p)
	}
	o, sec, err := Current(dir, &ks.hq.PublicKey, device, ks.dev)
	if err != nil || o.Hash != hash || sec["msfx.app_secret"] != secretValue {
		t.Fatalf("Current: %v %v %v", o, sec, err)
	}

	// Unchanged: If-None-Match carries the applied hash, HQ answers 304.
	mustPoll(t, c, StatusUnchanged)
	if hq.lastINM() != `"`+hash+`"` || rec.count() != 1 || len(hq.gotReports()) != 2 {
		t.Fatalf("after 304: inm %q, applies %d, reports %d", hq.lastINM(), rec.count(), len(hq.gotReports()))
	}
	st := c.State()
	if st.AppliedVersion != 1 || st.AppliedHash != hash || st.LastSuccess.IsZero() || st.LastError != "" || st.AppliedAt.IsZero() {
		t.Fatalf("State %+v", st)
	}

	// A restart resumes from disk.
	c2 := newClient(t, testConfig(t, ks, srv.URL, dir, logs), rec)
	if s := c2.State(); s.AppliedVersion != 1 || s.AppliedHash != hash {
		t.Fatalf("state after restart %+v", s)
	}
	mustPoll(t, c2, StatusUnchanged)

	for _, secret := range []string{secretValue, gm.PrivateKeyBase64(ks.dev), ks.dev.D.String(), ks.dev.D.Text(16)} {
		if strings.Contains(logs.String(), secret) {
			t.Fatal("a secret or the device key reached the logs")
		}
	}
}

func equalReports(a, b []wireReport) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRefusedBundles(t *testing.T) {
	ks := newKeys(t)
	cases := []struct {
		name    string
		applied uint64 // applied first, when > 0
		make    func(t *testing.T) []byte
		want    string // in the error
	}{
		{"tampered body", 0, func(t *testing.T) []byte {
			data, _ := ks.sealed(t, 2)
			var b bundle.Bundle
			json.Unmarshal(data, &b)
			raw, _ := base64.StdEncoding.DecodeString(b.Body)
			raw = bytes.Replace(raw, []byte("max_batch"), []byte("max_batcH"), 1)
			b.Body = base64.StdEncoding.EncodeToString(raw)
			out, _ := json.Marshal(b)
			return out
		}, "signature does not verify"},
		{"wrong HQ key", 0, func(t *testing.T) []byte {
			data, _ := seal(t, ks.body(t, 2), ks.otherHQ)
			return data
		}, "signature does not verify"},
		{"other device", 0, func(t *testing.T) []byte {
			b := ks.body(t, 2)
			b.Device = "PDA2"
			data, _ := seal(t, b, ks.hq)
			return data
		}, "another device"},
		{"other device key", 0, func(t *testing.T) []byte {
			b := ks.body(t, 2)
			b.DeviceKey = gm.Fingerprint(&ks.otherDev.PublicKey)
			data, _ := seal(t, b, ks.hq)
			return data
		}, "another device"},
		{"older version", 5, func(t *testing.T) []byte {
			data, _ := ks.sealed(t, 3)
			return data
		}, "not newer"},
		{"not a bundle", 0, func(t *testing.T) []byte { return []byte("<html>captive portal</html>") }, "not a pda-agent bundle"},
		{"secret for another key", 0, func(t *testing.T) []byte {
			b := ks.body(t, 2)
			enc, _ := bundle.EncryptSecret(&ks.otherDev.PublicKey, "x")
			b.Secrets["nhsa.key"] = enc
			data, _ := seal(t, b, ks.hq)
			return data
		}, "cannot decrypt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
			dir := t.TempDir()
			logs := &logBuf{}
			rec := &recorder{}
			c := newClient(t, testConfig(t, ks, srv.URL, dir, logs), rec)
			if tc.applied > 0 {
				hq.stage(ks.sealed(t, tc.applied))
				mustPoll(t, c, StatusApplied)
			}
			applies, nreports := rec.count(), len(hq.gotReports())

			bad := tc.make(t)
			ver, claimed := peek(bad)
			hq.stage(bad, "served-etag")
			res := mustPoll(t, c, StatusRefused)
			if res.Err == nil || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", res.Err, tc.want)
			}
			if rec.count() != applies {
				t.Fatal("a refused bundle reached the applier")
			}
			reps := hq.gotReports()
			if len(reps) != nreports+1 {
				t.Fatalf("reports %+v", reps)
			}
			last := reps[len(reps)-1]
			if last.State != "FAILED" || last.Hash != claimed || last.Version != ver || !strings.Contains(last.Error, tc.want) || !strings.Contains(last.Error, "stays on") {
				t.Fatalf("report %+v", last)
			}
			if !strings.Contains(logs.String(), "REFUSED") {
				t.Fatal("refusal not logged loudly")
			}
			st := c.State()
			if st.AppliedVersion != tc.applied || st.LastFailedHash != claimed || st.LastFailedError == "" {
				t.Fatalf("state %+v", st)
			}

			// Fetched again (HQ still stages it) but not processed nor reported again.
			gets := hq.getCount()
			mustPoll(t, c, StatusUnchanged)
			if hq.getCount() != gets+1 || len(hq.gotReports()) != nreports+1 || rec.count() != applies {
				t.Fatal("the refused bundle was processed again")
			}

			// A good newer bundle goes through.
			hq.stage(ks.sealed(t, tc.applied+10))
			if res := mustPoll(t, c, StatusApplied); res.Version != tc.applied+10 {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

func TestApplierFailure(t *testing.T) {
	ks := newKeys(t)
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	dir := t.TempDir()
	rec := &recorder{}
	c := newClient(t, testConfig(t, ks, srv.URL, dir, &logBuf{}), rec)
	v1, h1 := ks.sealed(t, 1)
	hq.stage(v1, h1)
	mustPoll(t, c, StatusApplied)

	v2, h2 := ks.sealed(t, 2)
	hq.stage(v2, h2)
	rec.set(errors.New("scanner serial0 did not come back within 20s; reverted"))
	res := mustPoll(t, c, StatusFailed)
	if res.Version != 2 || res.Hash != h2 || res.Err == nil {
		t.Fatalf("result %+v", res)
	}
	reps := hq.gotReports()[2:]
	if len(reps) != 2 || reps[0] != (wireReport{State: "APPLYING", Version: 2, Hash: h2}) ||
		reps[1].State != "FAILED" || reps[1].Version != 2 || reps[1].Hash != h2 ||
		!strings.Contains(reps[1].Error, "scanner serial0") || !strings.Contains(reps[1].Error, "stays on version 1 ("+h1+")") {
		t.Fatalf("reports %+v", reps)
	}
	st := c.State()
	if st.AppliedVersion != 1 || st.AppliedHash != h1 || st.LastFailedHash != h2 || !strings.Contains(st.LastFailedError, "serial0") {
		t.Fatalf("state %+v", st)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, currentFile)); !bytes.Equal(got, v1) {
		t.Fatal("current.bundle changed after a failed apply")
	}
	if _, err := os.Stat(filepath.Join(dir, nextFile)); !os.IsNotExist(err) {
		t.Fatalf("next.bundle left behind: %v", err)
	}
	if o, _, err := Current(dir, &ks.hq.PublicKey, device, ks.dev); err != nil || o.Body.Version != 1 {
		t.Fatalf("Current after failure: %v %v", o, err)
	}

	// The same bundle is not retried, even after a restart.
	rec.set(nil)
	mustPoll(t, c, StatusUnchanged)
	c = newClient(t, testConfig(t, ks, srv.URL, dir, &logBuf{}), rec)
	mustPoll(t, c, StatusUnchanged)
	if rec.count() != 2 || len(hq.gotReports()) != 4 {
		t.Fatalf("failed bundle retried: applies %d reports %d", rec.count(), len(hq.gotReports()))
	}

	// A newer one is.
	v3, h3 := ks.sealed(t, 3)
	hq.stage(v3, h3)
	mustPoll(t, c, StatusApplied)
	if last := hq.gotReports()[5]; last != (wireReport{State: "APPLIED", Version: 3, Hash: h3}) {
		t.Fatalf("last report %+v", last)
	}
}

// A bundle that crashes the agent inside the applier is tried twice, then
// failed, instead of crash-looping the agent.
func TestApplierCrashLoop(t *testing.T) {
	ks := newKeys(t)
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	dir := t.TempDir()
	rec := &recorder{panic: true}
	v1, h1 := ks.sealed(t, 1)
	hq.stage(v1, h1)
	crash := func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the applier did not crash")
			}
		}()
		c := newClient(t, testConfig(t, ks, srv.URL, dir, &logBuf{}), rec)
		c.PollOnce(context.Background())
	}
	crash()
	if _, err := os.Stat(filepath.Join(dir, nextFile)); err != nil {
		t.Fatalf("next.bundle should be left by the crash: %v", err)
	}
	crash()
	c := newClient(t, testConfig(t, ks, srv.URL, dir, &logBuf{}), rec)
	if _, err := os.Stat(filepath.Join(dir, nextFile)); !os.IsNotExist(err) {
		t.Fatal("New did not remove next.bundle")
	}
	res := mustPoll(t, c, StatusFailed)
	if rec.count() != 2 || !strings.Contains(res.Err.Error(), "interrupted 2 times") {
		t.Fatalf("applies %d, err %v", rec.count(), res.Err)
	}
	last := hq.gotReports()[len(hq.gotReports())-1]
	if last.State != "FAILED" || last.Hash != h1 || !strings.Contains(last.Error, "local configuration") {
		t.Fatalf("report %+v", last)
	}
	mustPoll(t, c, StatusUnchanged)
	if rec.count() != 2 {
		t.Fatal("retried after being failed")
	}
}

// waits is a Run sleep hook that records waits and stops Run after n.
type waits struct {
	mu     sync.Mutex
	got    []time.Duration
	n      int
	cancel context.CancelFunc
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.got = append(w.got, d)
	done := len(w.got) >= w.n
	w.mu.Unlock()
	if done {
		w.cancel()
		return context.Canceled
	}
	return ctx.Err()
}

func runFor(t *testing.T, c *Client, n int) []time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &waits{n: n, cancel: cancel}
	c.sleep = w.sleep
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return w.got
}

func TestRetryAfter(t *testing.T) {
	ks := newKeys(t)
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	now := time.Now().Truncate(time.Second)
	cfg := testConfig(t, ks, srv.URL, t.TempDir(), &logBuf{})
	cfg.Now = func() time.Time { return now }
	cfg.Interval, cfg.MaxBackoff = time.Second, time.Minute
	c := newClient(t, cfg, &recorder{})
	hq.setScript(
		scripted{http.StatusServiceUnavailable, "7"},
		scripted{http.StatusTooManyRequests, now.Add(90 * time.Second).UTC().Format(http.TimeFormat)},
		scripted{http.StatusServiceUnavailable, "0"},                 // no pause asked: own backoff, no busy loop
		scripted{http.StatusServiceUnavailable, "soon"},              // unreadable: own backoff
		scripted{http.StatusServiceUnavailable, "99999999999999999"}, // absurd: capped
	)
	got := runFor(t, c, 6)
	want := []time.Duration{7 * time.Second, 90 * time.Second, 4 * time.Second, 8 * time.Second, maxRetryAfter, time.Second}
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	ks := newKeys(t)
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	cfg := testConfig(t, ks, srv.URL, t.TempDir(), &logBuf{})
	cfg.Interval, cfg.MaxBackoff = time.Second, 5*time.Second
	c := newClient(t, cfg, &recorder{})
	e := scripted{status: http.StatusInternalServerError}
	hq.setScript(e, e, e, e, e, scripted{status: http.StatusNotFound}, e)
	got := runFor(t, c, 8)
	s := time.Second
	// 5 failures: 1,2,4,5(cap),5; the 404 is an answer (reset) → 1; then a 500 → 1 again; then 404 → 1.
	want := []time.Duration{s, 2 * s, 4 * s, 5 * s, 5 * s, s, s, s}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
	if st := c.State(); st.LastError != "" || st.LastSuccess.IsZero() {
		t.Fatalf("state after recovery %+v", st)
	}

	// Jitter stays within ±Jitter of the interval and never above the cap.
	for _, r := range []float64{0, 0.25, 0.999} {
		c.rand = func() float64 { return r }
		c.cfg.Jitter = 0.2
		if d := c.jitter(time.Second); d < 800*time.Millisecond || d > 1200*time.Millisecond {
			t.Fatalf("jitter(1s) with %v = %v", r, d)
		}
		for n := 1; n < 70; n++ {
			if d := c.backoff(n); d > 5*time.Second || d < 800*time.Millisecond {
				t.Fatalf("backoff(%d) with %v = %v", n, r, d)
			}
		}
	}
}

func TestAuthRefused(t *testing.T) {
	ks := newKeys(t)
	// HQ has another key enrolled for PDA1.
	mux := http.NewServeMux()
	hq := &fakeHQ{t: t, devPub: &ks.otherDev.PublicKey}
	mux.HandleFunc("GET /v1/devices/{device}/bundle", hq.bundle)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := newClient(t, testConfig(t, ks, srv.URL, t.TempDir(), &logBuf{}), &recorder{})
	res, err := c.PollOnce(context.Background())
	if !errors.Is(err, ErrAuth) || res.Err != err || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), gm.Fingerprint(&ks.dev.PublicKey)) {
		t.Fatalf("err %v", err)
	}
	if c.State().LastError == "" {
		t.Fatal("LastError not set")
	}
	if _, ok := retryAfterOf(err); ok {
		t.Fatal("no Retry-After was sent")
	}
}

func TestOversizeResponse(t *testing.T) {
	ks := newKeys(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), bundle.MaxSize+10))
	}))
	defer srv.Close()
	rec := &recorder{}
	c := newClient(t, testConfig(t, ks, srv.URL, t.TempDir(), &logBuf{}), rec)
	if _, err := c.PollOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err %v", err)
	}
}

func TestPendingReport(t *testing.T) {
	ks := newKeys(t)
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	dir := t.TempDir()
	rec := &recorder{}
	c := newClient(t, testConfig(t, ks, srv.URL, dir, &logBuf{}), rec)
	data, hash := ks.sealed(t, 1)
	hq.stage(data, hash)
	hq.setFailReports(100) // the report store is down
	mustPoll(t, c, StatusApplied)
	if rec.count() != 1 || len(hq.gotReports()) != 0 {
		t.Fatal("a lost report blocked the apply")
	}
	if p := readState(t, dir).Pending; p == nil || p.State != "APPLIED" || p.Hash != hash {
		t.Fatalf("pending report %+v", p)
	}

	// While HQ is unreachable nothing is sent; after a restart and a poll
	// HQ answers, the pending report goes.
	hq.setFailReports(0)
	hq.setScript(scripted{status: http.StatusBadGateway})
	c = newClient(t, testConfig(t, ks, srv.URL, dir, &logBuf{}), rec)
	if _, err := c.PollOnce(context.Background()); err == nil {
		t.Fatal("502 not an error")
	}
	if len(hq.gotReports()) != 0 {
		t.Fatal("reported while the poll failed")
	}
	mustPoll(t, c, StatusUnchanged)
	if got := hq.gotReports(); !equalReports(got, []wireReport{{State: "APPLIED", Version: 1, Hash: hash}}) {
		t.Fatalf("reports %+v", got)
	}
	if readState(t, dir).Pending != nil {
		t.Fatal("pending report not cleared")
	}
}

// staticServer serves one file like a web server: its own ETag, no auth.
type staticServer struct {
	mu      sync.Mutex
	data    []byte
	etag    string
	noETag  bool
	inm     []string
	signed  int
	fetches int
}

func (s *staticServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path != "/cdn/devices/"+device+".bundle" || s.data == nil {
		http.NotFound(w, r)
		return
	}
	s.fetches++
	s.inm = append(s.inm, r.Header.Get("If-None-Match"))
	if r.Header.Get("X-PDA-Signature") != "" {
		s.signed++
	}
	if !s.noETag {
		w.Header().Set("ETag", s.etag)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.data))
}

func (s *staticServer) put(data []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data, s.etag = data, etag
}

func TestStaticMode(t *testing.T) {
	ks := newKeys(t)
	reports, reportSrv := newFakeHQ(t, &ks.dev.PublicKey)
	files := &staticServer{}
	srv := httptest.NewServer(files)
	defer srv.Close()
	dir := t.TempDir()
	cfg := testConfig(t, ks, srv.URL+"/cdn/", dir, &logBuf{})
	cfg.Static, cfg.ReportURL = true, reportSrv.URL
	cfg.ReportInterval = time.Hour // no periodic re-report within the test, but after a restart
	rec := &recorder{}
	c := newClient(t, cfg, rec)

	mustPoll(t, c, StatusNone)
	v1, h1 := ks.sealed(t, 1)
	files.put(v1, `W/"5f-1a2b"`) // the server's ETag, not the bundle hash
	mustPoll(t, c, StatusApplied)
	mustPoll(t, c, StatusUnchanged)
	if files.inm[len(files.inm)-1] != `W/"5f-1a2b"` || c.State().ETag != `W/"5f-1a2b"` {
		t.Fatalf("If-None-Match %q", files.inm)
	}
	b2 := ks.body(t, 2)
	v2, h2 := seal(t, b2, ks.hq)
	files.put(v2, `"6a-3c4d"`)
	mustPoll(t, c, StatusApplied)
	want := []wireReport{{"APPLYING", 1, h1, ""}, {"APPLIED", 1, h1, ""}, {"APPLYING", 2, h2, ""}, {"APPLIED", 2, h2, ""}}
	if got := reports.gotReports(); !equalReports(got, want) {
		t.Fatalf("reports %+v", got)
	}
	if rec.count() != 2 || files.signed == 0 {
		t.Fatalf("applies %d signed %d", rec.count(), files.signed)
	}

	// A server without ETags: the same bytes again are recognised, not
	// re-applied, not reported as a rollback.
	files.mu.Lock()
	files.noETag = true
	files.mu.Unlock()
	mustPoll(t, c, StatusUnchanged)
	// Even after losing the state file (the applied bundle is on disk).
	if err := os.Remove(filepath.Join(dir, stateFile)); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, cfg, rec)
	if st := c.State(); st.AppliedVersion != 2 || st.AppliedHash != h2 {
		t.Fatalf("state rebuilt from current.bundle: %+v", st)
	}
	mustPoll(t, c, StatusUnchanged)
	// The restarted client tells HQ once what is in force (a static
	// device's periodic re-report starts with its first poll).
	want = append(want, wireReport{"APPLIED", 2, h2, ""})
	if got := reports.gotReports(); !equalReports(got, want) {
		t.Fatalf("reports after a restart %+v", got)
	}
	// The same body signed again (other bytes, same hash and version) is
	// the applied bundle too, not a rollback to refuse.
	again, h2again := seal(t, b2, ks.hq)
	if bytes.Equal(again, v2) || h2again != h2 {
		t.Fatal("setup: re-sealing should change the bytes, not the hash")
	}
	files.put(again, "")
	mustPoll(t, c, StatusUnchanged)
	if rec.count() != 2 || len(reports.gotReports()) != 5 {
		t.Fatal("the applied bundle was processed again")
	}
}

func TestStaticModeWithoutReports(t *testing.T) {
	ks := newKeys(t)
	files := &staticServer{}
	srv := httptest.NewServer(files)
	defer srv.Close()
	cfg := testConfig(t, ks, srv.URL+"/cdn", t.TempDir(), &logBuf{})
	cfg.Static = true
	rec := &recorder{}
	c := newClient(t, cfg, rec)
	v1, _ := ks.sealed(t, 1)
	files.put(v1, `"one"`)
	mustPoll(t, c, StatusApplied)
	files.put([]byte("garbage"), `"g"`)
	mustPoll(t, c, StatusRefused)
	mustPoll(t, c, StatusUnchanged) // 304 on the refused file's ETag
	if files.inm[len(files.inm)-1] != `"g"` {
		t.Fatalf("If-None-Match %q", files.inm)
	}
	if p := c.snapshot().Pending; p != nil {
		t.Fatalf("pending report without a report URL: %+v", p)
	}
}

func TestCrashLeftoversAndReconcile(t *testing.T) {
	ks := newKeys(t)
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	dir := t.TempDir()
	rec := &recorder{}
	c := newClient(t, testConfig(t, ks, srv.URL, dir, &logBuf{}), rec)
	v1, h1 := ks.sealed(t, 1)
	hq.stage(v1, h1)
	mustPoll(t, c, StatusApplied)

	// A crash after current.bundle was renamed into place but before
	// state.json was saved, with temp files half-written at the time.
	v2, h2 := ks.sealed(t, 2)
	if err := durable.WriteFile(filepath.Join(dir, currentFile), v2, 0o600); err != nil {
		t.Fatal(err)
	}
	leftovers := map[string]string{
		".state.json.tmp-123":     `{"applied_vers`,
		".current.bundle.tmp-456": string(v2[:len(v2)/2]),
		".next.bundle.tmp-789":    "x",
		nextFile:                  string(v2),
	}
	for name, content := range leftovers {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p := readState(t, dir); p.AppliedHash != h1 {
		t.Fatal("setup: state.json should still name v1")
	}

	c = newClient(t, testConfig(t, ks, srv.URL, dir, &logBuf{}), rec)
	for name := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Fatalf("leftover %s not removed", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal("removed a file that is not ours")
	}
	if st := c.State(); st.AppliedVersion != 2 || st.AppliedHash != h2 {
		t.Fatalf("not reconciled with current.bundle: %+v", st)
	}
	if p := readState(t, dir); p.AppliedHash != h2 {
		t.Fatal("reconciled state not saved")
	}
	// If-None-Match now names v2, so HQ staging v2 answers 304.
	hq.stage(v2, h2)
	mustPoll(t, c, StatusUnchanged)
	if hq.lastINM() != `"`+h2+`"` || rec.count() != 1 {
		t.Fatalf("inm %q applies %d", hq.lastINM(), rec.count())
	}

	// A damaged state.json does not stop the agent.
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, testConfig(t, ks, srv.URL, dir, &logBuf{}), rec)
	if st := c.State(); st.AppliedVersion != 2 {
		t.Fatalf("state %+v", st)
	}

	// The only files left are ours, whole.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), tmpInfix) {
			t.Fatalf("temp file %s left", e.Name())
		}
	}
}

func TestCurrentErrors(t *testing.T) {
	ks := newKeys(t)
	dir := t.TempDir()
	if o, s, err := Current(filepath.Join(dir, "missing"), &ks.hq.PublicKey, device, ks.dev); o != nil || s != nil || err != nil {
		t.Fatal("Current of a missing directory should be empty")
	}
	data, _ := ks.sealed(t, 4)
	if err := durable.WriteFile(filepath.Join(dir, currentFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Current(dir, &ks.otherHQ.PublicKey, device, ks.dev); !errors.Is(err, bundle.ErrSignature) {
		t.Fatalf("wrong HQ key: %v", err)
	}
	if _, _, err := Current(dir, &ks.hq.PublicKey, "PDA9", ks.dev); !errors.Is(err, bundle.ErrDevice) {
		t.Fatalf("wrong device: %v", err)
	}
	if _, _, err := Current(dir, &ks.hq.PublicKey, device, nil); err == nil {
		t.Fatal("nil device key accepted")
	}
	// A key rotation makes New forget the unusable bundle so HQ resends.
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	cfg := testConfig(t, ks, srv.URL, dir, &logBuf{})
	cfg.HQKey = &ks.otherHQ.PublicKey
	c := newClient(t, cfg, &recorder{})
	if st := c.State(); st.AppliedVersion != 0 || st.AppliedHash != "" {
		t.Fatalf("state %+v", st)
	}
	hq.stage(seal(t, ks.body(t, 4), ks.otherHQ))
	mustPoll(t, c, StatusApplied)
}

func TestNewValidates(t *testing.T) {
	ks := newKeys(t)
	ok := testConfig(t, ks, "https://hq.example", t.TempDir(), &logBuf{})
	cases := map[string]func(*Config){
		"device id":          func(c *Config) { c.Device = "../x" },
		"no device key":      func(c *Config) { c.DeviceKey = nil },
		"no HQ key":          func(c *Config) { c.HQKey = nil },
		"no state dir":       func(c *Config) { c.StateDir = "" },
		"ftp url":            func(c *Config) { c.URL = "ftp://hq.example" },
		"report url, hq":     func(c *Config) { c.ReportURL = "https://r.example" },
		"jitter":             func(c *Config) { c.Jitter = 1.5 },
		"backoff < interval": func(c *Config) { c.Interval, c.MaxBackoff = time.Minute, time.Second },
	}
	for name, edit := range cases {
		c := ok
		edit(&c)
		if _, err := New(c, (&recorder{}).apply); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(ok, nil); err == nil {
		t.Error("nil applier accepted")
	}
	c, err := New(Config{URL: "https://hq.example/", Device: device, DeviceKey: ks.dev, HQKey: &ks.hq.PublicKey, StateDir: t.TempDir()}, (&recorder{}).apply)
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.Interval != DefaultInterval || c.cfg.Jitter != DefaultJitter || c.cfg.MaxBackoff != DefaultMaxBackoff || c.cfg.Timeout != DefaultTimeout ||
		c.bundleURL != "https://hq.example/v1/devices/PDA1/bundle" || c.reportURL != "https://hq.example/v1/devices/PDA1/report" {
		t.Fatalf("defaults %+v %s %s", c.cfg.Interval, c.bundleURL, c.reportURL)
	}
}

// Run with real timers: it polls repeatedly, never busy-loops on errors,
// and stops promptly when ctx ends.
func TestRunRealTimers(t *testing.T) {
	ks := newKeys(t)
	hq, srv := newFakeHQ(t, &ks.dev.PublicKey)
	rec := &recorder{}
	c := newClient(t, testConfig(t, ks, srv.URL, t.TempDir(), &logBuf{}), rec)
	c.rand = func() float64 { return 0.5 }
	hq.stage(ks.sealed(t, 1))
	e := scripted{status: http.StatusInternalServerError}
	hq.setScript(e, e, e, e, e, e, e, e)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Run(ctx) }()
	deadline := start.Add(10 * time.Second)
	// 8 failures back off 10,20,40,40,… ms, then the bundle, then polls
	// every 10 ms.
	for c.State().AppliedVersion != 1 || hq.getCount() < 12 {
		if time.Now().After(deadline) {
			t.Fatalf("Run stalled: applied %d, %d GETs", c.State().AppliedVersion, hq.getCount())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not stop")
	}
	elapsed := time.Since(start)
	if elapsed < 270*time.Millisecond {
		t.Fatalf("backoff not honoured: done in %v", elapsed)
	}
	// Never shorter than 10 ms between polls: no busy loop.
	if n := hq.getCount(); n > int(elapsed/(10*time.Millisecond))+2 {
		t.Fatalf("%d GETs in %v", n, elapsed)
	}
	if rec.count() != 1 {
		t.Fatalf("%d applies", rec.count())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		" 3 ":                           3 * time.Second,
		"-5":                            0,
		"Sun, 01 Mar 2026 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Mar 2026 11:00:00 GMT": 0,
		"Fri, 01 Mar 2030 12:00:00 GMT": maxRetryAfter,
		"later":                         0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
