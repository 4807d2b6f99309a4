package sandbox_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// inputCase sends one input to a fresh sandbox that holds a 3503
// (bchno "P-0") and a 3505 (bchno "S-0", code(0)), so that returns and
// deletes have something to name.
type inputCase struct {
	name   string
	infno  string
	input  func(t *testing.T) any
	reason string
	text   string
}

// rowEdit builds an input whose single row is base edited.
func rowEdit(node string, base any, edit func(m map[string]any)) func(t *testing.T) any {
	return func(t *testing.T) any {
		m := toMap(t, base)
		edit(m)
		return map[string]any{node: m}
	}
}

func saleEdit(edit func(m map[string]any)) func(t *testing.T) any {
	return rowEdit(NodeSale, sale("S-1", code(1)), edit)
}

func setTrac(codes ...any) func(m map[string]any) {
	return func(m map[string]any) {
		var l []any
		for _, c := range codes {
			l = append(l, map[string]any{"drug_trac_codg": c})
		}
		m["drugtracinfo"] = l
	}
}

func runInputCases(t *testing.T, cases []inputCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, sandbox.SchemeNone, sandbox.EnvelopePlain)
			c := newClient(s, sandbox.SchemeNone, sandbox.EnvelopePlain)
			wantOK(t, c.send(t, c.request(InfPurchase, purc(purchase("P-0")))))
			wantOK(t, c.send(t, c.request(InfSale, sel(sale("S-0", code(0))))))
			r := c.send(t, c.request(tc.infno, tc.input(t)))
			if tc.reason == "" {
				wantOK(t, r)
				return
			}
			wantRefused(t, r, tc.text)
			if st := s.Stats(); st.Rejected[tc.reason] != 1 || len(s.Rows()) != 2 {
				t.Errorf("rejected %v, %d rows", st.Rejected, len(s.Rows()))
			}
		})
	}
}

// TestRequiredFields removes, then empties, every Required* field of
// every interface.
func TestRequiredFields(t *testing.T) {
	var cases []inputCase
	for _, it := range []struct {
		infno    string
		node     string
		base     any
		required []string
	}{
		{InfPurchase, NodePurchase, purchase("P-1"), RequiredPurchase()},
		{InfPurchaseReturn, NodePurchase, purchaseReturn("P-2", "P-0", 1), RequiredPurchaseReturn()},
		{InfSale, NodeSale, sale("S-1", code(1)), RequiredSale()},
		{InfSaleReturn, NodeSale, saleReturn("S-2", "SEL-S-0", code(0)), RequiredSaleReturn()},
		{InfDelete, NodeDelete, Delete{FixmedinsBchno: "S-0", InvDataType: "4"}, []string{"fixmedins_bchno", "inv_data_type"}},
	} {
		cases = append(cases, inputCase{name: it.infno + " complete", infno: it.infno,
			input: rowEdit(it.node, it.base, func(map[string]any) {})})
		for _, f := range it.required {
			cases = append(cases, inputCase{name: it.infno + " without " + f, infno: it.infno,
				input:  rowEdit(it.node, it.base, func(m map[string]any) { delete(m, f) }),
				reason: "missing_field", text: "必填字段缺失: " + f})
			empty := func(m map[string]any) {
				switch m[f].(type) {
				case string:
					m[f] = ""
				case []any:
					m[f] = []any{}
				default:
					m[f] = nil
				}
			}
			cases = append(cases, inputCase{name: it.infno + " with empty " + f, infno: it.infno,
				input: rowEdit(it.node, it.base, empty), reason: "missing_field", text: f})
		}
	}
	runInputCases(t, cases)
}

func TestInputRules(t *testing.T) {
	long := strings.Repeat("9", 101)
	runInputCases(t, []inputCase{
		{"wrong node", InfSale, func(t *testing.T) any { return purc(purchase("P-1")) }, "missing_node", "input缺少节点selinfo"},
		{"null node", InfSale, func(t *testing.T) any { return map[string]any{"selinfo": nil} }, "missing_node", "selinfo"},
		{"node a string", InfSale, func(t *testing.T) any { return map[string]any{"selinfo": "x"} }, "invalid_row", "selinfo应为JSON对象"},
		{"empty list", InfSale, func(t *testing.T) any { return map[string]any{"selinfo": []any{}} }, "invalid_row", "非空"},
		{"list element not an object", InfSale, func(t *testing.T) any {
			return map[string]any{"selinfo": []any{sale("S-1", code(1)), 1}}
		}, "invalid_row", "selinfo[1]应为JSON对象"},
		{"3507 list", InfDelete, func(t *testing.T) any {
			return map[string]any{"data": []any{Delete{FixmedinsBchno: "S-0", InvDataType: "4"}}}
		}, "invalid_row", "data应为JSON对象"},
		{"count as string", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_cnt"] = "1" }), "wrong_type", "sel_retn_cnt应为数值"},
		{"code as number", InfSale, saleEdit(func(m map[string]any) { m["med_list_codg"] = 123 }), "wrong_type", "med_list_codg应为字符串"},
		{"optional field wrong type", InfSale, saleEdit(func(m map[string]any) { m["memo"] = 1 }), "wrong_type", "memo应为字符串"},
		{"drugtracinfo an object", InfSale, saleEdit(func(m map[string]any) {
			m["drugtracinfo"] = map[string]any{"drug_trac_codg": code(1)}
		}), "wrong_type", "drugtracinfo应为对象数组"},
		{"drugtracinfo of strings", InfSale, saleEdit(func(m map[string]any) { m["drugtracinfo"] = []any{code(1)} }), "wrong_type", "drugtracinfo[0]应为对象"},
		{"null optional field", InfSale, saleEdit(func(m map[string]any) { m["memo"] = nil }), "", ""},
		{"bchno 31 characters", InfSale, saleEdit(func(m map[string]any) { m["fixmedins_bchno"] = strings.Repeat("B", 31) }), "too_long", "fixmedins_bchno超长"},
		{"memo 501 characters", InfSale, saleEdit(func(m map[string]any) { m["memo"] = strings.Repeat("备", 501) }), "too_long", "memo"},
		{"manu_date with slashes", InfSale, saleEdit(func(m map[string]any) { m["manu_date"] = "2026/03/01" }), "invalid_date", "manu_date"},
		{"30 February", InfSale, saleEdit(func(m map[string]any) { m["expy_end"] = "2027-02-30" }), "invalid_date", "expy_end"},
		{"expiry before manufacture", InfSale, saleEdit(func(m map[string]any) { m["expy_end"] = "2026-02-28" }), "expiry_before_manufacture", "早于生产日期"},
		{"sale time ISO", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_time"] = "2026-11-27T10:00:00" }), "invalid_time", "sel_retn_time"},
		{"sale time tomorrow", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_time"] = "2026-11-28 10:00:00" }), "future_time", "晚于当前时间"},
		{"sale a month ago", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_time"] = "2026-10-27 10:00:00" }), "", ""},
		{"count 0", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_cnt"] = 0 }), "invalid_count", "应大于0"},
		{"count -1", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_cnt"] = -1 }), "invalid_count", "应大于0"},
		{"count 5 decimals", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_cnt"] = json.Number("1.00001") }), "invalid_number", "最多4位小数"},
		{"count with exponent", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_cnt"] = json.Number("1e0") }), "invalid_number", "sel_retn_cnt"},
		{"whole count not whole", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_cnt"] = 1.5 }), "invalid_count", "应为整数"},
		{"whole count ≠ codes", InfSale, saleEdit(func(m map[string]any) { m["sel_retn_cnt"] = 2 }), "code_count", "不一致"},
		{"negative price", InfSale, saleEdit(func(m map[string]any) { m["finl_trns_pric"] = -1 }), "invalid_number", "finl_trns_pric"},
		{"price 7 decimals", InfSale, saleEdit(func(m map[string]any) { m["finl_trns_pric"] = json.Number("1.1234567") }), "invalid_number", "finl_trns_pric"},
		{"price 6 decimals", InfSale, saleEdit(func(m map[string]any) { m["finl_trns_pric"] = json.Number("1.123456") }), "", ""},
		{"trdn_flag 2", InfSale, saleEdit(func(m map[string]any) { m["trdn_flag"] = "2" }), "invalid_flag", "trdn_flag"},
		{"rx_circ_flag Y", InfSale, saleEdit(func(m map[string]any) { m["rx_circ_flag"] = "Y" }), "invalid_flag", "rx_circ_flag"},
		{"empty code", InfSale, saleEdit(setTrac("")), "invalid_code", "为空"},
		{"code of 101 characters", InfSale, saleEdit(setTrac(long)), "invalid_code", "超长"},
		{"code of 100 characters", InfSale, saleEdit(setTrac(long[:100])), "", ""},
		{"code with a space", InfSale, saleEdit(setTrac(" " + code(1))), "invalid_code", "空白"},
		{"code with a newline", InfSale, saleEdit(setTrac(code(1)[:10] + "\n" + code(1)[10:])), "invalid_code", "控制字符"},
		{"GS1 code with GS", InfSale, saleEdit(setTrac("0106912345678901172812311010A1\x1d21ABC123")), "", ""},
		{"code as number", InfSale, saleEdit(setTrac(json.Number("81234567000000000001"))), "invalid_code", "不是字符串"},
		{"code node without code", InfSale, saleEdit(func(m map[string]any) { m["drugtracinfo"] = []any{map[string]any{}} }), "invalid_code", "缺失"},
		{"code twice in a row", InfSale, saleEdit(func(m map[string]any) {
			setTrac(code(1), code(1))(m)
			m["sel_retn_cnt"] = 2
		}), "duplicate_code", "重复"},
		{"split with one code", InfSale, saleEdit(func(m map[string]any) { m["trdn_flag"], m["sel_retn_cnt"] = "1", 0.5 }), "", ""},
		{"bchno twice in a call", InfSale, func(t *testing.T) any { return sel(sale("S-1", code(1)), sale("S-1", code(2))) },
			"bchno_twice_in_call", "出现多次"},
		{"code in two rows", InfSale, func(t *testing.T) any { return sel(sale("S-1", code(1)), sale("S-2", code(1))) },
			"duplicate_code", "同一请求中出现多次"},
		{"code in two split rows", InfSale, func(t *testing.T) any {
			return sel(splitSale("S-1", 2, code(1)), splitSale("S-2", 3, code(1)))
		}, "", ""},
		{"two rows", InfSale, func(t *testing.T) any { return sel(sale("S-1", code(1)), sale("S-2", code(2), code(3))) }, "", ""},
		{"purchase list", InfPurchase, func(t *testing.T) any { return purc(purchase("P-1"), purchase("P-2")) }, "", ""},
		{"prod_geay_flag 2", InfPurchase, rowEdit(NodePurchase, purchase("P-1"), func(m map[string]any) { m["prod_geay_flag"] = "2" }),
			"invalid_flag", "prod_geay_flag"},
		{"purchase count 0", InfPurchase, rowEdit(NodePurchase, purchase("P-1"), func(m map[string]any) { m["purc_retn_cnt"] = 0 }),
			"invalid_count", "purc_retn_cnt"},
		{"purchase fractional count", InfPurchase, rowEdit(NodePurchase, purchase("P-1"), func(m map[string]any) { m["purc_retn_cnt"] = 2.5 }),
			"", ""},
		{"stock-in time", InfPurchase, rowEdit(NodePurchase, purchase("P-1"), func(m map[string]any) { m["purc_retn_stoin_time"] = "2026-11-27" }),
			"invalid_time", "purc_retn_stoin_time"},
		{"purchase with codes", InfPurchase, rowEdit(NodePurchase, purchase("P-1"), setTrac(code(7), code(8))), "", ""},
		{"inv_data_type 5", InfDelete, func(t *testing.T) any { return del("S-0", "5") }, "invalid_flag", "inv_data_type"},
	})
}
