package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/upload/msfx"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// sellElsewhere uploads a retail sale of codes by another enterprise of
// the sandbox (the chain's warehouse), so 码上放心 reports them sold (O):
// the pack that then reaches this counter is 回流药.
func sellElsewhere(t *testing.T, e *testEnv, codes ...string) {
	t.Helper()
	c, err := msfx.New(msfx.Config{Name: "other", Gateway: e.gw.URL(), AppKey: sandbox.DefaultWarehouseAppKey,
		AppSecret: sandbox.DefaultWarehouseSecret, RefEntID: sandbox.DefaultWarehouseRefEntID,
		EntID: sandbox.DefaultWarehouseEntID, Rate: -1, Simplify: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(context.Background(), wire.MethodUploadRetail, map[string]string{
		wire.PBillCode: "OTHER-" + codes[0], wire.PBillType: "321", wire.PRefUserID: sandbox.DefaultWarehouseRefEntID,
		wire.PBillTime:   time.Now().In(time.FixedZone("CST", 8*3600)).Format(wire.DateLayout),
		wire.PTraceCodes: strings.Join(codes, ","), wire.PPhysicType: "3"})
	if err != nil {
		t.Fatalf("sale by another store: %v", err)
	}
}

// checkEvent waits for the check event of code.
func checkEvent(t *testing.T, events <-chan sseEvent, code string) agent.Event {
	t.Helper()
	for {
		ev := next(t, events)
		if ev.name == "check" && ev.data.Code == code {
			return ev.data
		}
	}
}

func TestOnlineCheckWarnFlagsSoldPack(t *testing.T) {
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CHECKS_ONLINE_SALE=warn"}})
	sellElsewhere(t, e, codeA)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := openStream(t, e, ctx)

	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale"}, nil)
	e.scan("till1", codeA, "accepted")
	e.scan("till1", codeC, "accepted")
	bad, good := checkEvent(t, events, codeA), checkEvent(t, events, codeC)
	if bad.Status != agent.CheckBad || bad.Reason != agent.ProblemSold || !strings.Contains(bad.Message, "已核销") || bad.Session != "till1" {
		t.Fatalf("sold pack: %+v", bad)
	}
	if good.Status != agent.CheckOK || good.Reason != "" {
		t.Fatalf("good pack: %+v", good)
	}
	var view agent.SessionView
	e.ok("GET", "/v1/sessions/till1", nil, &view)
	if len(view.Checks) != 2 || view.Checks[0].Code != codeA || view.Checks[0].State != agent.CheckBad ||
		view.Checks[0].CodeStatus != wire.CodeSold || view.Checks[1].State != agent.CheckOK {
		t.Fatalf("session view checks: %+v", view.Checks)
	}
	// Both codes, scanned within the window, went in one query.
	detail := func() int { return e.gw.Stats().Methods[wire.MethodQueryCodeDetail] }
	if n := detail(); n != 1 {
		t.Fatalf("codedetail calls: %d, want 1", n)
	}
	// A pack scanned again is judged from the cache, without a call.
	e.ok("POST", "/v1/sessions/till1/cancel", nil, nil)
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale"}, nil)
	e.scan("till1", codeC, "accepted")
	e.scan("till1", codeA, "accepted")
	if ev := checkEvent(t, events, codeC); ev.Status != agent.CheckOK {
		t.Fatalf("cached good pack: %+v", ev)
	}
	if ev := checkEvent(t, events, codeA); ev.Status != agent.CheckBad || ev.Reason != agent.ProblemSold {
		t.Fatalf("cached sold pack: %+v", ev)
	}
	if n := detail(); n != 1 {
		t.Fatalf("codedetail calls after the cache: %d, want 1", n)
	}
	// warn blocks nothing.
	e.ok("POST", "/v1/sessions/till1/finish", nil, nil)
}

func TestOnlineCheckRefuseBlocksFinish(t *testing.T) {
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CHECKS_ONLINE_SALE=refuse"}})
	sellElsewhere(t, e, codeA)
	if err := e.gw.World().CancelCodes(codeB); err != nil {
		t.Fatal(err)
	}
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale"}, nil)
	e.scan("till1", codeA, "accepted")
	e.scan("till1", codeB, "accepted")
	e.scan("till1", codeC, "accepted")
	// The finish waits for the pending checks, then refuses.
	eb := e.fails("POST", "/v1/sessions/till1/finish", nil, 409, "check_failed")
	if len(eb.Packs) != 2 || eb.Packs[0].Code != codeA || eb.Packs[0].Problems[0] != agent.ProblemSold ||
		eb.Packs[1].Code != codeB || eb.Packs[1].Problems[0] != agent.ProblemCancelled {
		t.Fatalf("blocking packs: %+v", eb.Packs)
	}
	if !strings.Contains(eb.Message, codeA) || !strings.Contains(eb.Message, codeB) || strings.Contains(eb.Message, codeC) {
		t.Fatalf("message: %s", eb.Message)
	}
	// The finish card is refused the same way.
	var ans scanAnswer
	e.ok("POST", "/v1/scans", map[string]string{"session": "till1", "code": "PDA:FINISH"}, &ans)
	if ans.Status != "rejected" || ans.Reason != "check_failed" || !strings.Contains(ans.Message, codeA) {
		t.Fatalf("PDA:FINISH: %+v", ans)
	}
	var view agent.SessionView
	e.ok("GET", "/v1/sessions/till1", nil, &view)
	if view.Bill == nil || view.Bill.State != "open" {
		t.Fatalf("the bill must stay open: %+v", view.Bill)
	}
	// A bill of a kind that is not checked finishes.
	e.ok("POST", "/v1/sessions", map[string]any{"session": "back", "type": 102, "partner": sandbox.DefaultSupplierEntID}, nil)
	e.scan("back", "81012350000000300001", "accepted")
	e.ok("POST", "/v1/sessions/back/finish", nil, nil)
}

func TestOnlineCheckOfflineAlarmsNamingTheBill(t *testing.T) {
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CHECKS_ONLINE_SALE=refuse"}})
	sellElsewhere(t, e, codeA)
	if err := e.gw.SetDown(true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := openStream(t, e, ctx)
	var opened struct {
		Bill struct {
			Code string `json:"bill_code"`
		} `json:"bill"`
	}
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale"}, &opened)
	e.scan("till1", codeA, "accepted")
	// Offline, the pending check does not block the counter.
	e.ok("POST", "/v1/sessions/till1/finish", nil, nil)
	if err := e.gw.SetDown(false); err != nil {
		t.Fatal(err)
	}
	for {
		ev := next(t, events)
		if ev.name == "alarm" && ev.data.Status == "check" {
			if ev.data.Bill != opened.Bill.Code || !strings.Contains(ev.data.Message, opened.Bill.Code) || ev.data.Code != codeA {
				t.Fatalf("alarm: %+v", ev.data)
			}
			break
		}
	}
	var st struct {
		Alarms   []struct{ Kind, Message string } `json:"alarms"`
		Problems []string                         `json:"problems"`
	}
	e.ok("GET", "/v1/status", nil, &st)
	found := false
	for _, al := range st.Alarms {
		found = found || al.Kind == "check" && strings.Contains(al.Message, opened.Bill.Code)
	}
	if !found || !strings.Contains(strings.Join(st.Problems, "\n"), opened.Bill.Code) {
		t.Fatalf("status: %+v", st)
	}
	_, metrics := e.call("GET", "/metrics", nil)
	if !strings.Contains(string(metrics), "\npda_alarms 1") {
		t.Fatalf("metrics alarms:\n%s", grepLines(string(metrics), "alarm"))
	}
}

// The scan is answered before the platform answers the check.
func TestOnlineCheckDoesNotDelayTheScan(t *testing.T) {
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CHECKS_ONLINE_SALE=warn", "PDA_CHECKS_WINDOW=0s"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := openStream(t, e, ctx)
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till1", "kind": "sale"}, nil)
	e.gw.InjectFaults(sandbox.FaultSlow)
	began := time.Now()
	e.scan("till1", codeA, "accepted")
	answered := time.Since(began)
	if answered >= sandbox.SlowDelay/2 {
		t.Fatalf("the scan took %s: it waited for the check", answered)
	}
	ev := checkEvent(t, events, codeA)
	if ev.Status != agent.CheckOK {
		t.Fatalf("check: %+v", ev)
	}
	if took := time.Since(began); took < sandbox.SlowDelay {
		t.Fatalf("the verdict came after %s: the slow answer was not the check's", took)
	}
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}
