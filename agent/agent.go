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
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/webhook"
)

// Options are what the agent takes from its caller besides the config.
type Options struct {
	Logger *slog.Logger
	// Stdin and Stdout serve a stdin scanner; default os.Stdin/os.Stdout.
	Stdin  io.Reader
	Stdout io.Writer
	// Destinations replaces the destinations built from config (tests,
	// demo); keys are destination names.
	Destinations map[string]upload.Destination
	// Sources adds scan sources beyond those in config.
	Sources []SourceBinding
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnResult is told every upload attempt's outcome.
	OnResult func(upload.Result)
	// OnScan is told every scan's feedback.
	OnScan func(device.Scan, device.Feedback)
}

// SourceBinding ties a source to the session it feeds.
type SourceBinding struct {
	Source  device.Source
	Session string
}

// Agent is one running pda-agent.
type Agent struct {
	cfg     *configs.Config
	log     *slog.Logger
	now     func() time.Time
	store   *queue.Store
	rules   tracecode.Rules
	sources []SourceBinding
	workers map[string]*upload.Worker
	opts    Options

	mu       sync.Mutex
	lastScan map[string]time.Time // session → last activity, for idle finish
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
	rules, err := Rules(cfg.Codes)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: o.Logger, now: o.Now, rules: rules, opts: o,
		workers: map[string]*upload.Worker{}, lastScan: map[string]time.Time{}}

	a.store, err = queue.Open(cfg.QueuePath(), queue.Options{
		MaxSize:          int64(cfg.Queue.MaxSize),
		Headroom:         int64(cfg.Queue.Headroom),
		MaxBatch:         cfg.Queue.MaxBatch,
		CheckOnOpen:      cfg.Queue.CheckOnOpen,
		CompactFreeRatio: cfg.Queue.CompactFreeRatio,
		BillPrefix:       cfg.Device.ID,
		Now:              o.Now,
		Logger:           o.Logger,
		OnDue:            a.wake,
		OnAlarm: func(al queue.Alarm) {
			o.Logger.Error("ALARM", "kind", al.Kind, "message", al.Message)
		},
	})
	if err != nil {
		return nil, err
	}

	dests := o.Destinations
	if dests == nil {
		if dests, err = buildDestinations(cfg); err != nil {
			a.store.Close()
			return nil, err
		}
	}
	for name, d := range dests {
		pol := policyOf(cfg, name)
		w, err := upload.NewWorker(a.store, d, upload.WorkerOptions{
			Lease:       cfg.Upload.Lease,
			Concurrency: max(pol.Concurrency, 1),
			Rate:        pol.Rate,
			Burst:       pol.Burst,
			Backoff: upload.Backoff{Initial: cfg.Upload.InitialBackoff, Max: cfg.Upload.MaxBackoff,
				Multiplier: cfg.Upload.Multiplier, Jitter: cfg.Upload.Jitter},
			Now:      o.Now,
			Logger:   o.Logger,
			OnResult: o.OnResult,
		})
		if err != nil {
			a.store.Close()
			return nil, err
		}
		a.workers[name] = w
	}

	for _, sc := range cfg.Scanners {
		var src device.Source
		switch sc.Type {
		case "stdin":
			l := &device.Lines{SourceName: sc.Name, Reader: o.Stdin, Now: o.Now}
			if sc.Echo {
				l.Echo = o.Stdout
			}
			src = l
		case "replay":
			src = &replayFile{name: sc.Name, path: sc.Path, now: o.Now}
		default:
			a.store.Close()
			return nil, fmt.Errorf("agent: scanner %s: unknown type %q", sc.Name, sc.Type)
		}
		a.sources = append(a.sources, SourceBinding{Source: src, Session: sc.SessionName()})
	}
	a.sources = append(a.sources, o.Sources...)
	return a, nil
}

// Store is the agent's queue (for status and tests).
func (a *Agent) Store() *queue.Store { return a.store }

// Close closes the queue. Call it after Run has returned.
func (a *Agent) Close() error { return a.store.Close() }

// buildDestinations makes the enabled destinations from config.
func buildDestinations(cfg *configs.Config) (map[string]upload.Destination, error) {
	out := map[string]upload.Destination{}
	if cfg.Webhook.Enabled {
		w, err := webhook.New(webhook.Options{Name: "webhook", URL: cfg.Webhook.URL, KeyID: cfg.Webhook.KeyID,
			Secret: cfg.Webhook.Secret.Value(), Timeout: cfg.Webhook.Timeout, BillTypes: cfg.Webhook.BillTypes})
		if err != nil {
			return nil, fmt.Errorf("agent: webhook: %w", err)
		}
		out["webhook"] = w
	}
	return out, nil
}

func policyOf(cfg *configs.Config, dest string) configs.Policy {
	switch dest {
	case "webhook":
		return cfg.Webhook.Policy
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

func (a *Agent) wake(dest string) {
	if w := a.workers[dest]; w != nil {
		w.Wake()
	}
}

// Run runs sources, workers and housekeeping until ctx ends, then stops
// them and returns. Sources that end by themselves (a replay file) do not
// stop the agent.
func (a *Agent) Run(ctx context.Context) error {
	if len(a.workers) == 0 {
		a.log.Warn("no destination enabled: finished bills are kept locally only")
	}
	if len(a.sources) == 0 {
		a.log.Warn("no scanner configured")
	}
	var wg sync.WaitGroup
	for _, w := range a.workers {
		wg.Add(1)
		go func(w *upload.Worker) {
			defer wg.Done()
			if err := w.Run(ctx); err != nil {
				a.log.Error("upload worker stopped", "dest", w.Name(), "err", err)
			}
		}(w)
	}
	for _, b := range a.sources {
		wg.Add(1)
		go func(b SourceBinding) {
			defer wg.Done()
			a.runSource(ctx, b)
		}(b)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.housekeeping(ctx)
	}()
	wg.Wait()
	return nil
}

func (a *Agent) runSource(ctx context.Context, b SourceBinding) {
	name := b.Source.Name()
	h := func(ctx context.Context, s device.Scan) device.Feedback { return a.HandleScan(ctx, b.Session, s) }
	if err := b.Source.Run(ctx, h); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Error("scanner stopped", "scanner", name, "err", err)
		return
	}
	a.log.Info("scanner finished", "scanner", name)
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
		if a.cfg.Sessions.IdleFinish > 0 {
			a.finishIdle(ctx)
		}
		if now := a.now(); now.After(nextPrune) {
			nextPrune = now.Add(a.cfg.Queue.PruneInterval)
			st, err := a.store.Prune(ctx, now.Add(-a.cfg.Queue.RetainBills), now.Add(-a.cfg.Queue.RetainLedger))
			switch {
			case err != nil && ctx.Err() == nil:
				a.log.Error("prune failed", "err", err)
			case st.Bills+st.Scans+st.Ledger > 0:
				a.log.Info("pruned delivered history", "bills", st.Bills, "codes", st.Items, "scans", st.Scans, "ledger", st.Ledger)
			}
		}
	}
}

func (a *Agent) finishIdle(ctx context.Context) {
	a.mu.Lock()
	var idle []string
	for s, at := range a.lastScan {
		if a.now().Sub(at) >= a.cfg.Sessions.IdleFinish {
			idle = append(idle, s)
			delete(a.lastScan, s)
		}
	}
	a.mu.Unlock()
	for _, s := range idle {
		b, err := a.store.Finish(ctx, s, a.route)
		switch {
		case err == nil:
			a.log.Info("finished idle bill", "session", s, "bill", b.Code, "codes", b.Items)
		case errors.Is(err, queue.ErrEmptyBill):
			if _, err := a.store.Cancel(ctx, s, "idle with no codes"); err != nil {
				a.log.Error("cancel idle bill", "session", s, "err", err)
			}
		case !errors.Is(err, queue.ErrNoSession):
			a.log.Error("finish idle bill", "session", s, "err", err)
		}
	}
}

// route picks a finished bill's destinations from config.
func (a *Agent) route(b queue.Bill) []string {
	var out []string
	for _, d := range a.cfg.Destinations(b.Type) {
		if a.workers[d] != nil {
			out = append(out, d)
		}
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
func prefixSymbology(s device.Scan) string {
	raw := string(s.Raw)
	if s.Symbology != "" && !strings.HasPrefix(raw, "]") {
		raw = s.Symbology + raw
	}
	return raw
}
