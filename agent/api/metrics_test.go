package api

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// unknownEnt is a supplier 码上放心 does not know: a receiving from it is
// refused for good (a dead letter).
const unknownEnt = "0123456789abcdef0123456789abcdef"

// startWithScanners is start with a config file: a TCP scanner on
// loopback (connected) and a serial one on a port that does not exist
// (not connected), against the 码上放心 sandbox.
func startWithScanners(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dataDir: t.TempDir(), client: &http.Client{Timeout: 60 * time.Second}}
	gw, err := sandbox.Start("127.0.0.1:0", sandbox.Options{World: sandbox.DefaultWorld(), Logger: quiet, ProcessAfter: sandbox.ProcessAtOnce})
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	yaml := `
scanners:
  - {name: pos, type: tcp, session: till, tcp: {listen: "127.0.0.1:0"}}
  - {name: gun, type: serial, session: counter, serial: {port: /nonexistent/ttyPDA0, reconnect_min: 50ms, reconnect_max: 100ms}}
`
	cfg, err := configs.LoadBytes("test.yaml", []byte(yaml), []string{"PDA_DEVICE_ID=T1", "PDA_DATA_DIR=" + e.dataDir,
		"PDA_FEEDBACK_LOG=false", "PDA_MSFX_ENABLED=true", "PDA_MSFX_GATEWAY=" + gw.URL(),
		"PDA_MSFX_APP_KEY=" + sandbox.DefaultStoreAppKey, "PDA_MSFX_APP_SECRET=" + sandbox.DefaultStoreSecret,
		"PDA_MSFX_REF_ENT_ID=" + sandbox.DefaultStoreRefEntID, "PDA_MSFX_ENT_ID=" + sandbox.DefaultStoreEntID,
		"PDA_MSFX_RATE=0", "PDA_MSFX_POLL_INTERVAL=1s", "PDA_UPLOAD_INITIAL_BACKOFF=100ms", "PDA_UPLOAD_MAX_BACKOFF=1s"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(cfg, agent.Options{Logger: quiet, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	e.agent = a
	srv, err := New(a, Options{Listen: "127.0.0.1:0", TokenFile: cfg.APITokenFile(), Logger: quiet})
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	e.srv, e.token = srv, srv.token
	ctx, cancel := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()
	e.runErr = make(chan error, 1)
	go func() { e.runErr <- srv.Run(ctx) }()
	e.stop = func() {
		cancel()
		if err := <-e.runErr; err != nil {
			t.Errorf("api Run: %v", err)
		}
		<-agentDone
		a.Close()
		gw.Close()
	}
	t.Cleanup(e.stop)
	eventually(t, 5*time.Second, "the API listening", func() bool { return srv.Addr() != nil })
	e.base = "http://" + srv.Addr().String()
	return e
}

// scrape reads /metrics with the token and parses it.
func (e *testEnv) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	status, body := e.call("GET", "/metrics", nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET /metrics: %d %s", status, body)
	}
	return parse(e.t, body)
}

func parse(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// value is the value of the series of family name with exactly labels;
// NaN when there is no such series.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return math.NaN()
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		for _, l := range m.Label {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return math.NaN()
}

// sum adds the values of every series of name whose labels include match.
func sum(fams map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	total := 0.0
	f := fams[name]
	if f == nil {
		return math.NaN()
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range match {
			if have[k] != v {
				continue next
			}
		}
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return total
}

type want struct {
	name   string
	labels map[string]string
	value  float64
}

func (e *testEnv) expect(fams map[string]*dto.MetricFamily, ws ...want) {
	e.t.Helper()
	for _, w := range ws {
		if got := value(fams, w.name, w.labels); got != w.value {
			e.t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
}

// TestMetrics scrapes /metrics after scans and uploads (one retried after
// an HTTP 500, one refused for good) and checks each figure against what
// happened: the scans made, the queue's own record of every delivery, the
// queue's commit count, the scanners' states and the config.
func TestMetrics(t *testing.T) {
	e := startWithScanners(t)
	e.gw.InjectFaults(sandbox.FaultHTTP500)

	// A sale: a box, the same box again, a product barcode, finished.
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, nil)
	e.scan("till", codeA, "accepted")
	e.scan("till", codeA, "duplicate")
	if ans := e.scan("till", barcode, "rejected"); ans.Reason != "product_barcode" {
		t.Fatalf("barcode: %+v", ans)
	}
	var sale, recv queue.Bill
	e.ok("POST", "/v1/sessions/till/finish", nil, &sale)
	// A receiving from a supplier the platform does not know.
	e.ok("POST", "/v1/bills", map[string]any{"kind": "receive", "partner": unknownEnt, "lines": []map[string]string{{"code": codeC}}}, &recv)
	// A command barcode opens a bill that is then cancelled.
	e.scan("other", "PDA:SALE", "command")
	e.ok("POST", "/v1/sessions/other/cancel", nil, nil)

	deliveries := func(code string) []queue.Delivery {
		var v agent.BillView
		e.ok("GET", "/v1/bills/"+code, nil, &v)
		return v.Deliveries
	}
	eventually(t, 20*time.Second, "the sale delivered and the receiving dead", func() bool {
		s, r := deliveries(sale.Code), deliveries(recv.Code)
		return len(s) == 1 && s[0].State == queue.DeliveryDone && len(r) == 1 && r[0].State == queue.DeliveryDead
	})
	attempts := 0
	for _, code := range []string{sale.Code, recv.Code} {
		attempts += deliveries(code)[0].Attempts
	}
	if attempts < 3 {
		t.Fatalf("%d attempts: the injected HTTP 500 should have cost one", attempts)
	}
	eventually(t, 5*time.Second, "the tcp scanner listening", func() bool {
		for _, h := range e.agent.Scanners() {
			if h.Name == "pos" {
				return h.Connected
			}
		}
		return false
	})

	// Unauthenticated scrapes are refused by default.
	e.fails("GET", "/metrics", nil, http.StatusUnauthorized, "unauthorized", request{token: ptr("")})

	// Commits happen in the background (none once idle): scrape until the
	// histogram has seen every commit the queue counts. An attempt is
	// recorded in the queue before the worker reports it to the metrics,
	// so wait for the attempts' histogram too.
	var fams map[string]*dto.MetricFamily
	eventually(t, 5*time.Second, "the commit and attempt histograms to match the queue", func() bool {
		before := e.agent.Store().Commits()
		fams = e.scrape()
		return value(fams, "pda_queue_commit_duration_seconds", nil) == float64(before) && e.agent.Store().Commits() == before &&
			value(fams, "pda_upload_attempt_duration_seconds", map[string]string{"dest": "msfx"}) == float64(attempts)
	})
	if got := value(fams, "pda_queue_commit_records", nil); got != value(fams, "pda_queue_commit_duration_seconds", nil) {
		t.Errorf("pda_queue_commit_records count %v, commits %v", got, value(fams, "pda_queue_commit_duration_seconds", nil))
	}

	e.expect(fams,
		want{"pda_scans_total", map[string]string{"result": "accepted", "reason": ""}, 1},
		want{"pda_scans_total", map[string]string{"result": "duplicate", "reason": "duplicate"}, 1},
		want{"pda_scans_total", map[string]string{"result": "rejected", "reason": "product_barcode"}, 1},
		want{"pda_scans_total", map[string]string{"result": "command", "reason": ""}, 1},
		want{"pda_scans_total", map[string]string{"result": "error", "reason": "queue_full"}, 0},
		want{"pda_upload_attempts_total", map[string]string{"dest": "msfx", "class": "done"}, 1},
		want{"pda_upload_attempts_total", map[string]string{"dest": "msfx", "class": "permanent"}, 1},
		want{"pda_upload_attempt_duration_seconds", map[string]string{"dest": "msfx"}, float64(attempts)},
		want{"pda_queue_deliveries", map[string]string{"dest": "msfx", "state": "pending"}, 0},
		want{"pda_queue_deliveries", map[string]string{"dest": "msfx", "state": "leased"}, 0},
		want{"pda_queue_failing_deliveries", map[string]string{"dest": "msfx"}, 0},
		want{"pda_queue_oldest_pending_age_seconds", map[string]string{"dest": "msfx"}, 0},
		want{"pda_dead_letters", map[string]string{"dest": "msfx"}, 1},
		want{"pda_queue_bills", map[string]string{"state": "finished"}, 2},
		want{"pda_queue_bills", map[string]string{"state": "cancelled"}, 1},
		want{"pda_queue_bills", map[string]string{"state": "open"}, 0},
		want{"pda_queue_max_size_bytes", nil, 1 << 30},
		want{"pda_alarms", nil, 0},
		want{"pda_scanner_up", map[string]string{"scanner": "pos", "kind": "tcp"}, 1},
		want{"pda_scanner_up", map[string]string{"scanner": "gun", "kind": "serial"}, 0},
		want{"pda_config_version", nil, 0},
	)
	// Every attempt the queue recorded is counted once, in some class;
	// the one the sandbox failed with a 500 among the retries.
	if got := sum(fams, "pda_upload_attempts_total", map[string]string{"dest": "msfx"}); got != float64(attempts) {
		t.Errorf("pda_upload_attempts_total{dest=msfx} sums to %v; the queue recorded %d attempts", got, attempts)
	}
	if got := value(fams, "pda_upload_attempts_total", map[string]string{"dest": "msfx", "class": "retry"}); !(got >= 1) {
		t.Errorf("retries %v, want the injected HTTP 500 among them", got)
	}
	if got := value(fams, "pda_scanner_errors_total", map[string]string{"scanner": "gun", "kind": "serial"}); !(got >= 1) {
		t.Errorf("serial scanner errors %v", got)
	}
	fi, err := os.Stat(e.agent.Store().Path())
	if err != nil {
		t.Fatal(err)
	}
	if got := value(fams, "pda_queue_file_size_bytes", nil); got != float64(fi.Size()) {
		t.Errorf("pda_queue_file_size_bytes %v, the file has %d", got, fi.Size())
	}
	if got := value(fams, "pda_disk_free_bytes", nil); !(got > 0) {
		t.Errorf("pda_disk_free_bytes %v", got)
	}
	var st agent.Status
	e.ok("GET", "/v1/status", nil, &st)
	e.expect(fams,
		want{"pda_build_info", map[string]string{"version": "test", "goversion": runtime.Version()}, 1},
		want{"pda_config_info", map[string]string{"source": "local", "hash": st.Config.Hash[:12]}, 1})
	if fams["go_goroutines"] == nil || (runtime.GOOS == "linux" && fams["process_start_time_seconds"] == nil) {
		t.Error("the Go runtime and process metrics are missing")
	}
}

// TestMetricsPublic: with api.metrics_public the scraper needs no token,
// but the Host check still holds.
func TestMetricsPublic(t *testing.T) {
	e := start(t, envOpts{env: []string{"PDA_API_METRICS_PUBLIC=true"}})
	e.scan("s", "PDA:SALE", "command")
	status, body := e.call("GET", "/metrics", nil, request{token: ptr("")})
	if status != http.StatusOK {
		t.Fatalf("public metrics: %d %s", status, body)
	}
	fams := parse(t, body)
	if got := value(fams, "pda_scans_total", map[string]string{"result": "command", "reason": ""}); got != 1 {
		t.Fatalf("commands %v", got)
	}
	e.fails("GET", "/metrics", nil, http.StatusForbidden, "forbidden", request{token: ptr(""), header: map[string]string{"Host": "evil.example:80"}})
	// Everything else still needs the token.
	e.fails("GET", "/v1/status", nil, http.StatusUnauthorized, "unauthorized", request{token: ptr("")})
}
