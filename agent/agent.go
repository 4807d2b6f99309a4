// Package agent wires the daemon together: scan sources feed the pipeline,
// which parses each code, runs session commands and records scans in the
// durable queue; upload workers carry finished bills to the back ends.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pda-agent/pda-agent/agent/metrics"
	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/clockskew"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/nhsa"
	"github.com/pda-agent/pda-agent/upload/webhook"
)

// Options are what the agent takes from its caller besides the config.
type Options struct {
	Logger *slog.Logger
	// Stdin and Stdout serve a stdin scanner, Stderr the terminal bell;
	// default os.Stdin, os.Stdout, os.Stderr.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Destinations replaces the destinations built from config (tests,
	// demo); keys are destination names.
	Destinations map[string]upload.Destination
	// Sources adds scan sources beyond those in config.
	Sources []SourceBinding
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnResult is told every upload attempt's outcome.
	OnResult func(upload.Result)
	// Feedback receives every scan's result, besides the sinks config
	// enables (log, bell).
	Feedback []Feedback
	// Version is reported in the status.
	Version string
	// Origin says where cfg came from (an HQ bundle the device starts
	// on); default a local file. Status and metrics report it.
	Origin ConfigInfo
}

// SourceBinding ties an extra source to the session it feeds.
type SourceBinding struct {
	Source  device.Source
	Session string
}

// Agent is one running pda-agent.
type Agent struct {
	log    *slog.Logger
	now    func() time.Time
	store  *queue.Store
	sinks  []Feedback
	opts   Options
	events *hub
	// online holds the 验码 checks (online.go).
	online *onlineChecker
	// recon is the daily reconciliation (reconcile.go).
	recon *reconciler

	// live is the config in force and what is derived from it; a new
	// config is a new value swapped in whole (Apply), never edited.
	live atomic.Pointer[live]
	// dset is the running destinations and their workers.
	dset atomic.Pointer[destSet]
	cat  atomic.Pointer[catalogue.Catalogue]
	// nonDrug is codes.credentials and codes.payment compiled (noncode.go).
	nonDrug atomic.Pointer[nonDrugRules]
	// origin is where the config in force came from (FleetApplier
	// updates it).
	origin atomic.Pointer[ConfigInfo]
	// fleetState reads the fleet client's state (SetFleetState); nil
	// without HQ.
	fleetState atomic.Pointer[func() FleetState]
	metrics    *metrics.Metrics
	// clock measures the back ends' clocks against this device's from
	// their answers; the 码上放心 and 医保 clients stamp requests with its
	// corrected time.
	clock *clockskew.Skew

	// applyMu serialises Apply and Run's start.
	applyMu sync.Mutex
	runCtx  context.Context // set by Run; nil before
	srcs    map[string]*runningSource
	extra   []binding // Options.Sources
	pending []string  // config changes that take effect at the next start

	mu         sync.Mutex
	lastScan   map[string]time.Time    // session → last activity, for idle finish
	suppressed map[string]uint64       // source → double reads dropped
	state      map[string]scanState    // session → what command barcodes set
	expected   map[string]*expectedSet // session → packs a receiving expects
	dests      map[string]destState    // destination → what the workers saw
	pinTries   map[string][]time.Time  // session → recent supervisor PIN failures (lines.go)
	comp       msfxComp                // 码上放心 compliance figures (compliance_msfx.go)
	started    time.Time
}

// live is an immutable config with what is derived from it.
type live struct {
	cfg   *configs.Config
	rules tracecode.Rules
}

// destSet is a generation of destinations with their workers.
type destSet struct {
	workers map[string]*upload.Worker
	// byName are the destinations the workers carry bills to (the finish
	// answer and attr changes ask them what they need and use).
	byName map[string]upload.Destination
	msfx   *msfx.Client // nil when 码上放心 is off: receiving against upstream bills needs it
	cancel context.CancelFunc
	done   chan struct{}
}

// runningSource is a scanner and its goroutine.
type runningSource struct {
	b      binding
	cfg    configs.Scanner
	cancel context.CancelFunc
	done   chan struct{}
}

// config is the config in force.
func (a *Agent) config() *configs.Config { return a.live.Load().cfg }

// rules are the trace-code rules in force.
func (a *Agent) rules() tracecode.Rules { return a.live.Load().rules }

// Config returns the config in force (read-only).
func (a *Agent) Config() *configs.Config { return a.config() }

// Catalogue returns the products and partners in use (never nil).
func (a *Agent) Catalogue() *catalogue.Catalogue {
	if c := a.cat.Load(); c != nil {
		return c
	}
	return catalogue.Empty()
}

func (a *Agent) workers() map[string]*upload.Worker {
	if d := a.dset.Load(); d != nil {
		return d.workers
	}
	return nil
}

func (a *Agent) msfxClient() *msfx.Client {
	if d := a.dset.Load(); d != nil {
		return d.msfx
	}
	return nil
}

// New opens the queue and builds sources and workers from cfg. The caller
// must Close the agent.
func New(cfg *configs.Config, o Options) (*Agent, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	rules, err := Rules(cfg.Codes)
	if err != nil {
		return nil, err
	}
	a := &Agent{log: o.Logger, now: o.Now, opts: o, events: newHub(), online: newOnlineChecker(), recon: newReconciler(), srcs: map[string]*runningSource{},
		lastScan: map[string]time.Time{}, suppressed: map[string]uint64{},
		state: map[string]scanState{}, expected: map[string]*expectedSet{},
		dests: map[string]destState{}, started: o.Now()}
	a.clock = clockskew.New(clockskew.Options{Now: o.Now, OnChange: func(st clockskew.State) {
		if st.Wrong {
			a.log.Warn("clock: "+st.Message, "offset_seconds", st.OffsetSeconds, "measured_from", st.Source)
		} else {
			a.log.Info("clock: the device clock agrees with the back ends again", "offset_seconds", st.OffsetSeconds)
		}
	}})
	a.live.Store(&live{cfg: cfg, rules: rules})
	a.setOrigin(o.Origin)
	a.metrics = a.newMetrics()
	cat, err := catalogue.Load(cfg.Catalogue.Products, cfg.Catalogue.Partners)
	if err != nil {
		// Scanning never stops for reference data: bills that need it are
		// held back by their destination, with the reason.
		o.Logger.Error("ALARM: catalogue not loaded; continuing without it", "err", err)
		cat = catalogue.Empty()
	}
	a.cat.Store(cat)
	if cfg.Feedback.Log {
		a.sinks = append(a.sinks, logFeedback{o.Logger})
	}
	if cfg.Feedback.Bell {
		a.sinks = append(a.sinks, &bellFeedback{w: o.Stderr})
	}
	a.sinks = append(a.sinks, o.Feedback...)
	a.sinks = append(a.sinks, FeedbackFunc(func(_ string, _ device.Scan, fb device.Feedback) { a.metrics.Scan(fb) }))

	pkey, err := PersonalKey(cfg, true, o.Logger)
	if err != nil {
		return nil, err
	}
	retain, retainFor := PersonalRetention(cfg)
	a.store, err = queue.Open(cfg.QueuePath(), queue.Options{
		PersonalKey:      pkey,
		PersonalKeyFile:  cfg.QueuePersonalKeyFile(),
		UsesAttr:         a.usesAttr,
		MaxSize:          int64(cfg.Queue.MaxSize),
		Headroom:         int64(cfg.Queue.Headroom),
		MaxBatch:         cfg.Queue.MaxBatch,
		CheckOnOpen:      cfg.Queue.CheckOnOpen,
		CompactFreeRatio: cfg.Queue.CompactFreeRatio,
		BillPrefix:       cfg.Device.ID,
		Now:              o.Now,
		Logger:           o.Logger,
		OnDue:            a.wake,
		OnCommit:         a.metrics.Commit,
		OnAlarm: func(al queue.Alarm) {
			o.Logger.Error("ALARM", "kind", al.Kind, "message", al.Message)
			a.publish(Event{Kind: "alarm", Status: al.Kind, Message: al.Message})
		},
		// Personal data kept for a repair (agent/reconcile.go).
		PersonalRetention: retain,
		RetainPersonalFor: retainFor,
	})
	if err != nil {
		return nil, err
	}
	ds, err := a.newDestSet(cfg, cat)
	if err != nil {
		a.store.Close()
		return nil, err
	}
	a.dset.Store(ds)
	if err := a.loadMsfxCompliance(); err != nil {
		// Unreadable figures are asked again at the next refresh.
		o.Logger.Warn("码上放心 compliance figures of the last run not loaded", "err", err)
	}
	for _, sc := range cfg.Scanners {
		rs, err := a.newSource(sc)
		if err != nil {
			a.store.Close()
			return nil, fmt.Errorf("agent: scanner %s: %w", sc.Name, err)
		}
		a.srcs[sc.Name] = rs
	}
	for _, b := range o.Sources {
		a.extra = append(a.extra, binding{src: b.Source, session: b.Session})
	}
	a.online.hooks.Excused = a.excusedByException
	a.online.hooks.OtherProduct = a.productMatch
	a.resumeChecks()
	a.recheckOpenBills()
	return a, nil
}

// newSource builds a scanner (not started).
func (a *Agent) newSource(sc configs.Scanner) (*runningSource, error) {
	src, err := buildSource(sc, a.opts)
	if err != nil {
		return nil, err
	}
	session := sc.SessionName()
	// Input a source discards itself (an over-long frame) still reaches
	// the operator.
	if fs, ok := src.(interface {
		SetFeedback(func(device.Scan, device.Feedback))
	}); ok {
		fs.SetFeedback(func(s device.Scan, fb device.Feedback) { a.feedback(session, s, fb) })
	}
	return &runningSource{b: binding{src: src, session: session, dedupe: sc.DedupeWindow}, cfg: sc}, nil
}

// newDestSet builds the destinations and workers a config asks for (not
// started).
func (a *Agent) newDestSet(cfg *configs.Config, cat *catalogue.Catalogue) (*destSet, error) {
	ds := &destSet{workers: map[string]*upload.Worker{}}
	dests := a.opts.Destinations
	if dests == nil {
		var err error
		if dests, ds.msfx, err = a.buildDestinations(cfg, cat); err != nil {
			return nil, err
		}
	}
	ds.byName = dests
	for name, d := range dests {
		pol := policyOf(cfg, name)
		w, err := upload.NewWorker(a.store, d, upload.WorkerOptions{
			Lease:       cfg.Upload.Lease,
			Concurrency: max(pol.Concurrency, 1),
			Rate:        pol.Rate,
			Burst:       pol.Burst,
			Backoff: upload.Backoff{Initial: cfg.Upload.InitialBackoff, Max: cfg.Upload.MaxBackoff,
				Multiplier: cfg.Upload.Multiplier, Jitter: cfg.Upload.Jitter},
			Now:      a.now,
			Logger:   a.log,
			OnResult: a.onResult,
		})
		if err != nil {
			return nil, err
		}
		ds.workers[name] = w
	}
	return ds, nil
}

// MetricsHandler serves the agent's Prometheus metrics (agent/metrics).
func (a *Agent) MetricsHandler() http.Handler { return a.metrics.Handler() }

// newMetrics makes the agent's metrics; state is read from the agent at
// scrape time (the queue is open by then: the API starts after New).
func (a *Agent) newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Options{
		Version:      a.opts.Version,
		Stats:        func() (queue.Stats, error) { return a.store.Stats() },
		Destinations: func() []string { return names(a.workers()) },
		DiskFree:     func() (int64, error) { return a.store.DiskFree() },
		Alarms: func() int {
			n := len(a.store.Alarms()) + len(a.CheckAlarms())
			if a.clock.Wrong() {
				n++
			}
			return n
		},
		ClockOffset: a.clock.Offset,
		Scanners:    a.Scanners,
		Config: func() metrics.ConfigInfo {
			ci := a.configInfo()
			return metrics.ConfigInfo{Source: ci.Source, Version: ci.Version, Hash: ci.Hash}
		},
		Now:    a.now,
		Logger: a.log,
	})
}

// Store is the agent's queue (for status and tests).
func (a *Agent) Store() *queue.Store { return a.store }

// Close closes the queue. Call it after Run has returned.
func (a *Agent) Close() error { return a.store.Close() }

// buildDestinations makes the enabled destinations from config.
func (a *Agent) buildDestinations(cfg *configs.Config, cat *catalogue.Catalogue) (map[string]upload.Destination, *msfx.Client, error) {
	out := map[string]upload.Destination{}
	var mc *msfx.Client
	if cfg.NHSA.Enabled {
		c, err := nhsaConfig(cfg.NHSA, a.store, cat)
		if err != nil {
			return nil, nil, fmt.Errorf("agent: nhsa: %w", err)
		}
		c.HTTPClient, c.Now = clockskew.Client(c.HTTPClient, a.clock), a.clock.Now
		d, err := nhsa.New(c)
		if err != nil {
			return nil, nil, fmt.Errorf("agent: nhsa: %w", err)
		}
		out["nhsa"] = newNHSADest(d, cfg.NHSA.Defaults)
	}
	if cfg.Msfx.Enabled {
		m := cfg.Msfx
		conf := msfxConfig(m)
		conf.Earlier = earlierUndelivered(a.store, conf.Name)
		conf.HTTPClient, conf.Now = clockskew.Client(conf.HTTPClient, a.clock), a.clock.Now
		c, err := msfx.New(conf)
		if err != nil {
			return nil, nil, fmt.Errorf("agent: msfx: %w", err)
		}
		out["msfx"] = c
		mc = c
	}
	if cfg.Webhook.Enabled {
		w, err := webhook.New(webhook.Options{Name: "webhook", URL: cfg.Webhook.URL, KeyID: cfg.Webhook.KeyID,
			Secret: cfg.Webhook.Secret.Value(), Timeout: cfg.Webhook.Timeout, BillTypes: cfg.Webhook.BillTypes,
			Earlier: earlierUndelivered(a.store, "webhook")})
		if err != nil {
			return nil, nil, fmt.Errorf("agent: webhook: %w", err)
		}
		out["webhook"] = w
	}
	return out, mc, nil
}

// msfxConfig is the 码上放心 client's config (uploads, and the code
// queries of receiving and diagnose).
func msfxConfig(m configs.Msfx) msfx.Config {
	rate := m.Rate
	if rate == 0 {
		rate = -1 // config: 0 = no limit; the client's 0 would mean its default
	}
	return msfx.Config{Name: "msfx", Gateway: m.Gateway, AppKey: m.AppKey, AppSecret: m.AppSecret.Value(),
		SignMethod: m.SignMethod, Session: m.Session.Value(), Simplify: m.Simplify, RefEntID: m.RefEntID, EntID: m.EntID,
		MaxCodesRetail: m.MaxCodesRetail, MaxCodesInOut: m.MaxCodesInOut, IgnorePartSuccess: m.IgnorePartSuccess,
		SkipNonMSFX: m.SkipNonMSFX, Rate: rate, Burst: m.Burst, Timeout: m.Timeout, PollInterval: m.PollInterval,
		OperICCode: m.OperICCode, OperICName: m.OperICName}
}

func policyOf(cfg *configs.Config, dest string) configs.Policy {
	switch dest {
	case "webhook":
		return cfg.Webhook.Policy
	case "nhsa":
		return cfg.NHSA.Policy
	case "msfx":
		// The msfx client limits its own calls per AppKey (uploads, polls
		// and queries alike); the worker only bounds concurrency.
		p := cfg.Msfx.Policy
		p.Rate = 0
		return p
	}
	return configs.Policy{Enabled: true, Concurrency: 1, Burst: 1}
}

// Rules turns the codes config into parsing rules.
func Rules(c configs.Codes) (tracecode.Rules, error) {
	r := tracecode.Rules{GSSubstitutes: c.GSSubstitutes, MaxLength: c.MaxLength, GSReliable: c.GSReliable}
	for _, k := range c.AllowedKinds {
		r.AllowedKinds = append(r.AllowedKinds, tracecode.Kind(k))
	}
	for _, o := range c.OtherRules {
		var re *regexp.Regexp
		if o.Pattern != "" {
			var err error
			if re, err = regexp.Compile(o.Pattern); err != nil {
				return tracecode.Rules{}, fmt.Errorf("agent: codes.other_rules %s: %w", o.Name, err)
			}
		}
		r.Other = append(r.Other, tracecode.OtherRule{Name: o.Name, Pattern: re, MinLen: o.MinLength, MaxLen: o.MaxLength})
	}
	return r, nil
}

// onResult tells watchers of every upload attempt, then the caller.
func (a *Agent) onResult(r upload.Result) {
	a.mu.Lock()
	d := a.dests[r.Dest]
	switch r.Outcome.Class {
	case upload.Done, upload.Wait:
		if !r.Outcome.Local {
			d.lastSuccess = a.now()
		}
	case upload.Retry:
		if len(r.Outcome.Missing) == 0 { // held back: about the bill, not the back end
			d.lastError, d.lastErrorAt = r.Outcome.Message, a.now()
		}
	default:
		d.lastError, d.lastErrorAt = r.Outcome.Message, a.now()
	}
	a.dests[r.Dest] = d
	a.mu.Unlock()
	a.metrics.Upload(r.Dest, r.Outcome.Class.String(), r.Duration)
	status := r.Outcome.Class.String()
	if len(r.Outcome.Missing) > 0 {
		status = "held"
	}
	a.publish(Event{Kind: "delivery", Bill: r.Bill.Code, Dest: r.Dest, Status: status, Message: r.Outcome.Message})
	if a.opts.OnResult != nil {
		a.opts.OnResult(r)
	}
}

func (a *Agent) wake(dest string) {
	if w := a.workers()[dest]; w != nil {
		w.Wake()
	}
}

// Run runs sources, workers and housekeeping until ctx ends, then stops
// them and returns. Sources that end by themselves (a replay file) do not
// stop the agent.
func (a *Agent) Run(ctx context.Context) error {
	a.applyMu.Lock()
	a.runCtx = ctx
	ds := a.dset.Load()
	if len(ds.workers) == 0 {
		a.log.Warn("no destination enabled: finished bills are kept locally only")
	}
	if len(a.srcs)+len(a.extra) == 0 {
		a.log.Warn("no scanner configured")
	}
	a.startDests(ds)
	for _, rs := range a.srcs {
		a.startSource(rs)
	}
	var extra sync.WaitGroup
	for _, b := range a.extra {
		extra.Add(1)
		go func(b binding) {
			defer extra.Done()
			a.runSource(ctx, b)
		}(b)
	}
	a.applyMu.Unlock()

	checks, comp := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(checks)
		a.runOnline(ctx)
	}()
	go func() {
		defer close(comp)
		a.runMsfxCompliance(ctx)
	}()
	recon := make(chan struct{})
	go func() {
		defer close(recon)
		a.runReconcile(ctx)
	}()
	a.housekeeping(ctx)
	<-checks
	<-comp
	<-recon

	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	for _, rs := range a.srcs {
		<-rs.done
	}
	<-a.dset.Load().done
	extra.Wait()
	return nil
}

// startDests starts a destination set's workers under Run's context.
func (a *Agent) startDests(ds *destSet) {
	ctx, cancel := context.WithCancel(a.runCtx)
	ds.cancel, ds.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range ds.workers {
		wg.Add(1)
		go func(w *upload.Worker) {
			defer wg.Done()
			if err := w.Run(ctx); err != nil {
				a.log.Error("upload worker stopped", "dest", w.Name(), "err", err)
			}
		}(w)
	}
	go func() {
		wg.Wait()
		close(ds.done)
	}()
}

// startSource runs a scanner under Run's context.
func (a *Agent) startSource(rs *runningSource) {
	ctx, cancel := context.WithCancel(a.runCtx)
	rs.cancel, rs.done = cancel, make(chan struct{})
	go func() {
		defer close(rs.done)
		a.runSource(ctx, rs.b)
	}()
}

// housekeeping prunes old history and finishes idle bills.
func (a *Agent) housekeeping(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	nextPrune := a.now().Add(time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cfg := a.config()
		if cfg.Sessions.IdleFinish > 0 {
			a.finishIdle(ctx, cfg.Sessions.IdleFinish)
		}
		if now := a.now(); now.After(nextPrune) {
			nextPrune = now.Add(cfg.Queue.PruneInterval)
			st, err := a.store.Prune(ctx, now.Add(-cfg.Queue.RetainBills), now.Add(-cfg.Queue.RetainLedger))
			switch {
			case err != nil && ctx.Err() == nil:
				a.log.Error("prune failed", "err", err)
			case st.Bills+st.Scans+st.Ledger > 0:
				a.log.Info("pruned delivered history", "bills", st.Bills, "codes", st.Items, "scans", st.Scans, "ledger", st.Ledger)
			}
		}
	}
}

func (a *Agent) finishIdle(ctx context.Context, after time.Duration) {
	a.mu.Lock()
	var idle []string
	for s, at := range a.lastScan {
		if a.now().Sub(at) >= after {
			idle = append(idle, s)
			delete(a.lastScan, s)
		}
	}
	a.mu.Unlock()
	for _, s := range idle {
		if err := a.checkFinish(ctx, s); err != nil {
			a.log.Warn("idle bill not finished", "session", s, "err", err)
			continue
		}
		b, err := a.store.Finish(ctx, s, a.route)
		switch {
		case err == nil:
			a.log.Info("finished idle bill", "session", s, "bill", b.Code, "codes", b.Items)
		case errors.Is(err, queue.ErrEmptyBill):
			if _, err := a.store.Cancel(ctx, s, "idle with no codes"); err != nil {
				a.log.Error("cancel idle bill", "session", s, "err", err)
			}
		case errors.Is(err, queue.ErrCodesMissing):
			a.log.Warn("idle sale left open: codes missing", "session", s, "err", err)
		case !errors.Is(err, queue.ErrNoSession):
			a.log.Error("finish idle bill", "session", s, "err", err)
		}
	}
}

// route picks a finished bill's destinations from config. A sale goes to
// 医保 only if it is a 医保 sale (it carries nhsa.mdtrt_sn), unless
// nhsa.sales is all.
func (a *Agent) route(b queue.Bill) []string {
	var out []string
	cfg, workers := a.config(), a.workers()
	for _, d := range cfg.Destinations(b.Type) {
		if workers[d] == nil {
			continue
		}
		if d == "nhsa" && b.Type == billtype.RetailSale && cfg.NHSA.Sales != "all" && b.Attrs["nhsa.mdtrt_sn"] == "" {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (a *Agent) touch(session string) {
	a.mu.Lock()
	a.lastScan[session] = a.now()
	a.mu.Unlock()
}

// prefixSymbology puts a transport-reported AIM id in front of the data,
// where the parser expects it.
// A transport that reports the symbology apart (camera, HID-POS) never
// leaves it in the data, so data that itself starts with ']' stays data.
func prefixSymbology(s device.Scan) string {
	return s.Symbology + string(s.Raw)
}
