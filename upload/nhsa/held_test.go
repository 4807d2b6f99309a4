package nhsa

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
)

// Each case removes one datum from an otherwise complete bill; the bill is
// held back, nothing is sent, no msgid is drawn, and the message names the
// datum and the code or product it is missing for.
func TestHeldBack(t *testing.T) {
	type tc struct {
		name  string
		typ   int
		edit  func(b *queue.Bill, items []queue.Item, cfg *Config)
		wants []string
	}
	noAttr := func(key string) func(*queue.Bill, []queue.Item, *Config) {
		return func(b *queue.Bill, _ []queue.Item, _ *Config) { delete(b.Attrs, "nhsa."+key) }
	}
	cases := []tc{
		{name: "product not in catalogue", typ: billtype.RetailSale,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[3].Product = "8999999" },
			wants: []string{"product 8999999 (code " + code(prodB, 11) + ") is not in the catalogue"}},
		{name: "no product key", typ: billtype.Purchase,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[3].Product = "" },
			wants: []string{"no product key", code(prodB, 1)}},
		{name: "catalogue lacks med_list_codg", typ: billtype.Purchase,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[3].Product = prodNoCodg },
			wants: []string{"med_list_codg: catalogue med_list_codg of product " + prodNoCodg + " is empty"}},
		{name: "no lot", typ: billtype.RetailSale,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[3].Lot = "" },
			wants: []string{"manu_lotnum: lot of code " + code(prodB, 11) + " (product " + prodB + ") is empty"}},
		{name: "no production date", typ: billtype.Purchase,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[3].Produced = "" },
			wants: []string{"manu_date: production date of code " + code(prodB, 1) + " (product " + prodB + ") is empty"}},
		{name: "no expiry", typ: billtype.Purchase,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[3].Expiry = "" },
			wants: []string{"expy_end: expiry date of code " + code(prodB, 1)}},
		{name: "bad date", typ: billtype.RetailSale,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[0].Expiry = "20270630" },
			wants: []string{"expy_end: expiry date of codes " + code(prodA, 11), `"20270630", not a yyyy-MM-dd date`}},
		{name: "no supplier", typ: billtype.Purchase,
			edit:  func(b *queue.Bill, _ []queue.Item, _ *Config) { b.Partner = "" },
			wants: []string{"spler_name: the bill has no partner (the supplier's ent_id)"}},
		{name: "unknown supplier", typ: billtype.Purchase,
			edit:  func(b *queue.Bill, _ []queue.Item, _ *Config) { b.Partner = "ffffffffffffffffffffffffffffffff" },
			wants: []string{"spler_name: supplier ffffffffffffffffffffffffffffffff is not among the catalogue's partners"}},
		{name: "no mdtrt_sn", typ: billtype.RetailSale, edit: noAttr("mdtrt_sn"),
			wants: []string{"mdtrt_sn: bill attr nhsa.mdtrt_sn is empty"}},
		{name: "no psn_cert_type", typ: billtype.RetailSale, edit: noAttr("psn_cert_type"),
			wants: []string{"psn_cert_type: bill attr nhsa.psn_cert_type is empty"}},
		{name: "no hi_feesetl_type", typ: billtype.RetailSale, edit: noAttr("hi_feesetl_type"),
			wants: []string{"hi_feesetl_type: bill attr nhsa.hi_feesetl_type is empty"}},
		{name: "no rx_circ_flag", typ: billtype.RetailSale, edit: noAttr("rx_circ_flag"),
			wants: []string{"rx_circ_flag: bill attr nhsa.rx_circ_flag is empty"}},
		{name: "no prescriber", typ: billtype.RetailSale, edit: noAttr("prsc_dr_name"),
			wants: []string{"prsc_dr_name: bill attr nhsa.prsc_dr_name is empty"}},
		{name: "no setl_id for 医保结算", typ: billtype.RetailSale, edit: noAttr("setl_id"),
			wants: []string{"setl_id: bill attr nhsa.setl_id is empty, required when mdtrt_setl_type is 1"}},
		{name: "no pharmacist", typ: billtype.RetailSale,
			edit:  func(_ *queue.Bill, _ []queue.Item, c *Config) { c.PharName, c.PharPracCertNo = "", "" },
			wants: []string{"phar_name: config phar_name (the store's pharmacist) is empty", "phar_prac_cert_no: config phar_prac_cert_no"}},
		{name: "bad price", typ: billtype.RetailSale,
			edit:  func(b *queue.Bill, _ []queue.Item, _ *Config) { b.Attrs["nhsa.finl_trns_pric."+prodA] = "12,5" },
			wants: []string{"finl_trns_pric: bill attr nhsa.finl_trns_pric." + prodA + ` is "12,5"`}},
		{name: "bad insuplc_admdvs", typ: billtype.RetailSale,
			edit:  func(b *queue.Bill, _ []queue.Item, _ *Config) { b.Attrs["nhsa.insuplc_admdvs"] = "37" },
			wants: []string{"insuplc_admdvs: bill attr nhsa.insuplc_admdvs is \"37\""}},
		{name: "too long", typ: billtype.RetailSale,
			edit:  func(b *queue.Bill, _ []queue.Item, _ *Config) { b.Attrs["nhsa.psn_name"] = strings.Repeat("名", 51) },
			wants: []string{"psn_name: bill attr nhsa.psn_name is 51 characters, at most 50 allowed"}},
		{name: "return without original", typ: billtype.CustomerReturn,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[0].Ref = "" },
			wants: []string{"medins_prod_sel_no: code " + code(prodA, 11) + " has no original sale bill", "nhsa.medins_prod_sel_no"}},
		{name: "several at once", typ: billtype.RetailSale,
			edit: func(b *queue.Bill, it []queue.Item, _ *Config) {
				delete(b.Attrs, "nhsa.mdtrt_sn")
				it[3].Product = "8999999"
			},
			wants: []string{"mdtrt_sn", "product 8999999"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGW(t, AuthNone, EnvelopePlain)
			f := &fixture{originals: map[string][]queue.Item{}}
			cfg := baseConfig(f, g.srv.URL, testCatalogue(t))
			var items []queue.Item
			switch tc.typ {
			case billtype.RetailSale, billtype.CustomerReturn:
				items = saleItems()
			default:
				items = purchaseItems()
			}
			if tc.typ == billtype.CustomerReturn {
				for i := range items {
					items[i].Ref = "PDA1-260120-00007"
				}
				f.originals["PDA1-260120-00007"] = saleItems()
			}
			attrs := maps.Clone(saleAttrs())
			b := bill("PDA1-260127-00010", tc.typ, attrs)
			tc.edit(&b, items, &cfg)
			c := mustNew(t, cfg)
			out := deliver(t, c, b, items)
			if out.Class != upload.Retry || out.RetryAfter != 7*time.Minute || !strings.HasPrefix(out.Message, "held back: ") {
				t.Fatalf("outcome %v after %v: %s", out.Class, out.RetryAfter, out.Message)
			}
			for _, w := range tc.wants {
				if !strings.Contains(out.Message, w) {
					t.Errorf("message lacks %q:\n%s", w, out.Message)
				}
			}
			if n := len(g.requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
			if f.seq.Load() != 0 {
				t.Error("a msgid was drawn for a held-back bill")
			}
			if !strings.Contains(out.Progress, `"state":"held"`) {
				t.Errorf("progress %s", out.Progress)
			}
		})
	}
}

// A complete bill with missing optional data is not held back.
func TestNotHeldForOptionalData(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	attrs := saleAttrs()
	for _, k := range []string{"nhsa.psn_no", "nhsa.certno", "nhsa.psn_name", "nhsa.rxno", "nhsa.finl_trns_pric." + prodA} {
		delete(attrs, k)
	}
	items := saleItems()
	items[1].Expiry, items[4].Expiry = "", "" // expy_end is not required on 3505
	if out := deliver(t, c, bill("PDA1-260127-00011", billtype.RetailSale, attrs), items); out.Class != upload.Done {
		t.Fatalf("%v %s", out.Class, out.Message)
	}
}

// TestOptionalFields: a province that does not require 3505's
// rx_circ_flag and hi_feesetl_type (public tables differ) takes a sale
// without them; without the setting the same sale is held, and a field
// that is not a required one of the interface is refused at New.
func TestOptionalFields(t *testing.T) {
	attrs := maps.Clone(saleAttrs())
	delete(attrs, "nhsa.rx_circ_flag")
	delete(attrs, "nhsa.hi_feesetl_type")
	for _, optional := range []bool{false, true} {
		g := newGW(t, AuthNone, EnvelopePlain)
		cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
		if optional {
			cfg.OptionalFields = []string{"3505.rx_circ_flag", "3505.hi_feesetl_type"}
		}
		out := deliver(t, mustNew(t, cfg), bill("PDA1-260127-00011", billtype.RetailSale, attrs), saleItems())
		switch {
		case optional && out.Class != upload.Done:
			t.Fatalf("optional: %v %s", out.Class, out.Message)
		case !optional && (out.Class != upload.Retry || !strings.Contains(out.Message, "rx_circ_flag") || !strings.Contains(out.Message, "hi_feesetl_type")):
			t.Fatalf("required: %v %s", out.Class, out.Message)
		}
		if optional {
			if rows := sentSales(t, g.requests()[0]); rows[0].RxCircFlag != "" || rows[0].HiFeesetlType != "" {
				t.Errorf("rows carry values nobody gave: %+v", rows[0])
			}
		}
	}
	for _, bad := range []string{"3505.certno", "3505", "9999.rx_circ_flag", "3506.rx_circ_flag"} {
		cfg := baseConfig(&fixture{}, "http://127.0.0.1:1/", testCatalogue(t))
		cfg.OptionalFields = []string{bad}
		if _, err := New(cfg); err == nil {
			t.Errorf("optional field %q accepted", bad)
		}
	}
}
