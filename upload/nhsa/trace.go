package nhsa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// SaleTraces asks 3513 商品销售追溯信息查询 (or the infno of Query.Trace)
// for the trace records the platform holds for this pharmacy's sales
// between the days of from and to (UTC+8, inclusive). Off unless
// Query.Trace is set: the interface is single-source (fsi.TraceQuery).
func (c *Client) SaleTraces(ctx context.Context, from, to time.Time) ([]fsi.TraceRecord, error) {
	infno := c.cfg.Query.Trace
	if infno == "" {
		return nil, fmt.Errorf("nhsa[%s]: the sale trace query is off (set nhsa.query.trace, e.g. 3513)", c.cfg.Env)
	}
	q := fsi.TraceQuery{FixmedinsCode: c.cfg.FixmedinsCode,
		Begndate: from.In(c.zone).Format(fsi.DateLayout), Enddate: to.In(c.zone).Format(fsi.DateLayout)}
	resp, err := c.Call(ctx, infno, map[string]any{fsi.NodeDelete: q})
	if err != nil {
		return nil, fmt.Errorf("nhsa[%s]: %s %s…%s: %w", c.cfg.Env, infno, q.Begndate, q.Enddate, err)
	}
	return traceRecords(resp.Output)
}

// traceRecords collects, at any depth of output, the objects naming a
// row (fixmedinsBchno or fixmedins_bchno) and a code (drugTracCodg or
// drug_trac_codg).
func traceRecords(output json.RawMessage) ([]fsi.TraceRecord, error) {
	if len(bytes.TrimSpace(output)) == 0 || string(bytes.TrimSpace(output)) == "null" {
		return nil, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(output))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("reading the trace records: %w", err)
	}
	var out []fsi.TraceRecord
	pick := func(m map[string]any, names ...string) string {
		for _, n := range names {
			if s := scalarText(m[n]); s != "" {
				return s
			}
		}
		return ""
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			r := fsi.TraceRecord{FixmedinsBchno: pick(x, "fixmedinsBchno", "fixmedins_bchno"),
				DrugTracCodg: pick(x, "drugTracCodg", "drug_trac_codg"), MedListCodg: pick(x, "medListCodg", "med_list_codg"),
				TrdnFlag: pick(x, "trdnFlag", "trdn_flag")}
			if r.FixmedinsBchno != "" && r.DrugTracCodg != "" {
				out = append(out, r)
				return
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out, nil
}

// SentRow is one row of a bill as the client sends it: its key and codes.
type SentRow struct {
	Bchno string
	Codes []string
}

// SentRows rebuilds the keys and codes of the rows a delivered bill went
// to 医保 with, from its items, as Deliver groups them; legacy is
// nhsa.LegacyProgress of its delivery. Only the keys and codes are
// rebuilt: the rest of a row (personal data among it) may be gone once
// the bill was delivered. Returns (3504, 3506) group by their originals'
// rows, looked up as Deliver does (Config.Items, Config.RefState).
func (c *Client) SentRows(ctx context.Context, b queue.Bill, items []queue.Item, legacy bool) ([]SentRow, error) {
	infno, ok := infnoOf(b.Type)
	if !ok {
		return nil, fmt.Errorf("bill %s: type %d is not a 医保 进销存 bill type", b.Code, b.Type)
	}
	stem := stemOf(b.Code, legacy)
	var refs []string
	if infno == fsi.InfSaleReturn || infno == fsi.InfPurchaseReturn {
		var err error
		if items, err = c.sentReturnItems(ctx, b, items); err != nil {
			return nil, err
		}
		bd := &build{c: c, ctx: ctx, bill: b, infno: infno, prefix: stem, seen: map[string]bool{}}
		if refs, _, err = bd.references(items); err != nil {
			return nil, fmt.Errorf("bill %s: %w", b.Code, err)
		}
		if len(bd.problems) > 0 {
			return nil, fmt.Errorf("bill %s: its rows cannot be rebuilt here: %s", b.Code, strings.Join(bd.problems, "; "))
		}
	}
	groups := groupItems(items, refs)
	out := make([]SentRow, len(groups))
	for i, g := range groups {
		out[i] = SentRow{Bchno: rowBchno(stem, i+1), Codes: g.codes()}
	}
	return out, nil
}

// sentReturnItems are the items of a return that went to 医保: those whose
// original bill never did are left out, as awaitOriginals leaves them.
func (c *Client) sentReturnItems(ctx context.Context, b queue.Bill, items []queue.Item) ([]queue.Item, error) {
	if c.cfg.RefState == nil {
		return items, nil
	}
	states := map[string]RefState{}
	var keep []queue.Item
	for _, it := range items {
		st, seen := states[it.Ref]
		if !seen && it.Ref != "" {
			var err error
			if st, err = c.cfg.RefState(ctx, it.Ref); err != nil {
				return nil, fmt.Errorf("bill %s: looking up the original bill %s: %w", b.Code, it.Ref, err)
			}
			states[it.Ref] = st
		}
		if st != RefNotSent {
			keep = append(keep, it)
		}
	}
	return keep, nil
}

// SaleTraceQuery is nhsa.query.trace ("" when off).
func (c *Client) SaleTraceQuery() string { return c.cfg.Query.Trace }

// RowQuery is the query interface reconciliation asks about the rows of a
// bill of type t: nhsa.query.purchase for 3503/3504 (3510 商品采购查询),
// nhsa.query.sale for 3506 (3511 商品销售查询), nhsa.query.stock_take for
// 3501 (3508) and nhsa.query.stock_change for 3502 (3509); "" when not
// configured or not such a bill (3505 sales go to SaleTraces).
func (c *Client) RowQuery(t int) string {
	infno, ok := infnoOf(t)
	switch {
	case !ok || infno == fsi.InfSale:
		return ""
	case infno == fsi.InfStockTake:
		return c.cfg.Query.StockTake
	case infno == fsi.InfStockChange:
		return c.cfg.Query.StockChange
	}
	return c.cfg.Query.infnoFor(infno)
}

// HoldsRow asks the query interface qinf (RowQuery) whether the platform
// holds the row bchno, accepted between the days of from and to (UTC+8):
// {"data": fsi.RowQuery}. The declared answers (3508-3511) carry no trace
// code: only the row's presence is known.
func (c *Client) HoldsRow(ctx context.Context, qinf, bchno string, from, to time.Time) (bool, error) {
	q := fsi.RowQuery{FixmedinsCode: c.cfg.FixmedinsCode, FixmedinsBchno: bchno,
		Begndate: from.In(c.zone).Format(fsi.DateLayout), Enddate: to.In(c.zone).Format(fsi.DateLayout)}
	resp, err := c.Call(ctx, qinf, map[string]any{fsi.NodeDelete: q})
	if err != nil {
		return false, fmt.Errorf("nhsa[%s]: %s row %s: %w", c.cfg.Env, qinf, bchno, err)
	}
	return holdsBchno(resp.Output, bchno), nil
}
