package nhsa

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

func TestSaleTraces(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	c := mustNew(t, cfg)
	if _, err := c.SaleTraces(context.Background(), tNow, tNow); err == nil || !strings.Contains(err.Error(), "nhsa.query.trace") {
		t.Fatalf("off: %v", err)
	}
	cfg.Query.Trace = "3513"
	c = mustNew(t, cfg)
	// Records nested in a page object, camelCase (Output_3513.cs) and
	// snake_case; an object without a code is not a record.
	out := json.RawMessage(`{"total":3,"list":[{"fixmedinsBchno":"B01","drugTracCodg":"C1","medListCodg":"M","trdnFlag":"0"},
		{"fixmedins_bchno":"B02","drug_trac_codg":"C2"},{"fixmedinsBchno":"B03"}]}`)
	g.setScript(func(int, fsi.Request) reply {
		return reply{Resp: &fsi.Response{Infcode: 0, InfRefmsgid: "r1", Output: out}}
	})
	from := time.Date(2026, 1, 25, 17, 0, 0, 0, time.UTC) // 2026-01-26 01:00 UTC+8
	recs, err := c.SaleTraces(context.Background(), from, tNow)
	if err != nil {
		t.Fatal(err)
	}
	want := []fsi.TraceRecord{{FixmedinsBchno: "B01", DrugTracCodg: "C1", MedListCodg: "M", TrdnFlag: "0"}, {FixmedinsBchno: "B02", DrugTracCodg: "C2"}}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("records %+v", recs)
	}
	req := g.requests()[0]
	if req.FSI.Infno != "3513" {
		t.Fatalf("infno %s", req.FSI.Infno)
	}
	sameJSON(t, req.FSI.Input, `{"data":{"fixmedins_code":"P37020304446","begndate":"2026-01-26","enddate":"2026-01-27"}}`)
}

// TestSentRowsAreTheRowsSent: the rows rebuilt for reconciliation are
// the rows the delivery sent.
func TestSentRowsAreTheRowsSent(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	b := bill("PDA1-260127-00007", billtype.RetailSale, saleAttrs())
	items := stockItems()
	if out := deliver(t, c, b, items); out.Class != upload.Done {
		t.Fatalf("%v %s", out.Class, out.Message)
	}
	sent := sentSales(t, g.requests()[0])
	rows, err := c.SentRows(context.Background(), b, items, false)
	if err != nil || len(rows) != len(sent) {
		t.Fatalf("rows %+v %v", rows, err)
	}
	for i, r := range rows {
		if r.Bchno != sent[i].FixmedinsBchno || !reflect.DeepEqual(r.Codes, codesOf(sent[i].DrugTracInfo)) {
			t.Errorf("row %d: %+v, sent %s %v", i, r, sent[i].FixmedinsBchno, codesOf(sent[i].DrugTracInfo))
		}
	}
	// Personal data erased after delivery does not matter: keys and codes
	// come from the items.
	b.Attrs = nil
	if again, err := c.SentRows(context.Background(), b, items, false); err != nil || !reflect.DeepEqual(again, rows) {
		t.Errorf("without attrs: %+v %v", again, err)
	}
	if _, err := c.SentRows(context.Background(), bill("PDA1-260127-00008", billtype.CustomerReturn, nil), items, false); err == nil {
		t.Error("a return's rows were rebuilt without its originals")
	}
}

// TestHoldsRow: 3510/3511 are asked per row with the fields OH's
// Input_3510.cs declares Y, and the row counts as held when the answer
// names its fixmedinsBchno.
func TestHoldsRow(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	c := mustNew(t, cfg)
	if q := c.RowQuery(billtype.Purchase); q != "" {
		t.Fatalf("off by default: %q", q)
	}
	if q := c.RowQuery(billtype.StockTake); q != "" {
		t.Fatalf("3508 off by default: %q", q)
	}
	cfg.Query.Purchase, cfg.Query.Sale = "3510", "3511"
	c = mustNew(t, cfg)
	if q := c.RowQuery(205); q != "" {
		t.Fatalf("3509 asked without nhsa.query.stock_change: %q", q)
	}
	cfg.Query.StockTake, cfg.Query.StockChange = "3508", "3509"
	c = mustNew(t, cfg)
	for typ, want := range map[int]string{billtype.Purchase: "3510", billtype.SupplierReturn: "3510", billtype.CustomerReturn: "3511", billtype.RetailSale: "",
		billtype.StockTake: "3508", 205: "3509", 111: "3509"} {
		if got := c.RowQuery(typ); got != want {
			t.Errorf("RowQuery(%d) = %q, want %q", typ, got, want)
		}
	}
	g.setScript(func(_ int, r fsi.Request) reply {
		out := json.RawMessage(`[]`)
		if strings.Contains(string(r.Input), `"B01"`) {
			out = json.RawMessage(`[{"fixmedinsBchno":"B01","prodRetnFlag":"0","valiFlag":"1"}]`)
		}
		return reply{Resp: &fsi.Response{Infcode: 0, InfRefmsgid: "r1", Output: out}}
	})
	from := time.Date(2026, 1, 25, 17, 0, 0, 0, time.UTC)
	if ok, err := c.HoldsRow(context.Background(), "3510", "B01", from, tNow); !ok || err != nil {
		t.Fatalf("held: %v %v", ok, err)
	}
	if ok, err := c.HoldsRow(context.Background(), "3510", "B02", from, tNow); ok || err != nil {
		t.Fatalf("not held: %v %v", ok, err)
	}
	req := g.requests()[0]
	if req.FSI.Infno != "3510" {
		t.Fatalf("infno %s", req.FSI.Infno)
	}
	sameJSON(t, req.FSI.Input, `{"data":{"fixmedins_code":"P37020304446","fixmedins_bchno":"B01","begndate":"2026-01-26","enddate":"2026-01-27"}}`)
}
