package sandbox_test

import (
	"encoding/json"
	"testing"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// The tests' own 3513 types: newtouch-cloud/openhis
// …/Models/Input/YiBao/Input_3513.cs and …/Output/YiBao/Output_3513.cs.
const InfTraceQuery = "3513"

type TraceRecord struct {
	FixmedinsBchno string `json:"fixmedinsBchno"`
	DrugTracCodg   string `json:"drugTracCodg"`
	MedListCodg    string `json:"medListCodg"`
	TrdnFlag       string `json:"trdnFlag"`
}

func traceQuery(fields map[string]any) map[string]any { return map[string]any{"data": fields} }

func traceRecords(t *testing.T, r *result) []TraceRecord {
	t.Helper()
	wantOK(t, r)
	var recs []TraceRecord
	if err := json.Unmarshal(r.resp.Output, &recs); err != nil {
		t.Fatalf("output %s: %v", r.resp.Output, err)
	}
	return recs
}

func TestTraceQuery(t *testing.T) {
	s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("S-1", code(1), code(2)), sale("S-2", code(3))))))
	wantOK(t, c.send(t, c.request(InfPurchase, purc(purchase("P-1")))))
	day := map[string]any{"fixmedins_code": sandbox.TestFixmedinsCode, "begndate": "2026-11-27", "enddate": "2026-11-27"}
	recs := traceRecords(t, c.send(t, c.request(InfTraceQuery, traceQuery(day))))
	if len(recs) != 3 || recs[0] != (TraceRecord{"S-1", code(1), "XJ01CAA040A001010100101", "0"}) || recs[2].FixmedinsBchno != "S-2" {
		t.Fatalf("records %+v", recs)
	}
	// Another day, one row, one code.
	other := map[string]any{"fixmedins_code": sandbox.TestFixmedinsCode, "begndate": "2026-11-28", "enddate": "2026-11-30"}
	if recs := traceRecords(t, c.send(t, c.request(InfTraceQuery, traceQuery(other)))); len(recs) != 0 {
		t.Errorf("other days: %+v", recs)
	}
	if recs := traceRecords(t, c.send(t, c.request(InfTraceQuery, traceQuery(map[string]any{
		"fixmedins_code": sandbox.TestFixmedinsCode, "drug_trac_codg": code(3)})))); len(recs) != 1 || recs[0].FixmedinsBchno != "S-2" {
		t.Errorf("by code: %+v", recs)
	}

	// Behind the caller's back: a lost row, a changed code, a foreign sale.
	if !s.LoseRow("S-2") || !s.ChangeCode("S-1", code(2), code(9)) || !s.AddForeignSale(sandbox.TestFixmedinsCode, "X-1", "M", code(7)) {
		t.Fatal("test hooks")
	}
	recs = traceRecords(t, c.send(t, c.request(InfTraceQuery, traceQuery(day))))
	got := map[string][]string{}
	for _, r := range recs {
		got[r.FixmedinsBchno] = append(got[r.FixmedinsBchno], r.DrugTracCodg)
	}
	if len(got) != 2 || len(got["S-1"]) != 2 || got["S-1"][1] != code(9) || got["X-1"][0] != code(7) {
		t.Errorf("after the hooks: %v", got)
	}
	// The lost row's code can be sold again, as the platform no longer has it.
	wantOK(t, c.send(t, c.request(InfSale, sel(sale("S-3", code(3))))))
}

func TestTraceQueryStrict(t *testing.T) {
	base := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"fixmedins_code": sandbox.TestFixmedinsCode, "begndate": "2026-11-01", "enddate": "2026-11-27"}
		edit(m)
		return traceQuery(m)
	}
	for _, tc := range []struct {
		name  string
		input map[string]any
		text  string
	}{
		{"no fixmedins_code", base(func(m map[string]any) { delete(m, "fixmedins_code") }), "必填字段缺失: fixmedins_code"},
		{"another institution", base(func(m map[string]any) { m["fixmedins_code"] = "P99000000002" }), "fixmedins_code"},
		{"begndate alone", base(func(m map[string]any) { delete(m, "enddate") }), "同时填写"},
		{"dates reversed", base(func(m map[string]any) { m["begndate"] = "2026-11-28" }), "早于"},
		{"date with time", base(func(m map[string]any) { m["enddate"] = "2026-11-27 10:00:00" }), "格式错误"},
		{"no condition", base(func(m map[string]any) { delete(m, "begndate"); delete(m, "enddate") }), "查询条件不足"},
		{"number as code", base(func(m map[string]any) { m["drug_trac_codg"] = 1 }), "应为字符串"},
		{"code too long", base(func(m map[string]any) { m["drug_trac_codg"] = code(1) + "12345678901" }), "超长"},
		{"wrong node", map[string]any{"selinfo": map[string]any{"fixmedins_code": sandbox.TestFixmedinsCode}}, "input缺少节点data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
			c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
			wantRefused(t, c.send(t, c.request(InfTraceQuery, tc.input)), tc.text)
		})
	}
}
