package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/fleet/bundle"
	"github.com/pda-agent/pda-agent/upload"
)

// configFigures scrapes the agent's metrics for the config series.
func configFigures(t *testing.T, a *Agent) (version float64, source, hash string) {
	t.Helper()
	rec := httptest.NewRecorder()
	a.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if f := fams["pda_config_version"]; f != nil && len(f.Metric) == 1 {
		version = f.Metric[0].GetGauge().GetValue()
	}
	if f := fams["pda_config_info"]; f != nil && len(f.Metric) == 1 {
		for _, l := range f.Metric[0].Label {
			switch l.GetName() {
			case "source":
				source = l.GetValue()
			case "hash":
				hash = l.GetValue()
			}
		}
	}
	return version, source, hash
}

// TestConfigOrigin: the status and the metrics name the HQ bundle the
// agent started on, then the one FleetApplier applies; a reverted bundle
// leaves the previous one named.
func TestConfigOrigin(t *testing.T) {
	dir := t.TempDir()
	local := LocalConfig{Name: "local.yaml", Data: []byte(fmt.Sprintf("device: {id: FL1}\ndata_dir: %s\n", dir))}
	cfg, err := configs.LoadLayers("local", []configs.Layer{{Name: local.Name, Data: local.Data}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Origin: ConfigInfo{Source: ConfigFleet, Version: 3, BundleHash: "b3b3b3b3b3b3b3b3", Hash: "ignored"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Config; c.Source != ConfigFleet || c.Version != 3 || c.BundleHash != "b3b3b3b3b3b3b3b3" || c.Hash != ConfigHash(cfg) {
		t.Fatalf("config at start %+v", c)
	}
	if v, src, hash := configFigures(t, a); v != 3 || src != ConfigFleet || hash != st.Config.Hash[:12] {
		t.Fatalf("metrics at start: version %v source %s hash %s", v, src, hash)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	apply := a.FleetApplier(local, filepath.Join(dir, "fleet"), time.Second)
	good, secrets := openBundle(t, bundle.Body{Version: 7, Config: "sessions: {default_type: 321}\n"}, nil)
	if err := apply(ctx, good, secrets); err != nil {
		t.Fatal(err)
	}
	applied, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if c := applied.Config; c.Source != ConfigFleet || c.Version != 7 || c.BundleHash != good.Hash || c.AppliedAt.IsZero() ||
		c.Hash != ConfigHash(a.Config()) || c.Hash == st.Config.Hash {
		t.Fatalf("config after applying v7 %+v (before: %+v)", c, st.Config)
	}
	if v, _, hash := configFigures(t, a); v != 7 || hash != applied.Config.Hash[:12] {
		t.Fatalf("metrics after v7: version %v hash %s", v, hash)
	}

	bad, secrets := openBundle(t, bundle.Body{Version: 8, Config: "scanners:\n" +
		"  - {name: gun, type: serial, session: counter, serial: {port: /dev/ttyPDA-NOPE, reconnect_min: 100ms}}\n"}, nil)
	if err := apply(ctx, bad, secrets); err == nil {
		t.Fatal("a bundle whose scanner cannot come up was kept")
	}
	after, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if after.Config != applied.Config {
		t.Fatalf("after the reverted v8: %+v, want %+v", after.Config, applied.Config)
	}
}

// TestLocalWaitIsNotASuccess: a bill waiting on this device for an
// earlier bill never reached the back end, so it must not make a down
// back end look healthy in the status; the platform's "still processing"
// did reach it and does.
func TestLocalWaitIsNotASuccess(t *testing.T) {
	a := newTestAgent(t)
	a.onResult(upload.Result{Dest: "msfx", Outcome: upload.Outcome{Class: upload.Wait, Local: true, Message: "waiting for the earlier bill"}})
	a.mu.Lock()
	got := a.dests["msfx"].lastSuccess
	a.mu.Unlock()
	if !got.IsZero() {
		t.Fatalf("a local wait counted as a success at %v", got)
	}
	a.onResult(upload.Result{Dest: "msfx", Outcome: upload.Outcome{Class: upload.Wait, Message: "processing"}})
	a.mu.Lock()
	got = a.dests["msfx"].lastSuccess
	a.mu.Unlock()
	if got.IsZero() {
		t.Fatal("the platform's answer did not count")
	}
}
