package client

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/fleet/hq"
	"github.com/pda-agent/pda-agent/gm"
)

// fakeClock is one clock for the device and HQ (HQ checks X-PDA-Time
// against its own clock).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A static device whose state does not change re-reports it every
// report_interval, so the real HQ (which never sees its polls) counts it
// as in contact between rollouts instead of SILENT; not more often than
// that; and after a refused bundle it re-reports FAILED, not the old
// APPLIED.
func TestStaticDeviceReReportsToHQ(t *testing.T) {
	ks := newKeys(t)
	clock := &fakeClock{t: time.Now().Truncate(time.Second)}
	st, err := hq.Open(filepath.Join(t.TempDir(), "hq.db"), hq.Options{Create: true, Now: clock.now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Enroll(hq.Device{ID: device, Store: "S1", PublicKey: gm.PublicKeyBase64(&ks.dev.PublicKey)}); err != nil {
		t.Fatal(err)
	}
	// HQ expects a poll a minute: SILENT after three.
	if _, err := st.SetSettings(time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	h := &e2eHQ{st: st, ks: ks}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- st.Serve(ctx, ln, hq.ServeOptions{Tick: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	hqURL := "http://" + ln.Addr().String()

	// The static mirror: HQ's export behind a plain file server.
	www := t.TempDir()
	h.publish(t, e2eChain, "code,name\n1,A\n", hq.PublishOptions{})
	if _, err := st.Export(www); err != nil {
		t.Fatal(err)
	}
	mirror := httptest.NewServer(http.FileServer(http.Dir(www)))
	defer mirror.Close()

	w := &wire{}
	cfg := testConfig(t, ks, mirror.URL, t.TempDir(), &logBuf{})
	cfg.Static, cfg.ReportURL, cfg.HTTPClient, cfg.Now = true, hqURL, &http.Client{Transport: w}, clock.now
	cfg.Interval, cfg.MaxBackoff = time.Minute, 10*time.Minute // ReportInterval: its default, Interval
	app := &catApplier{}
	c, err := New(cfg, app.apply)
	if err != nil {
		t.Fatal(err)
	}
	device := func() hq.DeviceStatus {
		t.Helper()
		s, err := st.Status(hq.StatusOptions{})
		if err != nil || len(s.Devices) != 1 {
			t.Fatalf("hq status: %v %+v", err, s)
		}
		return s.Devices[0]
	}

	mustPoll(t, c, StatusApplied)
	if w.count("/report") != 2 { // APPLYING, APPLIED
		t.Fatalf("reports after the apply: %d", w.count("/report"))
	}
	applied := clock.now()
	if d := device(); d.Silent || d.Report == nil || d.Report.State != "APPLIED" || d.Report.Version != 1 {
		t.Fatalf("after the apply: %+v %+v", d, d.Report)
	}

	// Polls within the interval send nothing more.
	clock.advance(30 * time.Second)
	mustPoll(t, c, StatusUnchanged)
	if n := w.count("/report"); n != 2 {
		t.Fatalf("a report within report_interval: %d reports", n)
	}
	// Two minutes on: the poll re-reports, signed, and HQ takes it.
	clock.advance(90 * time.Second)
	mustPoll(t, c, StatusUnchanged)
	if n := w.count("/report"); n != 3 || w.last().status != http.StatusNoContent {
		t.Fatalf("re-report: %d reports, last %+v", n, w.last())
	}
	reReported := clock.now()
	// Past HQ's silent threshold since the apply, not since the re-report.
	clock.advance(2 * time.Minute)
	d := device()
	if clock.now().Sub(applied) <= 3*time.Minute {
		t.Fatal("test clock: not past the silent threshold")
	}
	if d.Silent || !d.LastSeen.Equal(reReported.UTC()) || d.Report.State != "APPLIED" || d.Report.Version != 1 || !d.Current {
		t.Fatalf("after the re-report: silent %v, last seen %s (want %s), report %+v", d.Silent, d.LastSeen, reReported, d.Report)
	}
	// Without one more, HQ rightly says SILENT.
	clock.advance(2 * time.Minute)
	if d := device(); !d.Silent {
		t.Fatalf("no contact for 4 minutes and not silent: %+v", d)
	}

	// The mirror gets a bundle that expires before the device polls: it is
	// refused, and what the device re-reports is that FAILED.
	h.publish(t, "log: {level: warn}\nqueue: {max_batch: 100}\n", "code,name\n1,A\n", hq.PublishOptions{Validity: time.Second})
	if _, err := st.Export(www); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Minute)
	mustPoll(t, c, StatusRefused)
	n := w.count("/report")
	clock.advance(2 * time.Minute)
	mustPoll(t, c, StatusUnchanged)
	if w.count("/report") != n+1 {
		t.Fatalf("no re-report after the refusal: %d → %d", n, w.count("/report"))
	}
	d = device()
	if d.Silent || d.Report.State != "FAILED" || d.Report.Version != 2 || !strings.Contains(d.Report.Error, "expired") ||
		!strings.Contains(d.Report.Error, "stays on version 1") {
		t.Fatalf("after the refusal: silent %v, report %+v", d.Silent, d.Report)
	}

	// A static device without report_url never reports.
	quiet := testConfig(t, ks, mirror.URL, t.TempDir(), &logBuf{})
	quiet.Static, quiet.HTTPClient, quiet.Now = true, &http.Client{Transport: w}, clock.now
	qc, err := New(quiet, (&catApplier{}).apply)
	if err != nil {
		t.Fatal(err)
	}
	n = w.count("/report")
	mustPoll(t, qc, StatusRefused) // the mirror holds the expired bundle
	clock.advance(5 * time.Minute)
	mustPoll(t, qc, StatusUnchanged)
	if w.count("/report") != n {
		t.Fatal("a static device without report_url reported")
	}
}
