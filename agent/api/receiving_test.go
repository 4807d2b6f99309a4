package api

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

func TestReceivingAgainstSandbox(t *testing.T) {
	e := start(t, envOpts{msfx: true})

	// One scanned box finds the supplier's bill.
	var refs []agent.UpstreamRef
	e.ok("GET", "/v1/upstream?code="+sandbox.DefaultBoxCode, nil, &refs)
	if len(refs) != 1 {
		t.Fatalf("upstream %+v", refs)
	}
	ref := refs[0]
	if ref.BillCode != sandbox.DefaultUpBill1 || ref.BillType != 201 || ref.FromEntID != sandbox.DefaultSupplierEntID ||
		ref.FromRef != sandbox.DefaultSupplierRefEntID || ref.FromName != sandbox.DefaultSupplierName || ref.Rejected || ref.BillTime == "" {
		t.Fatalf("upstream ref %+v", ref)
	}
	e.ok("GET", "/v1/upstream?code="+sandbox.MakeCode(sandbox.ProductLicorice, 777777), nil, &refs)
	if refs == nil || len(refs) != 0 {
		t.Fatalf("a box on no bill: %+v", refs)
	}
	e.fails("GET", "/v1/upstream?code="+url.QueryEscape(barcode), nil, 400, "bad_request")

	// Start receiving: the bill's packs are expected, the case as its boxes.
	var v agent.SessionView
	e.ok("POST", "/v1/receivings", map[string]any{"session": "dock", "upstream": []agent.UpstreamRef{ref}}, &v)
	x := v.Expected
	if v.Bill == nil || v.Bill.Type != 102 || v.Bill.Partner != sandbox.DefaultSupplierEntID || x == nil {
		t.Fatalf("receiving view %+v", v)
	}
	if !slices.Equal(x.Upstream, []string{sandbox.DefaultUpBill1}) || x.Expected != 18 || x.Scanned != 0 || len(x.Missing) != 18 || x.Complete {
		t.Fatalf("expected %+v", x)
	}
	boxes := 0
	for _, m := range x.Missing {
		if m.Parent == sandbox.DefaultCaseCode {
			boxes++
		}
		if m.Lot == "" || m.Upstream != sandbox.DefaultUpBill1 || m.Special {
			t.Fatalf("expected pack %+v", m)
		}
	}
	if boxes != 10 {
		t.Fatalf("%d boxes of the case expected, want 10", boxes)
	}

	// Scans: two expected boxes, one pack not on the bill; the case after
	// one of its boxes is refused.
	e.scan("dock", sandbox.DefaultBoxCode, "accepted")
	e.scan("dock", sandbox.DefaultCaseChild, "accepted")
	e.scan("dock", codeB, "accepted")
	if a := e.scan("dock", sandbox.DefaultCaseCode, "rejected"); a.Reason != "parent_child" {
		t.Fatalf("case after its box: %+v", a)
	}
	e.ok("GET", "/v1/sessions/dock", nil, &v)
	x = v.Expected
	if x.Scanned != 2 || len(x.Missing) != 16 || len(x.Extra) != 1 || x.Extra[0].Code != codeB || len(x.WrongLot) != 0 || x.Complete {
		t.Fatalf("after scans %+v", x)
	}
	for _, it := range v.Items {
		if it.Code == sandbox.DefaultBoxCode && it.Lot == "" {
			t.Fatalf("the supplier's lot was not taken: %+v", it)
		}
	}

	// Confirm-all adds the rest.
	var res agent.ConfirmResult
	e.ok("POST", "/v1/sessions/dock/confirm-all", nil, &res)
	if res.Added != 16 || len(res.MustScan) != 0 || len(res.Refused) != 0 {
		t.Fatalf("confirm-all %+v", res)
	}
	x = res.SessionView.Expected
	if x == nil || x.Scanned != 18 || len(x.Missing) != 0 || len(x.Extra) != 1 || x.Complete {
		t.Fatalf("after confirm-all %+v", x)
	}
	var b queue.Bill
	e.ok("POST", "/v1/sessions/dock/finish", nil, &b)
	if b.Items != 19 || !slices.Equal(b.Destinations, []string{"msfx"}) || b.Attrs["upstream"] != sandbox.DefaultUpBill1 {
		t.Fatalf("finished receiving %+v", b)
	}

	// 特药 must be scanned one by one: confirm-all leaves them.
	tramadol := sandbox.MakeCode(sandbox.ProductTramadol, 3001)
	e.ok("GET", "/v1/upstream?code="+tramadol, nil, &refs)
	if len(refs) != 1 || refs[0].BillCode != sandbox.DefaultUpBill2 {
		t.Fatalf("tramadol upstream %+v", refs)
	}
	e.ok("POST", "/v1/receivings", map[string]any{"session": "dock2", "upstream": refs}, &v)
	e.ok("POST", "/v1/sessions/dock2/confirm-all", nil, &res)
	if len(res.MustScan) != 2 || !res.MustScan[0].Special || res.Added+len(res.Refused) != v.Expected.Expected-2 || res.Added < 20 {
		t.Fatalf("confirm-all with 特药: added %d, must scan %+v, refused %+v of %d", res.Added, res.MustScan, res.Refused, v.Expected.Expected)
	}
	e.scan("dock2", tramadol, "accepted")
	e.ok("GET", "/v1/sessions/dock2", nil, &v)
	if len(v.Expected.Missing) != 1+len(res.Refused) {
		t.Fatalf("after scanning one 特药: %+v", v.Expected.Missing)
	}
	e.ok("POST", "/v1/sessions/dock2/cancel", nil, nil)

	// A bill the platform does not know for this store.
	e.fails("POST", "/v1/receivings", map[string]any{"session": "dock3", "upstream": []map[string]any{{"bill_code": "XSCK9999999",
		"from_ref_user_id": sandbox.DefaultSupplierRefEntID, "from_user_id": sandbox.DefaultSupplierEntID}}}, 400, "bad_request")
	// Bills of two suppliers cannot be merged.
	e.fails("POST", "/v1/receivings", map[string]any{"session": "dock3", "upstream": []map[string]any{
		{"bill_code": sandbox.DefaultUpBill2, "from_ref_user_id": sandbox.DefaultSupplierRefEntID, "from_user_id": sandbox.DefaultSupplierEntID},
		{"bill_code": sandbox.DefaultUpBill3, "from_ref_user_id": sandbox.DefaultWarehouseRefEntID, "from_user_id": sandbox.DefaultWarehouseEntID},
	}}, 400, "bad_request")
	if v, _ := e.agent.Session("dock3"); v.Bill != nil {
		t.Fatal("a refused receiving opened a bill")
	}

	// Rejecting a supplier's bill, and undoing it.
	var st queue.UpstreamState
	e.ok("POST", "/v1/upstream/"+sandbox.DefaultUpBill3+"/reject", map[string]string{"reason": "外箱破损"}, &st)
	if st.BillCode != sandbox.DefaultUpBill3 || !st.Rejected || st.Reason != "外箱破损" || len(st.History) != 1 || st.At.IsZero() {
		t.Fatalf("reject %+v", st)
	}
	e.ok("GET", "/v1/upstream?code="+sandbox.MakeCode(sandbox.ProductLicorice, 4001), nil, &refs)
	if len(refs) != 1 || !refs[0].Rejected {
		t.Fatalf("rejected bill %+v", refs)
	}
	var comp agent.Compliance
	e.ok("GET", "/v1/compliance", nil, &comp)
	checkUnreceived(t, comp, sandbox.DefaultUpBill2)
	e.ok("DELETE", "/v1/upstream/"+sandbox.DefaultUpBill3+"/reject", nil, &st)
	if st.Rejected || len(st.History) != 2 {
		t.Fatalf("undo %+v", st)
	}
	e.ok("GET", "/v1/compliance", nil, &comp)
	checkUnreceived(t, comp, sandbox.DefaultUpBill3+","+sandbox.DefaultUpBill2)

	// The finished receiving reaches the platform.
	var bv agent.BillView
	eventually(t, 20*time.Second, "the receiving's delivery", func() bool {
		e.ok("GET", "/v1/bills/"+b.Code, nil, &bv)
		return len(bv.Deliveries) == 1 && bv.Deliveries[0].State == queue.DeliveryDone
	})
	if got, ok := e.gw.Bill(sandbox.DefaultStoreRefEntID, b.Code); !ok || len(got.Codes) != 19 || got.Applied != 1 {
		t.Fatalf("the platform has %+v", got)
	}
}

// checkUnreceived checks the supplier bills the compliance view lists as
// neither received nor rejected.
func checkUnreceived(t *testing.T, c agent.Compliance, want string) {
	t.Helper()
	if c.UpstreamError != "" {
		t.Fatalf("compliance: %s", c.UpstreamError)
	}
	var codes []string
	for _, r := range c.UnreceivedUpstream {
		codes = append(codes, r.BillCode)
	}
	slices.Sort(codes)
	if got := strings.Join(codes, ","); got != want {
		t.Fatalf("unreceived supplier bills %s, want %s", got, want)
	}
}

func TestDeadLetters(t *testing.T) {
	e := start(t, envOpts{msfx: true})
	// A purchase from an enterprise the platform does not know is refused
	// for good: a dead letter.
	var b queue.Bill
	e.ok("POST", "/v1/bills", map[string]any{"kind": "receive", "partner": "0123456789abcdef0123456789abcdef",
		"lines": []map[string]any{{"code": codeA}}}, &b)
	dead := func() []queue.DeadLetter {
		var dl []queue.DeadLetter
		e.ok("GET", "/v1/deadletters", nil, &dl)
		return dl
	}
	eventually(t, 20*time.Second, "a dead letter", func() bool { return len(dead()) == 1 })
	dl := dead()[0]
	if dl.BillCode != b.Code || dl.Dest != "msfx" || dl.Reason == "" || dl.Attempts < 1 || dl.BillType != 102 {
		t.Fatalf("dead letter %+v", dl)
	}
	var st agent.Status
	e.ok("GET", "/v1/status", nil, &st)
	if st.Destinations["msfx"].Dead != 1 || st.Health != "degraded" {
		t.Fatalf("status %+v", st)
	}

	if status, data := e.call("POST", "/v1/deadletters/"+b.Code+"/msfx/retry", nil); status != 204 || len(data) != 0 {
		t.Fatalf("retry: %d %s", status, data)
	}
	// The platform refuses it again.
	eventually(t, 20*time.Second, "the retried bill dead again", func() bool {
		d := dead()
		return len(d) == 1 && d[0].Attempts > dl.Attempts
	})
	e.fails("POST", "/v1/deadletters/"+b.Code+"/webhook/retry", nil, 404, "not_found")
	if status, data := e.call("POST", "/v1/deadletters/"+b.Code+"/msfx/drop", map[string]any{"reason": "partner unknown to 码上放心", "confirm": true}); status != 204 {
		t.Fatalf("drop: %d %s", status, data)
	}
	if d := dead(); len(d) != 0 {
		t.Fatalf("dropped letter still listed: %+v", d)
	}
	var bv agent.BillView
	e.ok("GET", "/v1/bills/"+b.Code, nil, &bv)
	if bv.Deliveries[0].State != queue.DeliveryDropped {
		t.Fatalf("delivery %+v", bv.Deliveries[0])
	}
}
