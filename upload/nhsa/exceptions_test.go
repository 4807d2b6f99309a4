package nhsa

import (
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
)

// A sale's exception (packs sold without a code) reaches 3505 in the memo
// of its product's row, and only there.
func TestSaleExceptionInMemo(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	attrs := saleAttrs()
	attrs["nhsa.finl_trns_pric."+prodB] = "8"
	b := bill("PDA1-260127-00051", billtype.RetailSale, attrs)
	b.Lines = []queue.SaleLine{
		{Line: "1", Product: prodA, Keys: []string{prodA}, Packs: 2, Collected: 1, Excepted: 1},
		{Line: "2", Product: prodB, Keys: []string{prodB}, Packs: 1, Collected: 1},
	}
	b.Exceptions = []queue.Exception{{Line: "1", Packs: 1, Reason: "no_code_stock", Note: "2025年6月进货"}}
	items := []queue.Item{item(1, code(prodA, 51), prodA, "L1", 0), item(2, code(prodB, 52), prodB, "L2", 0)}
	out := deliver(t, c, b, items)
	if out.Class != upload.Done {
		t.Fatalf("outcome %v: %s", out.Class, out.Message)
	}
	rows := sentSales(t, g.requests()[0])
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	for _, r := range rows {
		onA := r.MedListCodg == "XJ01CAA040A001010101445"
		if has := strings.Contains(r.Memo, "无码1盒") && strings.Contains(r.Memo, "2025年6月进货"); has != onA {
			t.Errorf("row %s memo %q", r.MedListCodg, r.Memo)
		}
	}
}
