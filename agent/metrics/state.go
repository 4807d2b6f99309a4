package metrics

import (
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pda-agent/pda-agent/queue"
)

// stateCollector reads the agent's state at scrape time.
type stateCollector struct {
	o Options

	build, configInfo, configVersion      *prometheus.Desc
	deliveries, failing, dead, oldestAge  *prometheus.Desc
	held                                  *prometheus.Desc
	bills, fileSize, maxSize, free, alarm *prometheus.Desc
	clockOffset                           *prometheus.Desc
	scannerUp, scannerErrors              *prometheus.Desc
	buildLabels                           []string
}

func newStateCollector(o Options) *stateCollector {
	c := &stateCollector{o: o}
	c.build, c.buildLabels = buildInfo(o.Version)
	d := prometheus.NewDesc
	c.configInfo = d("pda_config_info", "The config in force (value 1): source fleet (an HQ bundle) or local, and the first 12 hex digits of its hash (secrets excluded).",
		[]string{"source", "hash"}, nil)
	c.configVersion = d("pda_config_version", "The HQ bundle version in force; 0 when the device runs on its local config.", nil, nil)
	c.deliveries = d("pda_queue_deliveries", "Undelivered deliveries (bill × destination) by state: pending (waiting for an attempt, retries included) or leased (an attempt under way).",
		[]string{"dest", "state"}, nil)
	c.failing = d("pda_queue_failing_deliveries", "Undelivered deliveries whose last attempt failed, by destination.", []string{"dest"}, nil)
	c.held = d("pda_queue_held_deliveries", "Undelivered deliveries held back on this device because their bills lack data (never sent; not failing), waiting for a repair, by destination.", []string{"dest"}, nil)
	c.dead = d("pda_dead_letters", "Deliveries the back end refused for good, waiting for an operator (retry or drop), by destination.", []string{"dest"}, nil)
	c.oldestAge = d("pda_queue_oldest_pending_age_seconds", "Age of the oldest undelivered bill, by destination; 0 when none waits.", []string{"dest"}, nil)
	c.bills = d("pda_queue_bills", "Bills kept in the queue by state (open, finished, cancelled).", []string{"state"}, nil)
	c.fileSize = d("pda_queue_file_size_bytes", "Size of the queue file.", nil, nil)
	c.maxSize = d("pda_queue_max_size_bytes", "The queue's size cap (queue.max_size); 0 when uncapped.", nil, nil)
	c.free = d("pda_disk_free_bytes", "Free space usable by the agent on the queue's filesystem.", nil, nil)
	c.alarm = d("pda_alarms", "Alarms standing (quarantined queue file, full queue or disk …); see pda-agent status.", nil, nil)
	c.clockOffset = d("pda_clock_offset_seconds", "The back ends' clock minus this device's, measured from their answers' Date headers; absent until measured. Beyond ±30 s requests are stamped with the corrected time and an alarm stands.", nil, nil)
	c.scannerUp = d("pda_scanner_up", "Whether a scan source is connected (1) or not (0).", []string{"scanner", "kind"}, nil)
	c.scannerErrors = d("pda_scanner_errors_total", "Errors a scan source met (open, read, unplug).", []string{"scanner", "kind"}, nil)
	return c
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.build, c.configInfo, c.configVersion, c.deliveries, c.failing, c.held, c.dead, c.oldestAge,
		c.bills, c.fileSize, c.maxSize, c.free, c.alarm, c.clockOffset, c.scannerUp, c.scannerErrors} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.build, prometheus.GaugeValue, 1, c.buildLabels...)
	if c.o.Config != nil {
		ci := c.o.Config()
		hash := ci.Hash
		if len(hash) > 12 {
			hash = hash[:12]
		}
		ch <- prometheus.MustNewConstMetric(c.configInfo, prometheus.GaugeValue, 1, ci.Source, hash)
		ch <- prometheus.MustNewConstMetric(c.configVersion, prometheus.GaugeValue, float64(ci.Version))
	}
	c.collectQueue(ch)
	if c.o.DiskFree != nil {
		if free, err := c.o.DiskFree(); err == nil {
			ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(free))
		}
		// Unknown (unsupported platform): no series rather than a false 0.
	}
	if c.o.Alarms != nil {
		ch <- prometheus.MustNewConstMetric(c.alarm, prometheus.GaugeValue, float64(c.o.Alarms()))
	}
	if c.o.ClockOffset != nil {
		if off, ok := c.o.ClockOffset(); ok {
			ch <- prometheus.MustNewConstMetric(c.clockOffset, prometheus.GaugeValue, off.Seconds())
		}
	}
	if c.o.Scanners != nil {
		for _, h := range c.o.Scanners() {
			up := 0.0
			if h.Connected {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(c.scannerUp, prometheus.GaugeValue, up, h.Name, h.Kind)
			ch <- prometheus.MustNewConstMetric(c.scannerErrors, prometheus.CounterValue, float64(h.Errors), h.Name, h.Kind)
		}
	}
}

// collectQueue reports the queue's state, with a series for every
// destination in force even when it has nothing queued.
func (c *stateCollector) collectQueue(ch chan<- prometheus.Metric) {
	if c.o.Stats == nil {
		return
	}
	st, err := c.o.Stats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.deliveries, fmt.Errorf("reading the queue: %w", err))
		return
	}
	dests := map[string]*queue.DestStats{}
	if c.o.Destinations != nil {
		for _, name := range c.o.Destinations() {
			dests[name] = &queue.DestStats{}
		}
	}
	for name, ds := range st.Dests {
		dests[name] = ds
	}
	names := make([]string, 0, len(dests))
	for name := range dests {
		names = append(names, name)
	}
	sort.Strings(names)
	now := c.o.Now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, name := range names {
		ds := dests[name]
		gauge(c.deliveries, float64(ds.Pending), name, "pending")
		gauge(c.deliveries, float64(ds.Leased), name, "leased")
		gauge(c.failing, float64(ds.Failing), name)
		gauge(c.held, float64(ds.Held), name)
		gauge(c.dead, float64(ds.Dead), name)
		age := 0.0
		if !ds.OldestPending.IsZero() {
			age = max(now.Sub(ds.OldestPending).Seconds(), 0)
		}
		gauge(c.oldestAge, age, name)
	}
	for _, state := range []queue.BillState{queue.BillOpen, queue.BillFinished, queue.BillCancelled} {
		gauge(c.bills, float64(st.Bills[state]), string(state))
	}
	gauge(c.fileSize, float64(st.FileSize))
	gauge(c.maxSize, float64(st.MaxSize))
}
