package nhsa

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// sameJSON compares two JSON texts as values (field order aside).
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("sent input: %v", err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("golden: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("input\n got %s\nwant %s", got, want)
	}
}

// stockItems: A/L1 ×2, B/L2 ×1 → two rows.
func stockItems() []queue.Item {
	return []queue.Item{item(1, code(prodA, 1), prodA, "L1", 0), item(2, code(prodB, 1), prodB, "L2", 0), item(3, code(prodA, 2), prodA, "L1", 0)}
}

func TestRows3501Golden(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	out := deliver(t, c, bill("PDA1-260127-00003", billtype.StockTake, nil), stockItems())
	if out.Class != upload.Done {
		t.Fatalf("outcome %v: %s", out.Class, out.Message)
	}
	reqs := g.requests()
	if len(reqs) != 1 || reqs[0].FSI.Infno != fsi.InfStockTake {
		t.Fatalf("requests: %+v", reqs)
	}
	// Written by hand from the 3501 tables (hsa-his InsureInventoryCheck.java,
	// openhis Input_3501.cs): invdate is the finish day in UTC+8, inv_cnt the
	// packs, one drugtracinfo node per pack.
	sameJSON(t, reqs[0].FSI.Input, `{"invinfo":[
	 {"med_list_codg":"XJ01CAA040A001010101445","fixmedins_hilist_id":"H-0001","fixmedins_hilist_name":"阿莫西林胶囊",
	  "rx_flag":"1","invdate":"2026-01-27","inv_cnt":2,"manu_lotnum":"L1","fixmedins_bchno":"PDA12601270000301",
	  "manu_date":"2025-07-01","expy_end":"2027-06-30",
	  "drugtracinfo":[{"drug_trac_codg":"81234560000000000001"},{"drug_trac_codg":"81234560000000000002"}]},
	 {"med_list_codg":"XM01AEB017E001010104422","fixmedins_hilist_id":"H-0002","fixmedins_hilist_name":"布洛芬缓释胶囊",
	  "rx_flag":"0","invdate":"2026-01-27","inv_cnt":1,"manu_lotnum":"L2","fixmedins_bchno":"PDA12601270000302",
	  "manu_date":"2025-07-01","expy_end":"2027-06-30",
	  "drugtracinfo":[{"drug_trac_codg":"86543210000000000001"}]}]}`)
}

func TestRows3502Golden(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	cfg.StockChangeTypes = map[int]string{billtype.Destroyed: "T205"} // a test code: the real set is the province's
	c := mustNew(t, cfg)
	b := bill("PDA1-260127-00004", billtype.Destroyed, map[string]string{AttrStockReason: "过期销毁",
		"nhsa.pric." + prodA: "12.5", "nhsa.finl_trns_pric." + prodB: "3"})
	out := deliver(t, c, b, stockItems())
	if out.Class != upload.Done {
		t.Fatalf("outcome %v: %s", out.Class, out.Message)
	}
	reqs := g.requests()
	if len(reqs) != 1 || reqs[0].FSI.Infno != fsi.InfStockChange {
		t.Fatalf("requests: %+v", reqs)
	}
	sameJSON(t, reqs[0].FSI.Input, `{"invinfo":[
	 {"med_list_codg":"XJ01CAA040A001010101445","inv_chg_type":"T205","fixmedins_hilist_id":"H-0001",
	  "fixmedins_hilist_name":"阿莫西林胶囊","fixmedins_bchno":"PDA12601270000401","pric":12.5,"cnt":2,"rx_flag":"1",
	  "inv_chg_time":"2026-01-27 10:15:30","inv_chg_opter_name":"张三","memo":"过期销毁","trdn_flag":"0",
	  "drugtracinfo":[{"drug_trac_codg":"81234560000000000001"},{"drug_trac_codg":"81234560000000000002"}]},
	 {"med_list_codg":"XM01AEB017E001010104422","inv_chg_type":"T205","fixmedins_hilist_id":"H-0002",
	  "fixmedins_hilist_name":"布洛芬缓释胶囊","fixmedins_bchno":"PDA12601270000402","pric":3,"cnt":1,"rx_flag":"0",
	  "inv_chg_time":"2026-01-27 10:15:30","inv_chg_opter_name":"张三","memo":"过期销毁","trdn_flag":"0",
	  "drugtracinfo":[{"drug_trac_codg":"86543210000000000001"}]}]}`)
}

func TestRows3502Held(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	cfg.StockChangeTypes = map[int]string{billtype.Damaged: "T215"}
	c := mustNew(t, cfg)
	cases := []struct {
		name  string
		typ   int
		attrs map[string]string
		want  []string
	}{
		{"no code for the type", billtype.Destroyed, map[string]string{"nhsa.pric." + prodA: "1", "nhsa.pric." + prodB: "1"},
			[]string{"nhsa.stock_change_types has no code for bill type 205"}},
		{"no price", billtype.Damaged, map[string]string{"nhsa.pric." + prodA: "1"},
			[]string{"pric: bill attr nhsa.pric." + prodB + " is empty"}},
		{"bad price", billtype.Damaged, map[string]string{"nhsa.pric." + prodA: "-1", "nhsa.pric." + prodB: "1"},
			[]string{"nhsa.pric." + prodA + ` is "-1"`}},
	}
	for _, tc := range cases {
		out := deliver(t, c, bill("PDA1-260127-00005", tc.typ, tc.attrs), stockItems())
		if out.Class != upload.Retry || !strings.Contains(out.Message, "held back") {
			t.Errorf("%s: %v %s", tc.name, out.Class, out.Message)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.Message, w) {
				t.Errorf("%s: message lacks %q: %s", tc.name, w, out.Message)
			}
		}
	}
	if n := len(g.requests()); n != 0 {
		t.Errorf("%d requests sent for held bills", n)
	}
	// A price of 0 is a price (a gift), not a missing one.
	out := deliver(t, c, bill("PDA1-260127-00006", billtype.Damaged, map[string]string{"nhsa.pric." + prodA: "0", "nhsa.pric." + prodB: "0"}), stockItems())
	if out.Class != upload.Done {
		t.Errorf("price 0: %v %s", out.Class, out.Message)
	}
}

func TestStockChangeTypesChecked(t *testing.T) {
	for _, m := range []map[int]string{{billtype.RetailSale: "1"}, {billtype.Destroyed: ""}, {billtype.Destroyed: "1234567"}, {billtype.Destroyed: " 1"}} {
		cfg := baseConfig(&fixture{}, "http://127.0.0.1:1", testCatalogue(t))
		cfg.StockChangeTypes = m
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "stock_change_types") {
			t.Errorf("%v: err %v", m, err)
		}
	}
	if err := CheckStockChangeTypes(map[int]string{billtype.StockGain: "101", billtype.TransferIn: "A"}); err != nil {
		t.Errorf("valid table refused: %v", err)
	}
}

func TestInterfaceStock(t *testing.T) {
	for typ, want := range map[int]string{billtype.StockTake: "3501", billtype.Destroyed: "3502", billtype.StockGain: "3502",
		billtype.TransferOut: "3502", billtype.TransferIn: "3502", billtype.RetailSale: "3505"} {
		if got, ok := Interface(typ); !ok || got != want {
			t.Errorf("Interface(%d) = %q %v, want %s", typ, got, ok, want)
		}
	}
	if _, ok := Interface(201); ok {
		t.Error("201 销售出库 is not a 医保 进销存 type")
	}
}
