package nhsa

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
)

// Check names, field by field and with what to fix, exactly what Deliver
// would hold the bill back for, and sends nothing.
func TestCheckNamesWhatDeliverHoldsFor(t *testing.T) {
	type want struct{ field, source string }
	cases := []struct {
		name  string
		typ   int
		edit  func(b *queue.Bill, items []queue.Item, cfg *Config)
		wants []want
	}{
		{name: "complete sale", typ: billtype.RetailSale, edit: func(*queue.Bill, []queue.Item, *Config) {}},
		{name: "README cashier example", typ: billtype.RetailSale,
			edit: func(b *queue.Bill, _ []queue.Item, _ *Config) {
				b.Attrs = map[string]string{"nhsa.mdtrt_sn": "MD1", "nhsa.setl_id": "SE1"}
			},
			wants: []want{{"prsc_dr_name", "attr nhsa.prsc_dr_name"}, {"hi_feesetl_type", "attr nhsa.hi_feesetl_type"},
				{"psn_cert_type", "attr nhsa.psn_cert_type"}, {"rx_circ_flag", "attr nhsa.rx_circ_flag"}}},
		{name: "no pharmacist", typ: billtype.RetailSale,
			edit:  func(_ *queue.Bill, _ []queue.Item, c *Config) { c.PharName = "" },
			wants: []want{{"phar_name", "config nhsa.phar_name"}}},
		{name: "product not in catalogue", typ: billtype.RetailSale,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[3].Product = "8999999" },
			wants: []want{{"product", "catalogue"}}},
		{name: "no lot", typ: billtype.RetailSale,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[3].Lot = "" },
			wants: []want{{"manu_lotnum", "code"}}},
		{name: "unknown supplier", typ: billtype.Purchase,
			edit:  func(b *queue.Bill, _ []queue.Item, _ *Config) { b.Partner = "ffffffffffffffffffffffffffffffff" },
			wants: []want{{"spler_name", "catalogue"}}},
		{name: "no supplier", typ: billtype.Purchase,
			edit:  func(b *queue.Bill, _ []queue.Item, _ *Config) { b.Partner = "" },
			wants: []want{{"spler_name", "partner"}}},
		{name: "bad price", typ: billtype.RetailSale,
			edit:  func(b *queue.Bill, _ []queue.Item, _ *Config) { b.Attrs["nhsa.finl_trns_pric."+prodA] = "12,5" },
			wants: []want{{"finl_trns_pric", "attr nhsa.finl_trns_pric." + prodA}}},
		{name: "return without original nor attr", typ: billtype.CustomerReturn,
			edit:  func(_ *queue.Bill, it []queue.Item, _ *Config) { it[0].Ref = "" },
			wants: []want{{"medins_prod_sel_no", "attr nhsa.medins_prod_sel_no"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGW(t, AuthNone, EnvelopePlain)
			f := &fixture{originals: map[string][]queue.Item{}}
			cfg := baseConfig(f, g.srv.URL, testCatalogue(t))
			items := saleItems()
			if tc.typ == billtype.Purchase {
				items = purchaseItems()
			}
			if tc.typ == billtype.CustomerReturn {
				for i := range items {
					items[i].Ref = "PDA1-260120-00007"
				}
				f.originals["PDA1-260120-00007"] = saleItems()
			}
			b := bill("PDA1-260127-00020", tc.typ, maps.Clone(saleAttrs()))
			tc.edit(&b, items, &cfg)
			c := mustNew(t, cfg)

			got := c.Check(context.Background(), b, items)
			if n := len(g.requests()); n != 0 || f.seq.Load() != 0 {
				t.Fatalf("Check sent %d requests, drew %d msgids", n, f.seq.Load())
			}
			for _, w := range tc.wants {
				found := false
				for _, m := range got {
					if m.Field == w.field && m.Source == w.source && strings.Contains(m.Detail, w.field) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing %s from %s not named; got %+v", w.field, w.source, got)
				}
			}
			if len(tc.wants) == 0 && len(got) != 0 {
				t.Errorf("a complete bill lacks %+v", got)
			}
			// Deliver agrees: held back with the same reasons, or sent.
			out := deliver(t, c, b, items)
			if held := HeldBack(out); held != (len(got) > 0) {
				t.Fatalf("Check found %d missing; Deliver %v: %s", len(got), out.Class, out.Message)
			}
			for _, m := range got {
				_, problem, _ := strings.Cut(m.Detail, "）: ")
				if problem == "" {
					problem = m.Detail
				}
				if !strings.Contains(out.Message, problem) {
					t.Errorf("Deliver's message lacks %q:\n%s", problem, out.Message)
				}
			}
		})
	}
}

func TestUsesAttrAndHeldBack(t *testing.T) {
	c := mustNew(t, baseConfig(&fixture{}, "http://127.0.0.1:1", testCatalogue(t)))
	if !c.UsesAttr("nhsa.prsc_dr_name") || c.UsesAttr("pos.receipt") || c.UsesAttr("nhsax") {
		t.Fatal("UsesAttr")
	}
	for _, tc := range []struct {
		out  upload.Outcome
		want bool
	}{
		{upload.Outcome{Class: upload.Retry, Progress: `{"v":1,"infno":"3505","state":"held"}`}, true},
		{upload.Outcome{Class: upload.Retry, Progress: `{"v":1,"infno":"3505","state":"sending","msgid":"x"}`}, false},
		{upload.Outcome{Class: upload.Retry}, false},
		{upload.Outcome{Class: upload.Done, Progress: `{"v":1,"infno":"3505","state":"held"}`}, false},
	} {
		if got := HeldBack(tc.out); got != tc.want {
			t.Errorf("HeldBack(%+v) = %v", tc.out, got)
		}
	}
}
