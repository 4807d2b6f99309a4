package api

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// cst is the store's zone (UTC+8), the day of a receipt.
var cst = time.FixedZone("CST", 8*3600)

// nhsaSaleAttrs are what a 医保 sale's finish carries (the 3505's required
// data from the POS), with the POS's receipt number.
func nhsaSaleAttrs(mdtrt, receipt string) map[string]string {
	return map[string]string{"nhsa.mdtrt_sn": mdtrt, "nhsa.setl_id": "SE-" + mdtrt, "nhsa.prsc_dr_name": "王医生",
		"nhsa.hi_feesetl_type": "1", "nhsa.psn_cert_type": "01", "nhsa.rx_circ_flag": "0", "nhsa.rtal_docno": receipt}
}

// sellNHSA sells codes in a 医保 sale on e's till and waits until 医保 has it.
func sellNHSA(t *testing.T, e *testEnv, mdtrt, receipt string, codes ...string) queue.Bill {
	t.Helper()
	e.ok("POST", "/v1/sessions", map[string]string{"session": "till", "kind": "sale"}, nil)
	e.scan("till", "PDA:LOT:L2501:2025-05-01:2027-04-30", "command")
	for _, c := range codes {
		e.scan("till", c, "accepted")
	}
	var b queue.Bill
	e.ok("POST", "/v1/sessions/till/finish", map[string]any{"attrs": nhsaSaleAttrs(mdtrt, receipt)}, &b)
	waitNHSADone(t, e, b.Code)
	return b
}

func waitNHSADone(t *testing.T, e *testEnv, code string) {
	t.Helper()
	eventually(t, 20*time.Second, "bill "+code+" at 医保", func() bool { return e.nhsaDelivery(code).State == queue.DeliveryDone })
}

// rowsOf are the sandbox's accepted rows of one interface.
func rowsOf(nh *nhsasb.Running, infno string) []nhsasb.Row {
	var out []nhsasb.Row
	for _, r := range nh.Rows() {
		if r.Infno == infno && !r.Deleted {
			out = append(out, r)
		}
	}
	return out
}

// TestReturnNeedsSaleOrOriginal is issue 13's return rule through the API
// of real agents against the 医保 sandbox: a return of a pack this device
// never sold is refused (not_sold_here) and nothing reaches 医保; naming
// the original sale — a bill of another till of the store, a receipt of
// this device's sale, or a PDA:RETURN:<bill_code> card — the return is
// accepted and its 3506 names that sale's row, which the sandbox checks
// holds the returned code.
func TestReturnNeedsSaleOrOriginal(t *testing.T) {
	o := nhsasb.TestOptions(nhsasb.SchemeNone, nhsasb.EnvelopePlain)
	o.Logger = quiet
	nh, err := nhsasb.Start("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nh.Close() })
	till1 := startWithNHSA(t, nh)
	till2 := startWithNHSA(t, nh, "PDA_DEVICE_ID=T2")

	// Till 2 sells codeA; the customer brings it back to till 1.
	sale2 := sellNHSA(t, till2, "MD-2", "R-20", codeA)
	if !strings.HasPrefix(sale2.Code, "T2-") {
		t.Fatalf("till 2's bill %s", sale2.Code)
	}

	// Without naming the sale: refused, with the reason the POS reads.
	till1.ok("POST", "/v1/sessions", map[string]string{"session": "till", "kind": "return"}, nil)
	ans := till1.scan("till", codeA, "rejected")
	if ans.Reason != "not_sold_here" || !strings.Contains(ans.Message, codeA) {
		t.Fatalf("return of a pack never sold here: %+v", ans)
	}
	till1.ok("POST", "/v1/sessions/till/cancel", nil, nil)

	// A bad original is a 400 and opens nothing.
	till1.fails("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale", "original": map[string]string{"bill_code": sale2.Code}}, 400, "bad_request")
	till1.fails("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "return", "original": map[string]string{"receipt_no": "R-20"}}, 400, "bad_request")
	till1.fails("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "return", "attrs": map[string]string{"original.bill_code": sale2.Code}}, 400, "bad_request")
	var idle agent.SessionView
	till1.ok("GET", "/v1/sessions/till", nil, &idle)
	if idle.Bill != nil {
		t.Fatalf("a refused open left a bill: %+v", idle.Bill)
	}

	// Naming till 2's sale: accepted, carried as the item's reference.
	var opened struct{ Bill queue.Bill }
	till1.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "return", "original": map[string]string{"bill_code": sale2.Code}}, &opened)
	if opened.Bill.Attrs[queue.AttrOriginalBill] != sale2.Code {
		t.Fatalf("open answer %+v", opened.Bill)
	}
	// This device never received the box: its lot comes from a lot card
	// (the finish answer would name it otherwise).
	till1.scan("till", "PDA:LOT:L2501:2025-05-01:2027-04-30", "command")
	till1.scan("till", codeA, "accepted")
	var ret struct {
		queue.Bill
		Outlook []agent.DestOutlook `json:"outlook"`
	}
	till1.ok("POST", "/v1/sessions/till/finish", map[string]any{"attrs": map[string]string{"nhsa.mdtrt_sn": "MD-2"}}, &ret)
	if len(ret.Outlook) != 1 || ret.Outlook[0].Will != agent.WillSend {
		t.Fatalf("finish outlook %+v", ret.Outlook)
	}
	var rv agent.BillView
	till1.ok("GET", "/v1/bills/"+ret.Code, nil, &rv)
	if len(rv.Items) != 1 || rv.Items[0].Ref != sale2.Code {
		t.Fatalf("return items %+v", rv.Items)
	}
	waitNHSADone(t, till1, ret.Code)
	sales, returns := rowsOf(nh, "3505"), rowsOf(nh, "3506")
	if len(sales) != 1 || len(returns) != 1 {
		t.Fatalf("医保 rows: %d sales, %d returns: %+v", len(sales), len(returns), nh.Rows())
	}
	if returns[0].RefNo != sales[0].Bchno || !slices.Equal(returns[0].Codes, []string{codeA}) {
		t.Fatalf("the 3506 %+v does not name the sale row %s", returns[0], sales[0].Bchno)
	}

	// A receipt of a sale on neither device (e.g. before the agent): taken,
	// and the finish names what 医保 needs that this device cannot know.
	opened.Bill = queue.Bill{}
	till1.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "return", "original": map[string]string{"receipt_no": "R-OLD", "date": "2025-12-01"}}, &opened)
	if opened.Bill.Attrs[queue.AttrOriginalBill] != "" || opened.Bill.Attrs[queue.AttrOriginalReceipt] != "R-OLD" {
		t.Fatalf("open answer %+v", opened.Bill.Attrs)
	}
	till1.scan("till", "PDA:LOT:L2501:2025-05-01:2027-04-30", "command")
	till1.scan("till", codeB, "accepted")
	till1.ok("POST", "/v1/sessions/till/finish", map[string]any{"attrs": map[string]string{"nhsa.mdtrt_sn": "MD-OLD"}}, &ret)
	if len(ret.Outlook) != 1 || ret.Outlook[0].Will != agent.WillHold || !slices.Contains(fields(ret.Outlook[0].Missing), "medins_prod_sel_no") {
		t.Fatalf("finish outlook of a return naming an unknown receipt: %+v", ret.Outlook)
	}
	for _, m := range ret.Outlook[0].Missing {
		if m.Field == "medins_prod_sel_no" && (m.Source != "attr nhsa.medins_prod_sel_no" || !strings.Contains(m.Detail, "R-OLD")) {
			t.Errorf("missing %+v: should name the attr and the receipt", m)
		}
	}

	// On till 1: a sale with a receipt number; its return named by receipt
	// and day resolves to the sale; a pack not on it is refused.
	sale1 := sellNHSA(t, till1, "MD-1", "R-10", codeC)
	day := sale1.FinishedAt.In(cst).Format(time.DateOnly)
	opened.Bill = queue.Bill{}
	till1.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "return", "original": map[string]string{"receipt_no": "R-10", "date": day}}, &opened)
	if opened.Bill.Attrs[queue.AttrOriginalBill] != sale1.Code {
		t.Fatalf("receipt R-10 of %s resolved to %q", day, opened.Bill.Attrs[queue.AttrOriginalBill])
	}
	if ans := till1.scan("till", codeB, "rejected"); ans.Reason != "not_on_original" {
		t.Fatalf("a pack not on the original: %+v", ans)
	}
	till1.scan("till", codeC, "accepted")
	till1.ok("POST", "/v1/sessions/till/finish", map[string]any{"attrs": map[string]string{"nhsa.mdtrt_sn": "MD-1"}}, &ret)
	waitNHSADone(t, till1, ret.Code)
	if returns := rowsOf(nh, "3506"); len(returns) != 2 || returns[1].RefNo != rowsOf(nh, "3505")[1].Bchno {
		t.Fatalf("the 3506 of the receipt's return: %+v", nh.Rows())
	}

	// The scanner card: sold again on till 1, returned with PDA:RETURN:<bill_code>.
	sale3 := sellNHSA(t, till1, "MD-3", "R-11", codeC)
	till1.scan("till", "PDA:RETURN:"+sale3.Code, "command")
	if ans := till1.scan("till", codeA, "rejected"); ans.Reason != "not_on_original" {
		t.Fatalf("card return, pack not on the sale: %+v", ans)
	}
	till1.scan("till", codeC, "accepted")
	till1.ok("POST", "/v1/sessions/till/finish", map[string]any{"attrs": map[string]string{"nhsa.mdtrt_sn": "MD-3"}}, &ret)
	waitNHSADone(t, till1, ret.Code)
	if returns := rowsOf(nh, "3506"); len(returns) != 3 || returns[2].RefNo != rowsOf(nh, "3505")[2].Bchno {
		t.Fatalf("the 3506 of the card's return: %+v", nh.Rows())
	}
	// The original is fixed: a PATCH of it is refused.
	till1.fails("PATCH", "/v1/bills/"+ret.Code+"/attrs", map[string]any{queue.AttrOriginalBill: sale1.Code}, 400, "bad_request")

	// A whole return from the ERP: the same rule, all or nothing.
	const fresh = "83933310000001111111" // never on this device
	status, data := till1.call("POST", "/v1/bills", map[string]any{"kind": "return", "lines": []map[string]string{{"code": fresh}}})
	if status != 422 || !strings.Contains(string(data), `"reason":"not_sold_here"`) {
		t.Errorf("ERP return of a box never sold here: %d %s", status, data)
	}
	status, data = till1.call("POST", "/v1/bills", map[string]any{"kind": "return", "original": map[string]string{"bill_code": "T2-261201-00009"},
		"attrs": map[string]string{"nhsa.mdtrt_sn": "MD-9", "nhsa.medins_prod_sel_no": "T2261201000090"}, "lines": []map[string]string{{"code": fresh}}})
	if status != 201 || !strings.Contains(string(data), `"original.bill_code":"T2-261201-00009"`) {
		t.Fatalf("ERP return naming another till's sale: %d %s", status, data)
	}

	// Two sales here with one receipt number on one day: the receipt does
	// not say which; the bill code must.
	var days []string
	for _, c := range []string{fresh, "83933310000002222222"} {
		till1.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale", "attrs": map[string]string{"nhsa.rtal_docno": "R-DUP"}}, nil)
		till1.scan("till", c, "accepted")
		var b queue.Bill
		till1.ok("POST", "/v1/sessions/till/finish", nil, &b)
		days = append(days, b.FinishedAt.In(cst).Format(time.DateOnly))
	}
	if days[0] == days[1] { // not across the store's midnight
		eb := till1.fails("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "return", "original": map[string]string{"receipt_no": "R-DUP", "date": days[0]}}, 400, "bad_request")
		if !strings.Contains(eb.Message, "name the bill_code") {
			t.Errorf("ambiguous receipt: %+v", eb)
		}
	}

	for _, r := range nh.Rows() {
		if r.Applied != 1 {
			t.Errorf("row %s applied %d times", r.Bchno, r.Applied)
		}
	}
}
