package sandbox_test

import (
	"testing"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// The tests' own 3501/3502 rows, from fengzaiqishi11/hsa-his
// …/insure/stock/entity/InsureInventoryCheck.java and
// InsureInventoryStockUpdate.java, and newtouch-cloud/openhis
// …/Models/Input/YiBao/Input_3501.cs and Input_3502.cs.
const (
	InfStockTake   = "3501"
	InfStockChange = "3502"
	NodeInventory  = "invinfo"
)

type StockTakeRow struct {
	MedListCodg         string     `json:"med_list_codg"`
	FixmedinsHilistID   string     `json:"fixmedins_hilist_id"`
	FixmedinsHilistName string     `json:"fixmedins_hilist_name"`
	RxFlag              string     `json:"rx_flag"`
	Invdate             string     `json:"invdate"`
	InvCnt              float64    `json:"inv_cnt"`
	ManuLotnum          string     `json:"manu_lotnum,omitempty"`
	FixmedinsBchno      string     `json:"fixmedins_bchno"`
	ManuDate            string     `json:"manu_date"`
	ExpyEnd             string     `json:"expy_end"`
	Memo                string     `json:"memo,omitempty"`
	DrugTracInfo        []TracInfo `json:"drugtracinfo,omitempty"`
}

type StockChangeRow struct {
	MedListCodg         string     `json:"med_list_codg"`
	InvChgType          string     `json:"inv_chg_type"`
	FixmedinsHilistID   string     `json:"fixmedins_hilist_id"`
	FixmedinsHilistName string     `json:"fixmedins_hilist_name"`
	FixmedinsBchno      string     `json:"fixmedins_bchno"`
	Pric                float64    `json:"pric"`
	Cnt                 float64    `json:"cnt"`
	RxFlag              string     `json:"rx_flag"`
	InvChgTime          string     `json:"inv_chg_time"`
	InvChgOpterName     string     `json:"inv_chg_opter_name,omitempty"`
	Memo                string     `json:"memo,omitempty"`
	TrdnFlag            string     `json:"trdn_flag"`
	DrugTracInfo        []TracInfo `json:"drugtracinfo,omitempty"`
}

func stockTake(bchno string, codes ...string) StockTakeRow {
	r := StockTakeRow{MedListCodg: "XJ01CAA040A001010100101", FixmedinsHilistID: "H-AMOX-0250", FixmedinsHilistName: "阿莫西林胶囊",
		RxFlag: "1", Invdate: "2026-11-27", InvCnt: float64(len(codes)), ManuLotnum: "L20260301", FixmedinsBchno: bchno,
		ManuDate: "2026-03-01", ExpyEnd: "2028-02-28"}
	for _, c := range codes {
		r.DrugTracInfo = append(r.DrugTracInfo, TracInfo{DrugTracCodg: c})
	}
	return r
}

func stockChange(bchno, typ string, codes ...string) StockChangeRow {
	r := StockChangeRow{MedListCodg: "XJ01CAA040A001010100101", InvChgType: typ, FixmedinsHilistID: "H-AMOX-0250",
		FixmedinsHilistName: "阿莫西林胶囊", FixmedinsBchno: bchno, Pric: 12.5, Cnt: float64(len(codes)), RxFlag: "1",
		InvChgTime: "2026-11-27 10:00:00", InvChgOpterName: "王药师", Memo: "过期", TrdnFlag: "0"}
	for _, c := range codes {
		r.DrugTracInfo = append(r.DrugTracInfo, TracInfo{DrugTracCodg: c})
	}
	return r
}

func TestStockRequiredFields(t *testing.T) {
	var cases []inputCase
	for _, it := range []struct {
		infno    string
		base     any
		required []string
	}{
		{InfStockTake, stockTake("T-1", code(5), code(6)), []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name",
			"rx_flag", "invdate", "inv_cnt", "fixmedins_bchno", "manu_date", "expy_end", "drugtracinfo"}},
		{InfStockChange, stockChange("C-1", "101", code(5)), []string{"med_list_codg", "inv_chg_type", "fixmedins_hilist_id",
			"fixmedins_hilist_name", "fixmedins_bchno", "pric", "cnt", "rx_flag", "inv_chg_time", "trdn_flag", "drugtracinfo"}},
	} {
		cases = append(cases, inputCase{name: it.infno + " complete", infno: it.infno,
			input: rowEdit(NodeInventory, it.base, func(map[string]any) {})})
		for _, f := range it.required {
			cases = append(cases, inputCase{name: it.infno + " without " + f, infno: it.infno,
				input:  rowEdit(NodeInventory, it.base, func(m map[string]any) { delete(m, f) }),
				reason: "missing_field", text: "必填字段缺失: " + f})
		}
	}
	runInputCases(t, cases)
}

func TestStockRules(t *testing.T) {
	take := func(edit func(m map[string]any)) func(t *testing.T) any {
		return rowEdit(NodeInventory, stockTake("T-1", code(5)), edit)
	}
	chg := func(edit func(m map[string]any)) func(t *testing.T) any {
		return rowEdit(NodeInventory, stockChange("C-1", "101", code(5)), edit)
	}
	runInputCases(t, []inputCase{
		{"3501 in selinfo", InfStockTake, func(t *testing.T) any { return sel(sale("S-1", code(1))) }, "missing_node", "input缺少节点invinfo"},
		{"3501 invdate with time", InfStockTake, take(func(m map[string]any) { m["invdate"] = "2026-11-27 10:00:00" }), "invalid_date", "invdate"},
		{"3501 inv_cnt 0", InfStockTake, take(func(m map[string]any) { m["inv_cnt"] = 0 }), "invalid_count", "inv_cnt"},
		{"3501 inv_cnt 3 decimals", InfStockTake, take(func(m map[string]any) { m["inv_cnt"] = 1.125 }), "invalid_number", "inv_cnt"},
		{"3501 inv_cnt as string", InfStockTake, take(func(m map[string]any) { m["inv_cnt"] = "1" }), "wrong_type", "inv_cnt应为数值"},
		{"3501 expiry before production", InfStockTake, take(func(m map[string]any) { m["expy_end"] = "2025-01-01" }), "expiry_before_manufacture", "有效期止"},
		{"3501 without lot", InfStockTake, take(func(m map[string]any) { delete(m, "manu_lotnum") }), "", ""},
		{"3502 time without seconds", InfStockChange, chg(func(m map[string]any) { m["inv_chg_time"] = "2026-11-27 10:00" }), "invalid_time", "inv_chg_time"},
		{"3502 future time", InfStockChange, chg(func(m map[string]any) { m["inv_chg_time"] = "2027-11-27 10:00:00" }), "future_time", "inv_chg_time"},
		{"3502 negative price", InfStockChange, chg(func(m map[string]any) { m["pric"] = -1 }), "invalid_number", "pric"},
		{"3502 price 0", InfStockChange, chg(func(m map[string]any) { m["pric"] = 0 }), "", ""},
		{"3502 trdn_flag 2", InfStockChange, chg(func(m map[string]any) { m["trdn_flag"] = "2" }), "invalid_flag", "trdn_flag"},
		{"3502 count differs from codes", InfStockChange, chg(func(m map[string]any) { m["cnt"] = 2 }), "code_count", "追溯码个数"},
		{"3502 inv_chg_type too long", InfStockChange, chg(func(m map[string]any) { m["inv_chg_type"] = "1234567" }), "too_long", "inv_chg_type"},
	})
}

// TestStockChangeTypes: with the province's code set given, another code
// is refused; rows of both interfaces are kept and deleted by their own
// inv_data_type.
func TestStockChangeTypes(t *testing.T) {
	o := testOptions(sandbox.SchemeNone, sandbox.EnvelopePlain)
	o.ChangeTypes = []string{"101", "102"}
	s := sandbox.New(o)
	c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
	wantRefused(t, c.send(t, c.request(InfStockChange, map[string]any{NodeInventory: stockChange("C-1", "999", code(5))})), "inv_chg_type[999]")
	wantOK(t, c.send(t, c.request(InfStockChange, map[string]any{NodeInventory: []StockChangeRow{stockChange("C-1", "101", code(5))}})))
	wantOK(t, c.send(t, c.request(InfStockTake, map[string]any{NodeInventory: []StockTakeRow{stockTake("T-1", code(6), code(7))}})))
	rows := s.Rows()
	if len(rows) != 2 || rows[0].Infno != InfStockChange || rows[1].Infno != InfStockTake || rows[1].Count != 2 || len(rows[1].Codes) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	wantRefused(t, c.send(t, c.request(InfDelete, map[string]any{NodeDelete: Delete{FixmedinsBchno: "T-1", InvDataType: DeleteStock}})), "inv_data_type")
	wantOK(t, c.send(t, c.request(InfDelete, map[string]any{NodeDelete: Delete{FixmedinsBchno: "T-1", InvDataType: DeleteInventory}})))
	wantOK(t, c.send(t, c.request(InfDelete, map[string]any{NodeDelete: Delete{FixmedinsBchno: "C-1", InvDataType: DeleteStock}})))
}
