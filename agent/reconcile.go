package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/reconcile"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/nhsa"
)

// The daily reconciliation inside the running agent (issue 16): once a
// day, inside reconcile.quiet_hours (China time), each platform is asked
// whether it holds the bills finished in the last reconcile.lookback. The
// job yields: before every platform request it waits while a delivery is
// due (uploads first) or an online check is waiting, and keeps to
// reconcile.rate. POST /v1/reconcile runs it at once, outside the quiet
// hours too, yielding the same way.

// maxYield bounds how long a run waits for the agent's own work before
// it gives up (and is tried again later in the quiet hours).
const maxYield = 15 * time.Minute

// retryAfterFailure is how long a failed scheduled run waits before the
// next try inside the same quiet hours.
const retryAfterFailure = 30 * time.Minute

// ErrReconcileRunning: a reconciliation is already under way.
var ErrReconcileRunning = errors.New("a reconciliation is already running")

// reconciler is the job's state.
type reconciler struct {
	wake chan ReconcileRequest

	mu       sync.Mutex
	running  bool
	lastDay  string    // China date of the last successful scheduled run
	lastTry  time.Time // last scheduled attempt
	lastReq  time.Time // last platform request (wall clock), for the rate
	failures map[string]ReconcileFailure
}

func newReconciler() *reconciler {
	return &reconciler{wake: make(chan ReconcileRequest, 1), failures: map[string]ReconcileFailure{}}
}

// ReconcileRequest asks for a run now; zero From/To is the lookback.
type ReconcileRequest struct {
	From, To time.Time
	// scheduled: the daily run, bounded by the quiet hours.
	scheduled bool
}

// ReconcileFailure is a back end's last run that did not finish.
type ReconcileFailure struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
}

// ReconcileFinding is a finding of the latest run of a back end, with
// the id the resend names.
type ReconcileFinding struct {
	ID   string `json:"id"`
	Dest string `json:"dest"`
	Run  uint64 `json:"run"`
	queue.ReconcileFinding
	// Resendable: the bill is this device's own and delivered, so it can
	// be queued again (POST /v1/reconcile/findings/{id}/resend).
	Resendable bool `json:"resendable"`
}

// ReconcileView is GET /v1/reconcile.
type ReconcileView struct {
	Enabled    bool                        `json:"enabled"`
	QuietHours string                      `json:"quiet_hours"`
	Running    bool                        `json:"running"`
	Runs       []queue.ReconcileRun        `json:"runs"`
	Open       []ReconcileFinding          `json:"open"`
	Failures   map[string]ReconcileFailure `json:"failures,omitempty"`
}

// runReconcile is the job's loop (Run).
func (a *Agent) runReconcile(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	var swept time.Time
	for {
		var req *ReconcileRequest
		select {
		case <-ctx.Done():
			return
		case r := <-a.recon.wake:
			req = &r
		case <-tick.C:
		}
		if time.Since(swept) >= time.Hour {
			swept = time.Now()
			a.reconcileHousekeeping(ctx)
		}
		if req == nil {
			if !a.reconcileDue(a.now()) {
				continue
			}
			a.recon.mu.Lock()
			a.recon.lastTry = a.now()
			a.recon.mu.Unlock()
			req = &ReconcileRequest{scheduled: true}
		}
		if ok := a.reconcileAll(ctx, *req); ok && req.scheduled {
			a.recon.mu.Lock()
			a.recon.lastDay = a.now().In(chinaTime).Format(time.DateOnly)
			a.recon.mu.Unlock()
		}
	}
}

// reconcileDue tells whether the scheduled run should start at now:
// enabled, inside the quiet hours, not yet done today, and not failed
// within retryAfterFailure.
func (a *Agent) reconcileDue(now time.Time) bool {
	cfg := a.config().Reconcile
	w, err := configs.ParseQuietHours(cfg.QuietHours)
	if !cfg.Enabled || err != nil || !w.Contains(now) {
		return false
	}
	a.recon.mu.Lock()
	defer a.recon.mu.Unlock()
	if a.recon.lastDay == now.In(chinaTime).Format(time.DateOnly) {
		return false
	}
	return a.recon.lastTry.IsZero() || now.Sub(a.recon.lastTry) >= retryAfterFailure
}

// RequestReconcile asks the job to run now (POST /v1/reconcile).
func (a *Agent) RequestReconcile(r ReconcileRequest) error {
	if len(a.reconcileBackends()) == 0 {
		return fmt.Errorf("%w: neither 医保 (nhsa.enabled with nhsa.query.trace, .purchase or .sale) nor 码上放心 is enabled: nothing to reconcile", ErrBadRequest)
	}
	if !r.From.IsZero() && !r.To.IsZero() && r.To.Before(r.From) {
		return fmt.Errorf("%w: until is before since", ErrBadRequest)
	}
	a.recon.mu.Lock()
	running := a.recon.running
	a.recon.mu.Unlock()
	if running {
		return ErrReconcileRunning
	}
	r.scheduled = false
	select {
	case a.recon.wake <- r:
		return nil
	default:
		return ErrReconcileRunning
	}
}

// reconcileBackends are the back ends reconciliation can ask now.
func (a *Agent) reconcileBackends() []reconcile.Backend {
	var out []reconcile.Backend
	ds := a.dset.Load()
	if ds == nil {
		return nil
	}
	if q := a.config().NHSA.Query; q.Trace != "" || q.Purchase != "" || q.Sale != "" || q.StockTake != "" || q.StockChange != "" {
		if d, ok := ds.byName[nhsa.DefaultName].(*nhsaDest); ok {
			out = append(out, reconcile.NHSA{Client: d.Client})
		}
	}
	if ds.msfx != nil {
		out = append(out, reconcile.MSFX{Platform: ds.msfx, Known: a.knownBill})
	}
	return out
}

// knownBill tells whether a bill code is one of this device's bills.
func (a *Agent) knownBill(code string) bool {
	_, err := a.store.BillByCode(code)
	return err == nil
}

// reconcileAll runs every back end once; it reports whether all finished.
func (a *Agent) reconcileAll(ctx context.Context, req ReconcileRequest) bool {
	a.recon.mu.Lock()
	if a.recon.running {
		a.recon.mu.Unlock()
		return false
	}
	a.recon.running = true
	a.recon.mu.Unlock()
	defer func() {
		a.recon.mu.Lock()
		a.recon.running = false
		a.recon.mu.Unlock()
	}()
	cfg := a.config().Reconcile
	to, from := req.To, req.From
	if to.IsZero() {
		to = a.now()
	}
	if from.IsZero() {
		from = to.Add(-cfg.Lookback)
	}
	ok := true
	for _, b := range a.reconcileBackends() {
		pause := a.reconcilePause(cfg, req.scheduled)
		switch be := b.(type) {
		case reconcile.MSFX:
			be.Pause = pause
			b = be
		case reconcile.NHSA:
			be.Pause = pause
			b = be
		}
		run, err := reconcile.Run(ctx, a.store, b, from, to)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			a.reconcileFailed(b.Name(), err)
			ok = false
			continue
		}
		a.recon.mu.Lock()
		delete(a.recon.failures, b.Name())
		a.recon.mu.Unlock()
		a.log.Info("reconciliation done", "dest", run.Dest, "run", run.Seq, "bills", run.Bills, "records", run.Records, "findings", len(run.Findings))
		status := "ok"
		if len(run.Findings) > 0 {
			status = "differences"
		}
		a.publish(Event{Kind: "reconcile", Dest: run.Dest, Status: status,
			Message: fmt.Sprintf("reconciliation #%d: %d bill(s), %d difference(s)", run.Seq, run.Bills, len(run.Findings))})
	}
	a.reconcileHousekeeping(ctx)
	return ok
}

// reconcileHousekeeping drops the runs older than reconcile.keep and
// erases the personal data kept for a repair whose time has come
// (queue.personal_retention). It runs after every reconciliation and
// hourly besides, so retention ends even while reconciliation is off.
func (a *Agent) reconcileHousekeeping(ctx context.Context) {
	cfg := a.config().Reconcile
	if n, err := a.store.PruneReconcile(ctx, a.now().Add(-cfg.Keep)); err != nil {
		a.log.Warn("pruning reconciliation runs", "err", err)
	} else if n > 0 {
		a.log.Info("reconciliation runs pruned", "runs", n, "keep", cfg.Keep)
	}
	if n, err := a.store.ErasePersonalDue(ctx, cfg.Lookback); err != nil {
		a.log.Warn("erasing personal data kept for a repair", "err", err)
	} else if n > 0 {
		a.log.Info("personal data kept for a repair erased", "bills", n)
	}
}

// PersonalRetention is the queue's keeping of personal data for a repair:
// queue.personal_retention for 医保 while reconciliation is enabled, none
// otherwise (queue.Options.PersonalRetention, RetainPersonalFor).
func PersonalRetention(cfg *configs.Config) (time.Duration, []string) {
	if !cfg.Reconcile.Enabled || !cfg.NHSA.Enabled || cfg.Queue.PersonalRetention <= 0 {
		return 0, nil
	}
	return cfg.Queue.PersonalRetention, []string{nhsa.DefaultName}
}

func (a *Agent) reconcileFailed(dest string, err error) {
	a.log.Warn("reconciliation failed", "dest", dest, "err", err)
	a.recon.mu.Lock()
	a.recon.failures[dest] = ReconcileFailure{At: a.now(), Error: err.Error()}
	a.recon.mu.Unlock()
}

// reconcilePause waits before a platform request: while the agent's own
// work is waiting (a due delivery, an online check), then for the rate.
// A scheduled run stops at the end of the quiet hours.
func (a *Agent) reconcilePause(cfg configs.Reconcile, scheduled bool) func(context.Context) error {
	w, werr := configs.ParseQuietHours(cfg.QuietHours)
	return func(ctx context.Context) error {
		start := time.Now()
		for a.reconcileYield() {
			if time.Since(start) > maxYield {
				return fmt.Errorf("gave way to uploads and online checks for %s; tried again later", maxYield)
			}
			if !sleepCtx(ctx, 500*time.Millisecond) {
				return ctx.Err()
			}
		}
		if scheduled && werr == nil && !w.Contains(a.now()) {
			return errors.New("the quiet hours ended before the reconciliation did; it goes on tomorrow")
		}
		a.recon.mu.Lock()
		wait := time.Duration(float64(time.Second)/cfg.Rate) - time.Since(a.recon.lastReq)
		a.recon.mu.Unlock()
		if wait > 0 && !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
		a.recon.mu.Lock()
		a.recon.lastReq = time.Now()
		a.recon.mu.Unlock()
		return nil
	}
}

// reconcileYield tells whether the agent's own work comes first now: a
// delivery due to any back end, or packs waiting for an online check.
func (a *Agent) reconcileYield() bool {
	a.online.mu.Lock()
	checks := len(a.online.pending)
	a.online.mu.Unlock()
	if checks > 0 {
		return true
	}
	ds := a.dset.Load()
	if ds == nil {
		return false
	}
	now := a.now()
	for name := range ds.workers {
		if at, ok, err := a.store.NextDue(name); err == nil && ok && !at.After(now) {
			return true
		}
	}
	return false
}

// Reconciliation is GET /v1/reconcile: the last runs (at most limit) and
// the findings of each back end's latest run.
func (a *Agent) Reconciliation(limit int) (ReconcileView, error) {
	cfg := a.config().Reconcile
	v := ReconcileView{Enabled: cfg.Enabled, QuietHours: cfg.QuietHours, Runs: []queue.ReconcileRun{}, Open: []ReconcileFinding{}}
	a.recon.mu.Lock()
	v.Running = a.recon.running
	if len(a.recon.failures) > 0 {
		v.Failures = map[string]ReconcileFailure{}
		for k, f := range a.recon.failures {
			v.Failures[k] = f
		}
	}
	a.recon.mu.Unlock()
	runs, err := a.store.ReconcileRuns(0)
	if err != nil {
		return v, err
	}
	seen := map[string]bool{}
	for i, r := range runs {
		if i < limit || limit <= 0 {
			v.Runs = append(v.Runs, r)
		}
		if seen[r.Dest] {
			continue
		}
		seen[r.Dest] = true
		for n, f := range r.Findings {
			v.Open = append(v.Open, ReconcileFinding{ID: findingID(r.Seq, n), Dest: r.Dest, Run: r.Seq, ReconcileFinding: f,
				Resendable: a.resendable(r.Dest, f)})
		}
	}
	return v, nil
}

func findingID(seq uint64, n int) string { return fmt.Sprintf("%d-%d", seq, n+1) }

// resendable tells whether a finding names a delivered bill of this
// device.
func (a *Agent) resendable(dest string, f queue.ReconcileFinding) bool {
	if (f.Kind != reconcile.Missing && f.Kind != reconcile.CodesDiffer) || f.Bill == "" {
		return false
	}
	b, err := a.store.BillByCode(f.Bill)
	if err != nil {
		return false
	}
	ds, err := a.store.Deliveries(b.ID)
	if err != nil {
		return false
	}
	i := slices.IndexFunc(ds, func(d queue.Delivery) bool { return d.Dest == dest })
	return i >= 0 && ds[i].State == queue.DeliveryDone && erasedNeeded(dest, b) == nil
}

// ErrPersonalErased: the bill's personal fields, which its 医保 rows
// carry, were erased once it was delivered; it cannot be rebuilt here.
var ErrPersonalErased = errors.New("personal data erased")

// erasedNeeded refuses a 医保 resend of a bill whose personal fields were
// erased after delivery (the privacy rule): its 3505 rows cannot be built
// again, and the back end's attrs are locked once sent.
func erasedNeeded(dest string, b queue.Bill) error {
	if dest == nhsa.DefaultName && !b.PersonalErased.IsZero() {
		return fmt.Errorf("%w: bill %s: 医保 needs its personal fields (psn_no, psn_name …), erased on this device once it was delivered; record the sale again at the POS",
			ErrPersonalErased, b.Code)
	}
	return nil
}

// ResendFinding queues the bill of a finding again for its back end, with
// the destination's resend progress (same bill codes for 码上放心, same
// row keys under a new msgid for 医保), and returns the bill code.
func (a *Agent) ResendFinding(ctx context.Context, id string) (string, error) {
	s, n, ok := strings.Cut(id, "-")
	seq, err1 := strconv.ParseUint(s, 10, 64)
	idx, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || idx < 1 {
		return "", fmt.Errorf("%w: finding id %q: want RUN-N", ErrBadRequest, id)
	}
	runs, err := a.store.ReconcileRuns(0)
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(runs, func(r queue.ReconcileRun) bool { return r.Seq == seq })
	if i < 0 || idx > len(runs[i].Findings) {
		return "", fmt.Errorf("%w: finding %s", queue.ErrNotFound, id)
	}
	run, f := runs[i], runs[i].Findings[idx-1]
	if (f.Kind != reconcile.Missing && f.Kind != reconcile.CodesDiffer) || f.Bill == "" {
		return "", fmt.Errorf("%w: finding %s is %s: only a bill of this device can be sent again", ErrBadRequest, id, f.Kind)
	}
	b, err := a.store.BillByCode(f.Bill)
	if err != nil {
		return "", err
	}
	ds, err := a.store.Deliveries(b.ID)
	if err != nil {
		return "", err
	}
	j := slices.IndexFunc(ds, func(d queue.Delivery) bool { return d.Dest == run.Dest })
	if j < 0 {
		return "", fmt.Errorf("%w: bill %s has no delivery to %s", queue.ErrNotFound, b.Code, run.Dest)
	}
	if err := erasedNeeded(run.Dest, b); err != nil {
		return "", err
	}
	var progress string
	switch run.Dest {
	case "msfx":
		progress, err = msfx.ResendProgress(ds[j].Progress)
	case nhsa.DefaultName:
		progress, err = nhsa.ResendProgress(ds[j].Progress)
	default:
		err = fmt.Errorf("%w: no resend for %s", ErrBadRequest, run.Dest)
	}
	if err != nil {
		return "", fmt.Errorf("bill %s: %w", b.Code, err)
	}
	why := fmt.Sprintf("reconciliation #%d found it %s (%s)", run.Seq, strings.ReplaceAll(f.Kind, "_", " "), f.Row)
	if err := a.store.Resend(ctx, b.ID, run.Dest, progress, why); err != nil {
		return "", err
	}
	a.publish(Event{Kind: "delivery", Bill: b.Code, Dest: run.Dest, Status: "resend", Message: why})
	return b.Code, nil
}

// ReconcileSummary is the compliance view's reconciliation section.
type ReconcileSummary struct {
	Enabled bool `json:"enabled"`
	// Last is each back end's latest run time and counts.
	Last map[string]ReconcileLast `json:"last"`
	// Findings are the latest runs' differences.
	Findings []ReconcileFinding          `json:"findings"`
	Failures map[string]ReconcileFailure `json:"failures,omitempty"`
}

// ReconcileLast sums up a back end's latest run.
type ReconcileLast struct {
	Run      uint64    `json:"run"`
	At       time.Time `json:"at"`
	Bills    int       `json:"bills"`
	Findings int       `json:"findings"`
}

// reconcileLasts sums up each back end's latest kept run (nil: none).
func reconcileLasts(store *queue.Store) (map[string]ReconcileLast, error) {
	runs, err := store.ReconcileRuns(0)
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	out := map[string]ReconcileLast{}
	for _, r := range runs {
		if _, ok := out[r.Dest]; !ok {
			out[r.Dest] = ReconcileLast{Run: r.Seq, At: r.At, Bills: r.Bills, Findings: len(r.Findings)}
		}
	}
	return out, nil
}

// ReconcileStatusLine is the status line of the latest reconciliations,
// "" when none ran.
func ReconcileStatusLine(last map[string]ReconcileLast, now time.Time) string {
	var parts []string
	for _, dest := range slices.Sorted(maps.Keys(last)) {
		l := last[dest]
		v := fmt.Sprintf("%s #%d %s: %d bill(s), ", DestLabel(dest), l.Run, Clock(l.At, now), l.Bills)
		if l.Findings == 0 {
			v += "as sent"
		} else {
			v += fmt.Sprintf("%d DIFFERENCE(S) (pda-agent reconcile, /v1/compliance)", l.Findings)
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, "; ")
}

// reconcileSummary builds the compliance section.
func (a *Agent) reconcileSummary() (ReconcileSummary, error) {
	v, err := a.Reconciliation(0)
	if err != nil {
		return ReconcileSummary{}, err
	}
	s := ReconcileSummary{Enabled: v.Enabled, Last: map[string]ReconcileLast{}, Findings: v.Open, Failures: v.Failures}
	for _, r := range v.Runs {
		if _, ok := s.Last[r.Dest]; !ok {
			s.Last[r.Dest] = ReconcileLast{Run: r.Seq, At: r.At, Bills: r.Bills, Findings: len(r.Findings)}
		}
	}
	return s, nil
}

// readReconcile adds the findings of each back end's latest run that name
// the code (as scanned or by its key) to a diagnosis.
func (d *Diagnosis) readReconcile(store *queue.Store, code, key string) error {
	runs, err := store.ReconcileRuns(0)
	if err != nil {
		return fmt.Errorf("agent: diagnose: reconciliations: %w", err)
	}
	seen := map[string]bool{}
	names := func(list []string) bool {
		return slices.Contains(list, code) || (key != "" && slices.Contains(list, key))
	}
	for _, r := range runs {
		if seen[r.Dest] {
			continue
		}
		seen[r.Dest] = true
		for _, f := range r.Findings {
			if names(f.Local) || names(f.Platform) {
				f.Detail = r.Dest + " reconciliation #" + strconv.FormatUint(r.Seq, 10) + ": " + f.Detail
				d.Reconcile = append(d.Reconcile, f)
			}
		}
	}
	return nil
}
