package main

import (
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// TestReconcileInTheRunningAgent: three 医保 sales reach both sandboxes
// through a running agent; behind its back each sandbox loses one bill,
// changes a code of another and gains a bill no device of the store made.
// POST /v1/reconcile finds the three on each platform (also on the
// compliance view and in diagnose); the one-click resend of the bill
// 码上放心 lost puts it back, and the next reconciliation finds it there.
// `pda-agent reconcile` against the running agent goes through its API.
func TestReconcileInTheRunningAgent(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	gw, err := msfxsb.Start("127.0.0.1:0", msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: quiet, ProcessAfter: msfxsb.ProcessAtOnce})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	no := nhsasb.TestOptions(nhsasb.SchemeNone, nhsasb.EnvelopePlain)
	no.Logger = quiet
	nh := nhsasb.New(no)
	nhURL := serveLoopback(t, nh) + nhsasb.DefaultPath

	dir := t.TempDir()
	writeFile(t, dir, "products.csv", storeProducts)
	writeFile(t, dir, "partners.csv", "ent_id,name,license_no\n"+msfxsb.DefaultSupplierEntID+","+msfxsb.DefaultSupplierName+",苏AA0250001\n")
	port := freePort(t)
	cfg := fmt.Sprintf(storeConfig, dir, port, gw.URL(), nhURL) + "  query: {trace: \"3513\"}\n" +
		"reconcile: {enabled: false, quiet_hours: \"01:00-05:00\", lookback: 48h, rate: 10}\n"
	config := writeFile(t, dir, "config.yaml", cfg)
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	defer func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}()
	c := waitAPI(t, dir, port, &stderr)

	code := func(n int) string { return msfxsb.MakeCode(msfxsb.ProductAmoxicillin, 880000+n) }
	var sales []queue.Bill
	for i, codes := range [][]string{{code(1)}, {code(2), code(3)}, {code(4)}} {
		c.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, nil)
		// 医保 rows need the lot (a sale of packs never received here).
		c.scan("till", "PDA:LOT:B0001:2025-06-01:2027-05-31", "command")
		for _, cd := range codes {
			c.scan("till", cd, "accepted")
		}
		var sale queue.Bill
		c.ok("POST", "/v1/sessions/till/finish", map[string]any{"attrs": insured(i)}, &sale)
		sales = append(sales, sale)
	}
	waitNothingPending(t, c, &stderr)
	rows := nh.Rows()
	if len(rows) != 3 || len(gw.Bills(msfxsb.DefaultStoreRefEntID)) != 3 {
		t.Fatalf("医保 rows %+v, 码上放心 bills %d", rows, len(gw.Bills(msfxsb.DefaultStoreRefEntID)))
	}

	// Behind the agent's back.
	ref := msfxsb.DefaultStoreRefEntID
	if !gw.LoseBill(ref, sales[0].Code) || !gw.ChangeCode(ref, sales[1].Code, code(3), code(9)) {
		t.Fatal("码上放心 sandbox hooks")
	}
	if err := gw.AddForeignBill(ref, "TILL2-0001", 321, time.Now(), code(8)); err != nil {
		t.Fatal(err)
	}
	if !nh.LoseRow(rows[0].Bchno) || !nh.ChangeCode(rows[1].Bchno, code(3), code(9)) ||
		!nh.AddForeignSale(nhsasb.TestFixmedinsCode, "OTHERTILL01", "XJ01", code(8)) {
		t.Fatal("医保 sandbox hooks")
	}

	view := reconcileNow(t, c, &stderr, 0)
	type key struct{ dest, kind, bill string }
	found := map[key]agent.ReconcileFinding{}
	for _, f := range view.Open {
		found[key{f.Dest, f.Kind, f.Bill}] = f
	}
	want := []key{
		{"msfx", "missing_on_platform", sales[0].Code}, {"msfx", "codes_differ", sales[1].Code}, {"msfx", "unknown_here", ""},
		{"nhsa", "missing_on_platform", sales[0].Code}, {"nhsa", "codes_differ", sales[1].Code}, {"nhsa", "unknown_here", ""},
	}
	for _, k := range want {
		if _, ok := found[k]; !ok {
			t.Errorf("no finding %+v in %+v", k, view.Open)
		}
	}
	if len(view.Open) != len(want) {
		t.Errorf("%d findings, want %d: %+v", len(view.Open), len(want), view.Open)
	}
	if f := found[key{"msfx", "unknown_here", ""}]; f.Row != "TILL2-0001" || f.Resendable {
		t.Errorf("foreign bill finding %+v", f)
	}
	if f := found[key{"nhsa", "unknown_here", ""}]; f.Row != "OTHERTILL01" {
		t.Errorf("foreign row finding %+v", f)
	}
	if f := found[key{"msfx", "codes_differ", sales[1].Code}]; !strings.Contains(f.Detail, code(9)) || !strings.Contains(f.Detail, code(3)) {
		t.Errorf("codes_differ detail %s", f.Detail)
	}

	// The compliance view and diagnose show them.
	var comp agent.Compliance
	c.ok("GET", "/v1/compliance", nil, &comp)
	if len(comp.Reconcile.Findings) != len(want) || comp.Reconcile.Last["msfx"].Bills != 3 || comp.Reconcile.Last["nhsa"].Bills != 3 {
		t.Errorf("compliance reconcile %+v", comp.Reconcile)
	}
	var diag agent.Diagnosis
	c.ok("GET", "/v1/diagnose?code="+code(9), nil, &diag)
	if len(diag.Reconcile) != 2 || !strings.Contains(diag.Verdict, "reconciliation") {
		t.Errorf("diagnose %s: %+v %s", code(9), diag.Reconcile, diag.Verdict)
	}

	// One click: 码上放心 gets the lost bill again under its own bill_code.
	lost := found[key{"msfx", "missing_on_platform", sales[0].Code}]
	if !lost.Resendable {
		t.Fatalf("lost bill not resendable: %+v", lost)
	}
	var res map[string]string
	if st := c.do("POST", "/v1/reconcile/findings/"+lost.ID+"/resend", nil, &res); st != 202 || res["bill"] != sales[0].Code {
		t.Fatalf("resend: %d %v", st, res)
	}
	if st := c.do("POST", "/v1/reconcile/findings/"+found[key{"msfx", "unknown_here", ""}].ID+"/resend", nil, nil); st != 400 {
		t.Errorf("resend of a foreign bill: %d", st)
	}
	// 医保's rows carry the buyer's personal fields, erased here once the
	// sale was delivered: that bill cannot be rebuilt on this device.
	nlost := found[key{"nhsa", "missing_on_platform", sales[0].Code}]
	if nlost.Resendable || c.do("POST", "/v1/reconcile/findings/"+nlost.ID+"/resend", nil, nil) != 409 {
		t.Errorf("医保 resend of an erased sale: %+v", nlost)
	}
	waitNothingPending(t, c, &stderr)
	if b, ok := gw.Bill(ref, sales[0].Code); !ok || len(b.Codes) != 1 || b.Codes[0] != code(1) {
		t.Fatalf("the resend did not reach 码上放心: %+v %v", b, ok)
	}

	view = reconcileNow(t, c, &stderr, view.Runs[0].Seq)
	var msfxKinds []string
	for _, f := range view.Open {
		if f.Dest == "msfx" {
			msfxKinds = append(msfxKinds, f.Kind+" "+f.Bill)
		}
	}
	if len(msfxKinds) != 2 || strings.Contains(strings.Join(msfxKinds, ","), "missing_on_platform") {
		t.Errorf("after the resend, 码上放心 findings %v", msfxKinds)
	}

	// The command goes through the running agent's API.
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly)
	out, errOut, exit := runBinary(t, nil, "", "reconcile", "--config", config, "--since", today, "--wait", "1m")
	if exit != 3 || !strings.Contains(out, "msfx reconciliation") || !strings.Contains(out, "nhsa reconciliation") ||
		!strings.Contains(out, "TILL2-0001") {
		t.Errorf("reconcile via the API: exit %d\n%s\n%s", exit, out, errOut)
	}
}

// insured are the 医保 attrs of sale i.
func insured(i int) map[string]string {
	return map[string]string{"nhsa.mdtrt_sn": fmt.Sprintf("MD-%d", i), "nhsa.setl_id": fmt.Sprintf("SE-%d", i), "nhsa.psn_no": "PSN001",
		"nhsa.psn_cert_type": "01", "nhsa.psn_name": "张三", "nhsa.hi_feesetl_type": "1", "nhsa.mdtrt_setl_type": "1",
		"nhsa.prsc_dr_name": "王医生", "nhsa.rx_circ_flag": "0"}
}

// waitNothingPending waits until no delivery is pending.
func waitNothingPending(t *testing.T, c *apiClient, stderr *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st agent.Status
		c.ok("GET", "/v1/status", nil, &st)
		busy, dead := 0, 0
		for _, d := range st.Destinations {
			busy += d.Pending
			dead += d.Dead
		}
		if dead > 0 {
			var dl []queue.DeadLetter
			c.ok("GET", "/v1/deadletters", nil, &dl)
			t.Fatalf("dead letters: %+v", dl)
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still pending: %+v\n%s", st.Destinations, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reconcileNow starts a reconciliation and waits for runs after seq.
func reconcileNow(t *testing.T, c *apiClient, stderr *lockedBuffer, after uint64) agent.ReconcileView {
	t.Helper()
	if st := c.do("POST", "/v1/reconcile", nil, nil); st != 202 {
		t.Fatalf("POST /v1/reconcile: %d", st)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var v agent.ReconcileView
		c.ok("GET", "/v1/reconcile", nil, &v)
		if len(v.Failures) > 0 {
			t.Fatalf("reconciliation failed: %+v", v.Failures)
		}
		n := 0
		for _, r := range v.Runs {
			if r.Seq > after {
				n++
			}
		}
		if !v.Running && n >= 2 {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconciliation: %+v\n%s", v, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
