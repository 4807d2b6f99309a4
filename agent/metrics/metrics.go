// Package metrics is one agent's Prometheus metrics, served at /metrics by
// the local API. Events (scans, upload attempts, queue commits) are counted
// as they happen; state (queue depth, dead letters, file size, scanners,
// config) is read at scrape time from its owner through the functions in
// Options, so there is no second copy of it to drift.
//
// Every agent has its own registry: nothing here touches the process-wide
// default registry, so two agents in one process (tests) never collide.
package metrics

import (
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
)

// ConfigInfo identifies the config in force.
type ConfigInfo struct {
	// Source is "fleet" for an HQ bundle, "local" for the device's file.
	Source string
	// Version is the HQ bundle's version; 0 for a local config.
	Version uint64
	// Hash identifies the effective config (secrets excluded).
	Hash string
}

// Options are where the collector reads state at scrape time. Every
// function must be safe to call from the scraping goroutine; nil ones are
// skipped.
type Options struct {
	// Version is the agent's build version (pda_build_info).
	Version string
	// Stats reads the queue's state.
	Stats func() (queue.Stats, error)
	// Destinations names the destinations in force, so that each has its
	// series even before its first delivery.
	Destinations func() []string
	// DiskFree is the free space on the queue's filesystem.
	DiskFree func() (int64, error)
	// Alarms counts the alarms standing.
	Alarms func() int
	// ClockOffset is the back ends' clock minus this device's, and whether
	// it was measured (upload/clockskew).
	ClockOffset func() (time.Duration, bool)
	// Scanners reports every scan source.
	Scanners func() []device.Health
	// Config identifies the config in force.
	Config func() ConfigInfo
	// Now is the clock for ages; default time.Now.
	Now func() time.Time
	// Logger receives scrape errors; default slog.Default().
	Logger *slog.Logger
}

// Metrics holds one agent's registry and its event metrics. Its methods
// are safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	scans         *prometheus.CounterVec
	uploads       *prometheus.CounterVec
	uploadSeconds *prometheus.HistogramVec
	commitSeconds prometheus.Histogram
	commitRecords prometheus.Histogram
}

// New makes the metrics of one agent with a registry of its own.
func New(o Options) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pda_scans_total",
			Help: "Scans by result (accepted, duplicate, rejected, command, error) and reason; reasons outside the known set count as \"other\".",
		}, []string{"result", "reason"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pda_upload_attempts_total",
			Help: "Upload attempts by destination and outcome class: done, wait (the back end has it, result pending; or it waits for an earlier bill of its packs), retry (transient failure), permanent (dead letter).",
		}, []string{"dest", "class"}),
		uploadSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pda_upload_attempt_duration_seconds",
			Help:    "Time one upload attempt took, by destination.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"dest"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pda_queue_commit_duration_seconds",
			Help: "Time of one durable queue commit (one bbolt transaction with its fsync); a scan is acknowledged after it.",
			// fsync is sub-millisecond on SSDs and tens of ms on a PDA's eMMC.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		commitRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pda_queue_commit_records",
			Help:    "Requests (scans, acks, leases …) sharing one queue commit (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7), // 1 … 4096, the largest batch
		}),
	}
	// Series that exist from the start, so that rate() sees the first
	// event as an increase.
	for _, r := range []struct{ result, reason string }{
		{string(device.StatusAccepted), ""}, {string(device.StatusDuplicate), "duplicate"},
		{string(device.StatusCommand), ""}, {string(device.StatusError), "queue_full"},
	} {
		m.scans.WithLabelValues(r.result, r.reason)
	}
	m.reg.MustRegister(m.scans, m.uploads, m.uploadSeconds, m.commitSeconds, m.commitRecords,
		newStateCollector(o),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		// One failing read (the queue) must not hide every other figure.
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// Registry is the agent's registry (tests, extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Scan counts one scan result.
func (m *Metrics) Scan(fb device.Feedback) {
	result := string(fb.Status)
	switch fb.Status {
	case device.StatusAccepted, device.StatusDuplicate, device.StatusRejected, device.StatusCommand, device.StatusError:
	default:
		result = "other"
	}
	m.scans.WithLabelValues(result, ReasonLabel(fb.Reason)).Inc()
}

// Upload counts one upload attempt's outcome.
func (m *Metrics) Upload(dest, class string, took time.Duration) {
	m.uploads.WithLabelValues(dest, class).Inc()
	if took > 0 {
		m.uploadSeconds.WithLabelValues(dest).Observe(took.Seconds())
	}
}

// Commit records one durable queue commit; it is the queue's OnCommit
// hook, so it stays a few atomic adds.
func (m *Metrics) Commit(took time.Duration, records int) {
	m.commitSeconds.Observe(took.Seconds())
	m.commitRecords.Observe(float64(records))
}

// buildInfo is pda_build_info's value: always 1, the labels carry it.
func buildInfo(version string) (*prometheus.Desc, []string) {
	return prometheus.NewDesc("pda_build_info", "The agent's build: version and Go version (value 1).",
		[]string{"version", "goversion"}, nil), []string{version, runtime.Version()}
}
