package api

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/queue"
)

// A pack 验码 refuses leaves the sale on its own (移除): the finish that
// it blocked goes through, the pack is back in stock, the line lacks it.
func TestRemoveRefusedPackThenFinish(t *testing.T) {
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CHECKS_ONLINE_SALE=refuse"}})
	sellElsewhere(t, e, codeA)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := openStream(t, e, ctx)
	var opened struct {
		Bill queue.Bill `json:"bill"`
	}
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale"}, &opened)
	e.scan("till1", codeA, "accepted")
	e.scan("till1", codeC, "accepted")
	eb := e.fails("POST", "/v1/sessions/till1/finish", nil, 409, "check_failed")
	if len(eb.Packs) != 1 || eb.Packs[0].Code != codeA {
		t.Fatalf("blocking packs: %+v", eb.Packs)
	}

	e.fails("DELETE", "/v1/sessions/till1/items/"+codeB, nil, 404, "not_in_session")
	var v agent.SessionView
	e.ok("DELETE", "/v1/sessions/till1/items/"+url.PathEscape(" "+codeA), nil, &v)
	if v.Bill == nil || v.Bill.Items != 1 || len(v.Items) != 1 || v.Items[0].Code != codeC || len(v.Checks) != 1 || v.Checks[0].Code != codeC {
		t.Fatalf("view after removal: bill %+v items %+v checks %+v", v.Bill, v.Items, v.Checks)
	}
	for {
		ev := next(t, events)
		if ev.name == "item_removed" {
			if ev.data.Code != codeA || ev.data.Bill != opened.Bill.Code || ev.data.Session != "till1" {
				t.Fatalf("event: %+v", ev.data)
			}
			break
		}
	}
	var done queue.Bill
	e.ok("POST", "/v1/sessions/till1/finish", nil, &done)
	if done.State != queue.BillFinished || done.Items != 1 {
		t.Fatalf("finished: %+v", done)
	}
	e.fails("DELETE", "/v1/sessions/till1/items/"+codeC, nil, 409, "no_open_bill")
	// The removed pack was never sold here: it sells on the next sale.
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till2", "kind": "sale"}, nil)
	e.scan("till2", codeA, "accepted")
}

// A pack on a sale with lines: removed, its line lacks it again (409
// codes_missing names it); the scanner's REMOVE command does the same.
func TestRemoveFromLineAndByScanner(t *testing.T) {
	e := startLines(t)
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale", "lines": []map[string]any{
		{"line": "1", "product": "8101235", "packs": 2}}}, nil)
	e.scan("till", codeA, "accepted")
	e.scan("till", codeC, "accepted")
	var v agent.SessionView
	e.ok("DELETE", "/v1/sessions/till/items/"+codeC, nil, &v)
	if len(v.Lines) != 1 || v.Lines[0].Collected != 1 || v.Lines[0].Short != 1 {
		t.Fatalf("line after removal: %+v", v.Lines)
	}
	eb := e.fails("POST", "/v1/sessions/till/finish", nil, 409, "codes_missing")
	if len(eb.Lines) != 1 || eb.Lines[0].Collected != 1 {
		t.Fatalf("codes_missing: %+v", eb.Lines)
	}
	e.scan("till", "PDA:REMOVE", "command")
	ans := e.scan("till", codeA, "command")
	if !strings.Contains(ans.Message, "removed "+codeA) {
		t.Fatalf("REMOVE then the pack: %+v", ans)
	}
	e.scan("till", "PDA:REMOVE", "command")
	if ans := e.scan("till", codeB, "rejected"); ans.Reason != "not_in_session" {
		t.Fatalf("REMOVE of a pack not on the bill: %+v", ans)
	}
	// The command is one-shot: the next code is a scan again.
	e.scan("till", codeA, "accepted")
	e.ok("GET", "/v1/sessions/till", nil, &v)
	if v.Bill.Items != 1 || v.Lines[0].Collected != 1 {
		t.Fatalf("after the scanner's removal: %+v %+v", v.Bill, v.Lines)
	}
}

// An exception naming a refused pack lets the sale finish with it: the
// online checker's Excused hook reads the bill's exceptions.
func TestExceptionExcusesRefusedPack(t *testing.T) {
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CHECKS_ONLINE_SALE=refuse"}})
	sellElsewhere(t, e, codeA)
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale"}, nil)
	e.scan("till1", codeA, "accepted")
	e.scan("till1", codeC, "accepted")
	e.fails("POST", "/v1/sessions/till1/finish", nil, 409, "check_failed")
	e.fails("POST", "/v1/sessions/till1/exceptions", map[string]any{"code": codeA, "reason": "no_code_stock"}, 400, "bad_request")
	e.fails("POST", "/v1/sessions/till1/exceptions", map[string]any{"code": codeB, "reason": "verified"}, 404, "not_in_session")
	var v agent.SessionView
	e.ok("POST", "/v1/sessions/till1/exceptions", map[string]any{"code": codeA, "reason": "other", "note": "顾客退回本店售出，票据已核"}, &v)
	if len(v.Bill.Excused) != 1 || v.Bill.Excused[0].Code != codeA || len(v.Bill.Exceptions) != 0 {
		t.Fatalf("bill after the exception: %+v", v.Bill)
	}
	var done queue.Bill
	e.ok("POST", "/v1/sessions/till1/finish", nil, &done)
	if done.Items != 2 || len(done.Excused) != 1 {
		t.Fatalf("finished: %+v", done)
	}
	var c struct {
		Exceptions agent.ExceptionCount `json:"exceptions"`
	}
	e.ok("GET", "/v1/compliance", nil, &c)
	if c.Exceptions.Excused != 1 || c.Exceptions.Bills != 1 {
		t.Fatalf("compliance: %+v", c.Exceptions)
	}
}
