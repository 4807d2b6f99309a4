package api

import (
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// TestReconcileEndpoints: without a back end there is nothing to run; with
// 码上放心, a bill the platform lost is found, resent once (a second resend
// of the same finding is refused while it is queued) and found present by
// the next run.
func TestReconcileEndpoints(t *testing.T) {
	bare := start(t, envOpts{})
	bare.fails("POST", "/v1/reconcile", nil, 400, "bad_request")
	var empty agent.ReconcileView
	bare.ok("GET", "/v1/reconcile", nil, &empty)
	if empty.Enabled || len(empty.Runs) != 0 || empty.Open == nil {
		t.Errorf("view without runs: %+v", empty)
	}
	bare.stop()

	e := start(t, envOpts{msfx: true, env: []string{"PDA_RECONCILE_RATE=10"}})
	e.fails("POST", "/v1/reconcile", map[string]string{"since": "7 Dec"}, 400, "bad_request")
	e.fails("GET", "/v1/reconcile?limit=0", nil, 400, "bad_request")
	e.fails("POST", "/v1/reconcile/findings/x/resend", nil, 400, "bad_request")
	e.fails("POST", "/v1/reconcile/findings/99-1/resend", nil, 404, "not_found")

	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale"}, nil)
	e.scan("till1", codeA, "accepted")
	var sale queue.Bill
	e.ok("POST", "/v1/sessions/till1/finish", map[string]any{}, &sale)
	delivered := func() bool {
		var bv agent.BillView
		e.ok("GET", "/v1/bills/"+sale.Code, nil, &bv)
		return len(bv.Deliveries) == 1 && bv.Deliveries[0].State == queue.DeliveryDone
	}
	eventually(t, 20*time.Second, "the sale delivered", delivered)
	if !e.gw.LoseBill(sandbox.DefaultStoreRefEntID, sale.Code) {
		t.Fatal("LoseBill")
	}

	run := func() agent.ReconcileView {
		var before agent.ReconcileView
		e.ok("GET", "/v1/reconcile", nil, &before)
		if st, _ := e.call("POST", "/v1/reconcile", map[string]string{"since": time.Now().Format(time.DateOnly)}); st != 202 {
			t.Fatalf("POST /v1/reconcile: %d", st)
		}
		var v agent.ReconcileView
		eventually(t, 20*time.Second, "a reconciliation", func() bool {
			e.ok("GET", "/v1/reconcile", nil, &v)
			return !v.Running && len(v.Runs) > len(before.Runs)
		})
		if len(v.Failures) > 0 {
			t.Fatalf("failures %+v", v.Failures)
		}
		return v
	}
	v := run()
	if len(v.Open) != 1 || v.Open[0].Kind != "missing_on_platform" || v.Open[0].Bill != sale.Code || !v.Open[0].Resendable {
		t.Fatalf("open %+v", v.Open)
	}
	var comp agent.Compliance
	e.ok("GET", "/v1/compliance", nil, &comp)
	if len(comp.Reconcile.Findings) != 1 || comp.Reconcile.Last["msfx"].Findings != 1 {
		t.Errorf("compliance %+v", comp.Reconcile)
	}
	id := v.Open[0].ID
	if st, _ := e.call("POST", "/v1/reconcile/findings/"+id+"/resend", nil); st != 202 {
		t.Fatalf("resend: %d", st)
	}
	// Until it is delivered again, the same finding cannot be resent.
	if st, _ := e.call("POST", "/v1/reconcile/findings/"+id+"/resend", nil); st != 409 && !delivered() {
		t.Errorf("second resend: %d", st)
	}
	eventually(t, 20*time.Second, "the resent sale delivered", delivered)
	if _, ok := e.gw.Bill(sandbox.DefaultStoreRefEntID, sale.Code); !ok {
		t.Fatal("not on 码上放心 after the resend")
	}
	if v = run(); len(v.Open) != 0 {
		t.Errorf("after the resend: %+v", v.Open)
	}
}
