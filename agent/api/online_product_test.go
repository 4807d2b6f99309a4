package api

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// A box whose code 码上放心 records under another drug (a code copied onto
// a box of another product) goes to its sale line by its printed prefix;
// the online check compares the drug by 批准文号 through the catalogue and
// flags it (other_product). Under refuse the sale finishes once the pack
// is removed, or excused by an exception naming it; a sale without lines
// has no line product to compare with.
func TestOnlineCheckOtherProduct(t *testing.T) {
	products := filepath.Join(t.TempDir(), "products.csv")
	if err := os.WriteFile(products, []byte(linesProducts), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CATALOGUE_PRODUCTS=" + products, "PDA_CHECKS_ONLINE_SALE=refuse"}})
	swapped := sandbox.MakeCode(sandbox.ProductAmoxicillin, 4001)
	swapped2 := sandbox.MakeCode(sandbox.ProductAmoxicillin, 4002)
	if err := e.gw.World().ReportAsProduct(sandbox.ProductIbuprofen, swapped, swapped2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := openStream(t, e, ctx)
	line := func(session string, packs int) {
		e.ok("POST", "/v1/sessions", map[string]any{"session": session, "kind": "sale", "lines": []map[string]any{
			{"line": "1", "product": sandbox.ProductAmoxicillin, "packs": packs}}}, nil)
	}

	line("till", 2)
	e.scan("till", codeA, "accepted")
	e.scan("till", swapped, "accepted") // the line takes it by its prefix
	good, bad := checkEvent(t, events, codeA), checkEvent(t, events, swapped)
	if good.Status != agent.CheckOK || good.Reason != "" {
		t.Fatalf("the line's own product: %+v", good)
	}
	if bad.Status != agent.CheckBad || bad.Reason != agent.ProblemOtherProduct || !strings.Contains(bad.Message, "布洛芬缓释胶囊") ||
		!strings.Contains(bad.Message, "阿莫西林胶囊") {
		t.Fatalf("a pack of another drug: %+v", bad)
	}
	var v agent.SessionView
	e.ok("GET", "/v1/sessions/till", nil, &v)
	if len(v.Checks) != 2 || v.Checks[0].Product != agent.MatchSame || v.Checks[0].ProductBy != agent.ByApprovalNo ||
		v.Checks[1].Product != agent.MatchOther || v.Checks[1].ProductBy != agent.ByApprovalNo ||
		v.Checks[1].ApprovalNo != "国药准字H00000002" || v.Checks[1].Drug != "布洛芬缓释胶囊" {
		t.Fatalf("session view checks: %+v", v.Checks)
	}
	eb := e.fails("POST", "/v1/sessions/till/finish", nil, 409, "check_failed")
	if len(eb.Packs) != 1 || eb.Packs[0].Code != swapped || !slices.Equal(eb.Packs[0].Problems, []string{agent.ProblemOtherProduct}) {
		t.Fatalf("blocking packs: %+v", eb.Packs)
	}
	// Removed, the pack no longer blocks; its line lacks a pack again.
	e.ok("DELETE", "/v1/sessions/till/items/"+swapped, nil, &v)
	e.fails("POST", "/v1/sessions/till/finish", nil, 409, "codes_missing")
	e.scan("till", codeC, "accepted")
	if ev := checkEvent(t, events, codeC); ev.Status != agent.CheckOK {
		t.Fatalf("a second pack of the line's product: %+v", ev)
	}
	e.ok("POST", "/v1/sessions/till/finish", nil, nil)

	// Excused by an exception naming the pack, it is sold.
	line("till2", 1)
	e.scan("till2", swapped2, "accepted")
	if ev := checkEvent(t, events, swapped2); ev.Reason != agent.ProblemOtherProduct {
		t.Fatalf("second swapped pack: %+v", ev)
	}
	e.fails("POST", "/v1/sessions/till2/finish", nil, 409, "check_failed")
	e.ok("POST", "/v1/sessions/till2/exceptions", map[string]any{"code": swapped2, "reason": "verified"}, nil)
	e.ok("POST", "/v1/sessions/till2/finish", nil, nil)

	// Without lines there is no line product: the pack is not compared.
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till3", "kind": "sale"}, nil)
	e.scan("till3", swapped, "accepted")
	if ev := checkEvent(t, events, swapped); ev.Status != agent.CheckOK {
		t.Fatalf("a sale without lines: %+v", ev)
	}
	var v3 agent.SessionView
	e.ok("GET", "/v1/sessions/till3", nil, &v3)
	if len(v3.Checks) != 1 || v3.Checks[0].Product != "" || v3.Checks[0].State != agent.CheckOK {
		t.Fatalf("no line, no comparison: %+v", v3.Checks)
	}
	e.ok("POST", "/v1/sessions/till3/finish", nil, nil)
}

// A pack past its expiry date (the platform's expire_date, a China date)
// is flagged expired and, under refuse, blocks the finish.
func TestOnlineCheckExpiredPack(t *testing.T) {
	e := start(t, envOpts{msfx: true, env: []string{"PDA_CHECKS_ONLINE_SALE=refuse"}})
	const prefix = "8777771"
	if err := e.gw.World().AddProduct(sandbox.Product{Prefix: prefix, Name: "过期测试片", PkgSpec: "10片/盒", PrepnSpec: "10mg",
		Maker: "沙箱制药有限公司", ApprovalNo: "国药准字H00000077", Batch: "OLD01", ProduceDate: "2021-01-01", ExpireDate: "2023-12-31"}); err != nil {
		t.Fatal(err)
	}
	old := sandbox.MakeCode(prefix, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := openStream(t, e, ctx)
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, nil)
	e.scan("till", old, "accepted")
	e.scan("till", codeC, "accepted")
	if ev := checkEvent(t, events, old); ev.Status != agent.CheckBad || ev.Reason != agent.ProblemExpired || !strings.Contains(ev.Message, "2023-12-31") {
		t.Fatalf("expired pack: %+v", ev)
	}
	if ev := checkEvent(t, events, codeC); ev.Status != agent.CheckOK {
		t.Fatalf("pack in date: %+v", ev)
	}
	eb := e.fails("POST", "/v1/sessions/till/finish", nil, 409, "check_failed")
	if len(eb.Packs) != 1 || eb.Packs[0].Code != old || eb.Packs[0].Expiry != "2023-12-31" {
		t.Fatalf("blocking packs: %+v", eb.Packs)
	}
	e.ok("DELETE", "/v1/sessions/till/items/"+old, nil, nil)
	e.ok("POST", "/v1/sessions/till/finish", nil, nil)
}
