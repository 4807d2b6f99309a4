package api

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/pinhash"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/receipt"
)

// Amoxicillin (by its 医保目录编码), ibuprofen (a key variety) and a
// product sold by the unit (拆零, 10 a pack). The 批准文号 are the 码上放心
// sandbox's: the online check compares them (other_product).
const linesProducts = `key,name,med_list_codg,hilist_id,hilist_name,rx_flag,aprvno,maker,spec,units,key_variety
8101235,阿莫西林胶囊,XJ01CAA040A001010100395,A0001,阿莫西林胶囊,1,国药准字H00000001,沙箱药业,0.25g*24粒,24,否
8393331,布洛芬缓释胶囊,XN02BAA057E001010104128,A0002,布洛芬缓释胶囊,0,国药准字H00000002,沙箱药业,0.3g*20粒,20,是
8111111,阿奇霉素片,XJ01FAA105A001010103711,A0003,阿奇霉素片,1,国药准字H20000001,沙箱药业,0.25g*10片,10,否
`

const (
	codeAzi   = "81111110000000000017" // the box the 拆零 units come from
	codeOther = "81234560000000000011" // a product on no line
	codeAmox3 = "81012350000000300002" // a third amoxicillin box
)

func startLines(t *testing.T) *testEnv {
	t.Helper()
	products := filepath.Join(t.TempDir(), "products.csv")
	if err := os.WriteFile(products, []byte(linesProducts), 0o600); err != nil {
		t.Fatal(err)
	}
	hash, err := pinhash.Hash("2468", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, envOpts{env: []string{"PDA_CATALOGUE_PRODUCTS=" + products, "PDA_SESSIONS_SUPERVISOR_PIN_HASH=" + hash}})
}

func TestSaleWithLinesNeedsEveryCodeOrAnException(t *testing.T) {
	e := startLines(t)
	var opened struct {
		Bill queue.Bill `json:"bill"`
	}
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale", "lines": []map[string]any{
		{"line": "1", "product": "XJ01CAA040A001010100395", "packs": 2},
		{"line": "2", "product": "8393331", "packs": 2},
		{"line": "3", "product": "8111111", "units": 6},
	}}, &opened)
	bill := opened.Bill.Code
	events, stop := e.agent.Subscribe()
	defer stop()
	if len(opened.Bill.Lines) != 3 || !slices.Equal(opened.Bill.Lines[0].Keys, []string{"8101235"}) || !opened.Bill.Lines[1].KeyVariety {
		t.Fatalf("opened: %+v", opened.Bill.Lines)
	}

	e.scan("till", codeA, "accepted")
	e.scan("till", codeC, "accepted")
	if a := e.scan("till", codeAmox3, "rejected"); a.Reason != "line_complete" {
		t.Fatalf("a third amoxicillin: %+v", a)
	}
	if a := e.scan("till", codeOther, "rejected"); a.Reason != "not_on_sale" {
		t.Fatalf("a product on no line: %+v", a)
	}
	e.scan("till", codeB, "accepted")
	e.scan("till", "PDA:SPLIT:6", "command")
	e.scan("till", codeAzi, "accepted")

	// Watchers (the clerk page's event stream) hear which line a pack went to.
	eventually(t, 5*time.Second, "the line event of the split pack", func() bool {
		for {
			select {
			case ev := <-events:
				if ev.Kind == "line" && ev.Code == codeAzi && ev.Line == "3" && ev.Message == "line 3: 6 of 6" {
					return true
				}
			default:
				return false
			}
		}
	})

	var v agent.SessionView
	e.ok("GET", "/v1/sessions/till", nil, &v)
	got := map[string][2]int{}
	for _, l := range v.Lines {
		got[l.Line] = [2]int{l.Needed, l.Collected}
	}
	if got["1"] != [2]int{2, 2} || got["2"] != [2]int{2, 1} || got["3"] != [2]int{6, 6} {
		t.Fatalf("lines: %+v", v.Lines)
	}
	wantLine := map[string]string{codeA: "1", codeC: "1", codeB: "2", codeAzi: "3"}
	for _, it := range v.Items {
		if wantLine[it.Code] != it.Line {
			t.Fatalf("item %s on line %q", it.Code, it.Line)
		}
	}

	// One ibuprofen box is missing: neither the API nor the scanner finishes.
	eb := e.fails("POST", "/v1/sessions/till/finish", map[string]any{"attrs": map[string]string{"nhsa.memo": "x"}}, 409, "codes_missing")
	if len(eb.Lines) != 1 || eb.Lines[0] != (queue.LineShort{Line: "2", Needed: 2, Collected: 1}) {
		t.Fatalf("codes_missing lines: %+v", eb.Lines)
	}
	if a := e.scan("till", "PDA:FINISH", "rejected"); a.Reason != "codes_missing" || !strings.Contains(a.Message, "line 2: 1 of 2") {
		t.Fatalf("PDA:FINISH: %+v", a)
	}
	e.ok("GET", "/v1/sessions/till", nil, &v)
	if v.Bill == nil || v.Bill.Code != bill || v.Bill.Attrs["nhsa.memo"] != "" {
		t.Fatalf("after refused finishes: %+v", v.Bill)
	}

	// Exceptions: a fixed reason list; a key variety needs the supervisor.
	path := "/v1/sessions/till/exceptions"
	e.fails("POST", path, map[string]any{"line": "2", "packs": 1, "reason": "lost"}, 400, "bad_request")
	e.fails("POST", path, map[string]any{"line": "2", "packs": 1, "reason": "other"}, 400, "bad_request")
	e.fails("POST", path, map[string]any{"line": "9", "packs": 1, "reason": "unreadable"}, 400, "bad_request")
	e.fails("POST", path, map[string]any{"line": "2", "packs": 1, "reason": "unreadable"}, 403, "supervisor_required")
	e.fails("POST", path, map[string]any{"line": "2", "packs": 1, "reason": "unreadable", "supervisor_pin": "1357"}, 403, "supervisor_pin_wrong")
	e.fails("POST", path, map[string]any{"line": "2", "packs": 2, "reason": "unreadable", "supervisor_pin": "2468"}, 400, "bad_request")
	e.ok("POST", path, map[string]any{"line": "2", "packs": 1, "reason": "unreadable", "note": "盒子受潮", "supervisor_pin": "2468"}, &v)
	if v.Lines[1].Excepted != 1 || v.Lines[1].Short != 0 || len(v.Bill.Exceptions) != 1 {
		t.Fatalf("after the exception: %+v", v.Lines)
	}

	e.ok("POST", "/v1/sessions/till/finish", nil, nil)

	// The receipt holds every code and the exception.
	var rc receipt.Receipt
	e.ok("GET", "/v1/bills/"+bill+"/receipt?format=json", nil, &rc)
	var codes []string
	var noCode []receipt.NoCode
	for _, l := range rc.Lines {
		for _, c := range l.Codes {
			codes = append(codes, c.Code)
		}
		noCode = append(noCode, l.NoCode...)
	}
	if !slices.Equal(codes, []string{codeA, codeC, codeB, codeAzi}) ||
		!slices.Equal(noCode, []receipt.NoCode{{Product: "8393331", Packs: 1, Reason: "unreadable", Note: "盒子受潮"}}) {
		t.Fatalf("receipt: %+v", rc)
	}
	status, text := e.call("GET", "/v1/bills/"+bill+"/receipt", nil)
	if status != 200 || !strings.Contains(string(text), "无码x1") || !strings.Contains(string(text), "盒子受潮") {
		t.Fatalf("text receipt: %d\n%s", status, text)
	}

	var c agent.Compliance
	e.ok("GET", "/v1/compliance", nil, &c)
	if c.Exceptions.Bills != 1 || c.Exceptions.Packs != 1 || c.Exceptions.ByReason["unreadable"] != 1 || c.Exceptions.Supervisor != 1 {
		t.Fatalf("compliance: %+v", c.Exceptions)
	}
}

func TestSupervisorPINAttemptsAreLimited(t *testing.T) {
	e := startLines(t)
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale", "lines": []map[string]any{
		{"line": "1", "product": "8393331", "packs": 1}}}, nil)
	path := "/v1/sessions/till/exceptions"
	req := func(pin string) map[string]any {
		return map[string]any{"line": "1", "packs": 1, "reason": "no_code_stock", "supervisor_pin": pin}
	}
	for range 5 {
		e.fails("POST", path, req("0000"), 403, "supervisor_pin_wrong")
	}
	// The sixth try is refused even with the right PIN.
	e.fails("POST", path, req("2468"), 429, "too_many_attempts")

	// Lines only for sales; bad lines refused.
	for _, lines := range [][]map[string]any{
		{{"line": "1", "product": "8393331"}},
		{{"line": "1", "product": "8393331", "packs": 1, "units": 2}},
		{{"line": "1", "product": "XX"}},
		{{"line": "1", "product": "XA01AAA000A000000000000", "packs": 1}},
	} {
		e.fails("POST", "/v1/sessions", map[string]any{"session": "t2", "kind": "sale", "lines": lines}, 400, "bad_request")
	}
	e.fails("POST", "/v1/sessions", map[string]any{"session": "t3", "kind": "receive", "lines": []map[string]any{
		{"line": "1", "product": "8393331", "packs": 1}}}, 400, "bad_request")
}
