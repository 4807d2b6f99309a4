package nhsa

import (
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
)

// TestRows3506OriginalOnAnotherTill: a return naming a sale this device
// does not hold (another till's) names the row the POS gives in attr
// nhsa.medins_prod_sel_no; without it, the original's first row, said in
// the memo.
func TestRows3506OriginalOnAnotherTill(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	const other = "TILL2-260127-00004"
	it := item(1, code(prodA, 40), prodA, "L1", 0)
	it.Ref = other
	for i, tc := range []struct{ selNo, want, memo string }{
		{"TILL2-0260127-0000403", "TILL2-0260127-0000403", ""},
		{"", bchnoPrefix(other) + "01", "原销售单" + other + "明细已不可查"},
	} {
		attrs := map[string]string{"nhsa.mdtrt_sn": "MDTRT20260127000009", "nhsa.setl_id": "SETL9"}
		if tc.selNo != "" {
			attrs["nhsa.medins_prod_sel_no"] = tc.selNo
		}
		out := deliver(t, c, bill("PDA1-260127-0004"+string(rune('1'+i)), billtype.CustomerReturn, attrs), []queue.Item{it})
		if out.Class != upload.Done {
			t.Fatalf("outcome %v: %s", out.Class, out.Message)
		}
		rows := sentSales(t, g.requests()[i])
		if len(rows) != 1 || rows[0].MedinsProdSelNo != tc.want || (tc.memo == "") != (rows[0].Memo == "") || !strings.Contains(rows[0].Memo, tc.memo) {
			t.Fatalf("case %d: rows %+v, want medins_prod_sel_no %s memo %q", i, rows, tc.want, tc.memo)
		}
	}
}
