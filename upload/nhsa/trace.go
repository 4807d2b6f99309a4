package nhsa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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
// rows and are not rebuilt here.
func (c *Client) SentRows(b queue.Bill, items []queue.Item, legacy bool) ([]SentRow, error) {
	infno, ok := infnoOf(b.Type)
	switch {
	case !ok:
		return nil, fmt.Errorf("bill %s: type %d is not a 医保 进销存 bill type", b.Code, b.Type)
	case infno == fsi.InfSaleReturn || infno == fsi.InfPurchaseReturn:
		return nil, fmt.Errorf("bill %s: the rows of a return (%s) are not rebuilt for reconciliation yet", b.Code, infno)
	}
	stem := stemOf(b.Code, legacy)
	groups := groupItems(items, nil)
	out := make([]SentRow, len(groups))
	for i, g := range groups {
		out[i] = SentRow{Bchno: rowBchno(stem, i+1), Codes: g.codes()}
	}
	return out, nil
}
