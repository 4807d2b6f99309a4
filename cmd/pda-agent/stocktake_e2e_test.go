package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/queue"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// TestStockTakeShortfallBookedReachesNHSA: a real agent receives three
// packs, a stock-take on the scanner finds one of them; its 盘亏 (the other
// two) is listed by the API and booked with a reason as one 214 bill,
// which reaches the 医保 sandbox as 3502 with exactly those two codes (and
// the count as 3501 with the one it found); the booked packs cannot be sold.
func TestStockTakeShortfallBookedReachesNHSA(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	opts := nhsasb.TestOptions("x-tif", "plain")
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.ChangeTypes = []string{"T214"}
	keyFile := nhsaChannelKey(t, dir, "test", &opts)
	sb, err := nhsasb.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	port := freePort(t)
	platformPub := gm.PublicKeyBase64(&opts.PlatformKey.PublicKey)
	cfg := fmt.Sprintf(nhsaConfigTmpl, dir, "test", sb.URL(), keyFile, platformPub, "x-tif", "plain") +
		"  bill_types: [102, 901, 214]\n  stock_change_types: {\"214\": \"T214\"}\n"
	if !strings.Contains(cfg, "api: {enabled: false}") {
		t.Fatal("the 医保 config template no longer turns the API off")
	}
	cfg = strings.Replace(cfg, "api: {enabled: false}", `api: {listen: "127.0.0.1:`+port+`"}`, 1)
	config := writeFile(t, dir, "config.yaml", cfg)

	code := func(n int) string { return fmt.Sprintf("8101235%09d%04d", 950+n, n) }
	a1, a2, a3 := code(1), code(2), code(3)
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	send := func(line, want string) string {
		t.Helper()
		return sendExpect(t, p, &stderr, line, want)
	}
	c := waitAPI(t, dir, port, &stderr)
	send("PDA:RECEIVE:5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4", "COMMAND")
	send("PDA:LOT:B0001:2025-06-01:2027-05-31", "COMMAND")
	for _, x := range []string{a1, a2, a3} {
		send(x, "ACCEPTED")
	}
	send("PDA:FINISH", "COMMAND")
	send("PDA:STOCKTAKE", "COMMAND")
	send(a1, "ACCEPTED")
	send("PDA:FINISH", "COMMAND")

	var takes []queue.Bill
	c.ok("GET", "/v1/bills?type=901", nil, &takes)
	if len(takes) != 1 {
		t.Fatalf("stock-takes %+v", takes)
	}
	var sf agent.Shortfall
	c.ok("GET", "/v1/stocktakes/"+takes[0].Code+"/shortfall", nil, &sf)
	var short []string
	for _, x := range sf.Packs {
		short = append(short, x.Code)
	}
	if slices.Sort(short); !slices.Equal(short, []string{a2, a3}) || sf.Scope != agent.ScopeProducts {
		t.Fatalf("盘亏 %+v", sf)
	}
	var loss queue.Bill
	if st := c.do("POST", "/v1/stocktakes/"+takes[0].Code+"/shortfall/book",
		map[string]any{"reason": "盘点未找到", "attrs": map[string]string{"nhsa.pric.8101235": "12.5"}}, &loss); st != 201 {
		t.Fatalf("book: %d", st)
	}
	if loss.Type != 214 || loss.Items != 2 {
		t.Fatalf("盘亏 bill %+v", loss)
	}
	if st := c.do("POST", "/v1/stocktakes/"+takes[0].Code+"/shortfall/book", map[string]any{"reason": "again"}, nil); st != 409 {
		t.Errorf("second booking: %d", st)
	}
	send("PDA:SALE", "COMMAND")
	send(a2, "REJECTED")
	send("PDA:CANCEL", "COMMAND")

	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(sb.Rows()) })
	defer s.Close()
	byInfno := map[string][]nhsasb.Row{}
	for _, r := range sb.Rows() {
		byInfno[r.Infno] = append(byInfno[r.Infno], r)
	}
	if len(byInfno["3503"]) != 1 || len(byInfno["3501"]) != 1 || len(byInfno["3502"]) != 1 || len(byInfno) != 3 {
		t.Fatalf("sandbox rows %+v\n%s", byInfno, stderr.String())
	}
	if take := byInfno["3501"][0]; !slices.Equal(take.Codes, []string{a1}) {
		t.Errorf("3501 row: codes %v", take.Codes)
	}
	if chg := byInfno["3502"][0]; !slices.Equal(slices.Sorted(slices.Values(chg.Codes)), []string{a2, a3}) || chg.Count != 2 {
		t.Errorf("3502 row: codes %v count %v", chg.Codes, chg.Count)
	}
}
