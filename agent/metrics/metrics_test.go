package metrics

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
)

func scrape(t *testing.T, m *Metrics) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Code, fams
}

func counter(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return -1
}

func TestReasonLabelIsBounded(t *testing.T) {
	for reason, want := range map[string]string{
		"":                      "",
		"product_barcode":       "product_barcode",
		queue.ReasonAlreadySold: queue.ReasonAlreadySold,
		"queue_full":            "queue_full",
		"double_read":           "double_read",
		"81012350000000157474":  "other", // a code where a reason belongs must not become a series
		"Already_Sold":          "other",
	} {
		if got := ReasonLabel(reason); got != want {
			t.Errorf("ReasonLabel(%q) = %q, want %q", reason, got, want)
		}
	}
}

// TestRegistryPerAgent: two agents' metrics in one process count apart,
// and neither touches the default registry.
func TestRegistryPerAgent(t *testing.T) {
	a, b := New(Options{Version: "a"}), New(Options{Version: "b"})
	a.Scan(device.Feedback{Status: device.StatusRejected, Reason: "already_sold"})
	a.Scan(device.Feedback{Status: device.StatusRejected, Reason: "not a reason"})
	a.Upload("msfx", "done", 30*time.Millisecond)
	_, fa := scrape(t, a)
	_, fb := scrape(t, b)
	if got := counter(fa, "pda_scans_total", "result", "rejected", "reason", "already_sold"); got != 1 {
		t.Errorf("a: already_sold %v", got)
	}
	if got := counter(fa, "pda_scans_total", "result", "rejected", "reason", "other"); got != 1 {
		t.Errorf("a: other %v", got)
	}
	if got := counter(fb, "pda_scans_total", "result", "rejected", "reason", "already_sold"); got != -1 {
		t.Errorf("b counted a's scan: %v", got)
	}
	if got := counter(fa, "pda_upload_attempts_total", "dest", "msfx", "class", "done"); got != 1 {
		t.Errorf("a: uploads %v", got)
	}
	if got := counter(fb, "pda_build_info", "version", "b"); got != 1 {
		t.Errorf("b: build info %v", got)
	}
	def, err := prometheusDefaultHas("pda_scans_total")
	if err != nil || def {
		t.Errorf("the default registry holds pda_scans_total (%v)", err)
	}
}

// TestQueueReadFailureKeepsTheRest: a queue that cannot be read fails its
// own series, not the scrape.
func TestQueueReadFailureKeepsTheRest(t *testing.T) {
	m := New(Options{Version: "v", Logger: slog.New(slog.DiscardHandler),
		Stats:        func() (queue.Stats, error) { return queue.Stats{}, errors.New("disk on fire") },
		Destinations: func() []string { return []string{"msfx"} },
		Scanners:     func() []device.Health { return []device.Health{{Name: "gun", Kind: "serial", Connected: true}} },
		Alarms:       func() int { return 2 },
	})
	code, fams := scrape(t, m)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if fams["pda_queue_deliveries"] != nil {
		t.Error("queue series served although the queue could not be read")
	}
	if counter(fams, "pda_scanner_up", "scanner", "gun") != 1 || counter(fams, "pda_alarms") != 2 || counter(fams, "pda_build_info") != 1 {
		t.Errorf("the other figures are missing: %v", fams)
	}
}

func prometheusDefaultHas(name string) (bool, error) {
	fams, err := prometheus.DefaultGatherer.Gather()
	for _, f := range fams {
		if f.GetName() == name {
			return true, err
		}
	}
	return false, err
}
