package agent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReconcileSchedule: the daily run is due once a day inside the quiet
// hours (China time, on the agent's clock), and again 30 minutes after a
// failed try.
func TestReconcileSchedule(t *testing.T) {
	a := newTestAgent(t, "PDA_RECONCILE_ENABLED=true", "PDA_RECONCILE_QUIET_HOURS=01:00-05:00")
	cst := time.FixedZone("UTC+8", 8*3600)
	at := func(day, h, m int) time.Time { return time.Date(2026, 12, day, h, m, 0, 0, cst) }
	var clock time.Time
	a.now = func() time.Time { return clock }
	due := func(t0 time.Time) bool { clock = t0; return a.reconcileDue(t0) }

	if due(at(7, 0, 59)) || due(at(7, 5, 0)) || due(at(7, 13, 0)) {
		t.Error("due outside the quiet hours")
	}
	if !due(at(7, 1, 0)) {
		t.Fatal("not due inside the quiet hours")
	}
	// A failed try: not again for 30 minutes.
	a.recon.lastTry = at(7, 1, 0)
	if due(at(7, 1, 29)) || !due(at(7, 1, 30)) {
		t.Error("retry after a failure")
	}
	// Done today: not again until tomorrow's quiet hours.
	a.recon.lastDay = "2026-12-07"
	if due(at(7, 4, 0)) || !due(at(8, 1, 5)) {
		t.Error("once a day")
	}
	// The clock's zone does not matter.
	if !due(at(8, 2, 0).UTC()) {
		t.Error("UTC clock")
	}
	// Off: never.
	cfg := *a.config()
	cfg.Reconcile.Enabled = false
	a.live.Store(&live{cfg: &cfg, rules: a.live.Load().rules})
	if due(at(9, 2, 0)) {
		t.Error("due while disabled")
	}
}

// TestReconcileYieldsToChecks: a pack waiting for its online check comes
// before reconciliation; without any back end there is nothing to run.
func TestReconcileYieldsToChecks(t *testing.T) {
	a := newTestAgent(t)
	if a.reconcileYield() {
		t.Fatal("yields with nothing waiting")
	}
	a.online.mu.Lock()
	a.online.pending = append(a.online.pending, checkJob{})
	a.online.mu.Unlock()
	if !a.reconcileYield() {
		t.Error("does not yield to a waiting online check")
	}
	if err := a.RequestReconcile(ReconcileRequest{}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("run without back ends: %v", err)
	}
	v, err := a.Reconciliation(10)
	if err != nil || v.Enabled || len(v.Runs) != 0 || len(v.Open) != 0 {
		t.Errorf("view %+v %v", v, err)
	}
	if _, err := a.ResendFinding(t.Context(), "x"); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad id: %v", err)
	}
}

// TestReconcilePause: a scheduled run stops when the quiet hours end; a
// run asked for by hand does not; the rate spaces requests.
func TestReconcilePause(t *testing.T) {
	a := newTestAgent(t, "PDA_RECONCILE_QUIET_HOURS=01:00-05:00", "PDA_RECONCILE_RATE=5")
	cst := time.FixedZone("UTC+8", 8*3600)
	clock := time.Date(2026, 12, 7, 5, 1, 0, 0, cst)
	a.now = func() time.Time { return clock }
	cfg := a.config().Reconcile
	if err := a.reconcilePause(cfg, true)(t.Context()); err == nil || !strings.Contains(err.Error(), "quiet hours ended") {
		t.Errorf("scheduled after the quiet hours: %v", err)
	}
	manual := a.reconcilePause(cfg, false)
	start := time.Now()
	for range 3 {
		if err := manual(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// 5 per second: the second and third wait 200 ms each.
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Errorf("3 requests at 5/s took %s", d)
	}
	clock = time.Date(2026, 12, 7, 4, 59, 0, 0, cst)
	if err := a.reconcilePause(cfg, true)(t.Context()); err != nil {
		t.Errorf("scheduled inside the quiet hours: %v", err)
	}
}
