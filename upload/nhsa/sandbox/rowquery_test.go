package sandbox_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// The tests' own 3510/3511 types: newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/{Input,Output}/YiBao/{Input,Output}_3510.cs
// and _3511.cs.
const (
	InfPurchaseQuery = "3510"
	InfSaleQuery     = "3511"
)

type RowRecord struct {
	FixmedinsBchno string `json:"fixmedinsBchno"`
	ProdRetnFlag   string `json:"prodRetnFlag"`
	ValiFlag       string `json:"valiFlag"`
}

func rowRecords(t *testing.T, r *result) []RowRecord {
	t.Helper()
	wantOK(t, r)
	var recs []RowRecord
	if err := json.Unmarshal(r.resp.Output, &recs); err != nil {
		t.Fatalf("output %s: %v", r.resp.Output, err)
	}
	return recs
}

func TestRowQueries(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	wantOK(t, c.send(t, c.request(InfPurchase, purc(purchase("P-1")))))
	wantOK(t, c.send(t, c.request(InfPurchaseReturn, purc(purchaseReturn("PR-1", "P-1", 4)))))
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("S-1", code(1), code(2))))))
	wantOK(t, c.send(t, c.request(InfSaleReturn, sel(saleReturn("R-1", "SEL-S-1", code(1))))))
	ask := func(infno, bchno, from, to string) []RowRecord {
		return rowRecords(t, c.send(t, c.request(infno, map[string]any{"data": map[string]any{
			"fixmedins_code": sandbox.TestFixmedinsCode, "fixmedins_bchno": bchno, "begndate": from, "enddate": to}})))
	}
	bchnos := func(recs []RowRecord) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.FixmedinsBchno+":"+r.ProdRetnFlag)
		}
		return out
	}
	if got := ask(InfPurchaseQuery, "P-1", "2026-11-27", "2026-11-27"); !slices.Equal(bchnos(got), []string{"P-1:0"}) || got[0].ValiFlag != "1" {
		t.Errorf("3510 P-1: %+v", got)
	}
	if got := ask(InfPurchaseQuery, "PR-1", "2026-11-27", "2026-11-27"); !slices.Equal(bchnos(got), []string{"PR-1:1"}) {
		t.Errorf("3510 PR-1 (a return): %+v", got)
	}
	// 3510 knows no sale, 3511 no purchase; another day holds nothing.
	if got := ask(InfPurchaseQuery, "S-1", "2026-11-27", "2026-11-27"); len(got) != 0 {
		t.Errorf("3510 answered a sale: %+v", got)
	}
	if got := ask(InfSaleQuery, "P-1", "2026-11-27", "2026-11-27"); len(got) != 0 {
		t.Errorf("3511 answered a purchase: %+v", got)
	}
	if got := ask(InfSaleQuery, "R-1", "2026-11-27", "2026-11-27"); !slices.Equal(bchnos(got), []string{"R-1:"}) {
		t.Errorf("3511 R-1: %+v", got)
	}
	if got := ask(InfSaleQuery, "S-1", "2026-11-28", "2026-11-30"); len(got) != 0 {
		t.Errorf("3511 another day: %+v", got)
	}
	// Behind the caller's back the platform loses the return.
	if !s.LoseRow("PR-1") {
		t.Fatal("LoseRow")
	}
	if got := ask(InfPurchaseQuery, "PR-1", "2026-11-27", "2026-11-27"); len(got) != 0 {
		t.Errorf("a lost row is still answered: %+v", got)
	}
}

func TestRowQueryStrict(t *testing.T) {
	base := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"fixmedins_code": sandbox.TestFixmedinsCode, "fixmedins_bchno": "P-1", "begndate": "2026-11-01", "enddate": "2026-11-27"}
		edit(m)
		return map[string]any{"data": m}
	}
	for _, tc := range []struct {
		name  string
		input map[string]any
		text  string
	}{
		{"no fixmedins_code", base(func(m map[string]any) { delete(m, "fixmedins_code") }), "必填字段缺失: fixmedins_code"},
		{"another institution", base(func(m map[string]any) { m["fixmedins_code"] = "P99000000002" }), "fixmedins_code"},
		{"no begndate", base(func(m map[string]any) { delete(m, "begndate") }), "必填字段缺失: begndate"},
		{"no enddate", base(func(m map[string]any) { delete(m, "enddate") }), "必填字段缺失: enddate"},
		{"dates reversed", base(func(m map[string]any) { m["begndate"] = "2026-11-28" }), "早于"},
		{"date with time", base(func(m map[string]any) { m["enddate"] = "2026-11-27 10:00:00" }), "格式错误"},
		{"neither row nor list", base(func(m map[string]any) { delete(m, "fixmedins_bchno") }), "必须传其中一个字段"},
		{"number as bchno", base(func(m map[string]any) { m["fixmedins_bchno"] = 1 }), "应为字符串"},
		{"bchno too long", base(func(m map[string]any) { m["fixmedins_bchno"] = "1234567890123456789012345678901" }), "超长"},
		{"wrong node", map[string]any{"purcinfo": map[string]any{"fixmedins_code": sandbox.TestFixmedinsCode}}, "input缺少节点data"},
	} {
		for _, infno := range []string{InfPurchaseQuery, InfSaleQuery} {
			t.Run(infno+" "+tc.name, func(t *testing.T) {
				s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
				c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
				wantRefused(t, c.send(t, c.request(infno, tc.input)), tc.text)
			})
		}
	}
}

// The tests' own 3508/3509 names: newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/{Input,Output}/YiBao/{Input,Output}_3508.cs
// and _3509.cs.
const (
	InfStockQuery  = "3508"
	InfChangeQuery = "3509"
)

type StockQueryRecord struct {
	FixmedinsBchno string  `json:"fixmedinsBchno"`
	InvChgType     string  `json:"invChgType"`
	InvCnt         float64 `json:"invCnt"`
	Cnt            float64 `json:"cnt"`
}

func TestStockRowQueries(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	wantOK(t, c.send(t, c.request(InfStockTake, map[string]any{NodeInventory: []StockTakeRow{stockTake("T-1", code(6), code(7))}})))
	wantOK(t, c.send(t, c.request(InfStockChange, map[string]any{NodeInventory: []StockChangeRow{stockChange("C-1", "101", code(5))}})))
	wantOK(t, c.send(t, c.request(InfPurchase, purc(purchase("P-1")))))
	ask := func(infno string, data map[string]any) []StockQueryRecord {
		t.Helper()
		base := map[string]any{"fixmedins_code": sandbox.TestFixmedinsCode, "begndate": "2026-11-27", "enddate": "2026-11-27"}
		for k, v := range data {
			base[k] = v
		}
		r := c.send(t, c.request(infno, map[string]any{"data": base}))
		wantOK(t, r)
		var recs []StockQueryRecord
		if err := json.Unmarshal(r.resp.Output, &recs); err != nil {
			t.Fatalf("output %s: %v", r.resp.Output, err)
		}
		return recs
	}
	if got := ask(InfStockQuery, map[string]any{"fixmedins_bchno": "T-1"}); len(got) != 1 || got[0].FixmedinsBchno != "T-1" || got[0].InvCnt != 2 {
		t.Errorf("3508 T-1: %+v", got)
	}
	if got := ask(InfChangeQuery, map[string]any{"fixmedins_bchno": "C-1"}); len(got) != 1 || got[0].InvChgType != "101" || got[0].Cnt != 1 {
		t.Errorf("3509 C-1: %+v", got)
	}
	// Each answers its own message's rows only; inv_chg_type filters.
	for _, q := range []struct {
		infno string
		data  map[string]any
	}{
		{InfStockQuery, map[string]any{"fixmedins_bchno": "C-1"}},
		{InfStockQuery, map[string]any{"fixmedins_bchno": "P-1"}},
		{InfChangeQuery, map[string]any{"fixmedins_bchno": "T-1"}},
		{InfChangeQuery, map[string]any{"fixmedins_bchno": "C-1", "inv_chg_type": "102"}},
		{InfChangeQuery, map[string]any{"fixmedins_bchno": "C-1", "begndate": "2026-11-28", "enddate": "2026-11-30"}},
	} {
		if got := ask(q.infno, q.data); len(got) != 0 {
			t.Errorf("%s %v answered %+v", q.infno, q.data, got)
		}
	}
	// Strict: one of the row and catalogue codes is required.
	wantRefused(t, c.send(t, c.request(InfChangeQuery, map[string]any{"data": map[string]any{
		"fixmedins_code": sandbox.TestFixmedinsCode, "begndate": "2026-11-27", "enddate": "2026-11-27"}})), "必须传其中一个字段")
	if !s.LoseRow("C-1") {
		t.Fatal("LoseRow")
	}
	if got := ask(InfChangeQuery, map[string]any{"fixmedins_bchno": "C-1"}); len(got) != 0 {
		t.Errorf("a lost 3502 row is still answered: %+v", got)
	}
}
