package nhsa

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// Query asks the platform whether the rows of a message whose outcome is
// unknown are there, before the message is sent again (as 码上放心's
// upbilldetail settles its doubts). Provinces that offer the 医保 query
// interfaces name them here: 3510 商品采购查询 (3503/3504), 3511 商品销售查询
// (3505/3506) or 3513 追溯信息查询 (nhsa.md §3.5).
//
// UNCONFIRMED: no public source gives these interfaces' field tables. What
// is built here follows what is found: the 进销存 interfaces' key of a row
// is fixmedins_bchno (3507 deletes by it, nhsa.md §3.1), and one public
// Java HIS queries 3512/3513 by fixmedinsBchno (camelCase, nhsa.md §3.5).
// So the input is {Node: {Field: <fixmedins_bchno>}} (defaults "data" and
// "fixmedins_bchno", both configurable), and the answer counts as "the
// row is there" when its output holds, at any depth, a fixmedins_bchno or
// fixmedinsBchno equal to the row's. Off by default.
type Query struct {
	// Purchase is the infno asked for 3503/3504 bills (e.g. "3510"),
	// Sale for 3505/3506 (e.g. "3511" or "3513"); empty: never ask.
	Purchase, Sale string
	// Node and Field name the input node and the row key's field
	// (defaults "data" and "fixmedins_bchno").
	Node, Field string
	// Trace is the infno of the sale trace query used by reconciliation
	// (e.g. "3513"; SaleTraces); empty: off.
	Trace string
	// StockTake and StockChange are the row queries reconciliation asks
	// about 3501 and 3502 rows (e.g. "3508" and "3509"; RowQuery); they
	// settle no doubt (settle asks 3503-3506 only). Empty: off.
	StockTake, StockChange string
}

func (q Query) check() error {
	for _, v := range []struct{ name, infno string }{{"query.purchase", q.Purchase}, {"query.sale", q.Sale}, {"query.trace", q.Trace},
		{"query.stock_take", q.StockTake}, {"query.stock_change", q.StockChange}} {
		if v.infno != "" {
			if err := checkID(v.name, v.infno, 5); err != nil {
				return err
			}
		}
	}
	return nil
}

// infnoFor is the query interface for bills of infno, "" if none.
func (q Query) infnoFor(infno string) string {
	switch infno {
	case fsi.InfPurchase, fsi.InfPurchaseReturn:
		return q.Purchase
	case fsi.InfSale, fsi.InfSaleReturn:
		return q.Sale
	}
	return ""
}

// settle asks whether every row of the part is on the platform. A
// message is applied whole, but a row of it may have been refused inside
// an accepted message, in an answer that was lost: only when every row is
// there may the part count as in without its first answer (a resend of
// the same msgid brings that answer back). It returns whether all are,
// and a note for the operator; err means the question failed and the
// part is resent as before. One call per row: asking is off by default,
// and only an outcome in doubt asks.
func (c *Client) settle(ctx context.Context, infno string, pt *part) (in bool, note string, err error) {
	q := c.cfg.Query
	qinf := q.infnoFor(infno)
	if qinf == "" || len(pt.bchnos) == 0 {
		return false, "", nil
	}
	node, field := q.Node, q.Field
	if node == "" {
		node = "data"
	}
	if field == "" {
		field = "fixmedins_bchno"
	}
	for _, bchno := range pt.bchnos {
		resp, err := c.Call(ctx, qinf, map[string]any{node: map[string]string{field: bchno}})
		if err != nil {
			return false, "", fmt.Errorf("asking %s about row %s: %w", qinf, bchno, err)
		}
		if !holdsBchno(resp.Output, bchno) {
			return false, fmt.Sprintf("%s does not know row %s: resent", qinf, bchno), nil
		}
	}
	return true, fmt.Sprintf("%s found every row (%s … %s) on the platform: not resent", qinf, pt.bchnos[0], pt.bchnos[len(pt.bchnos)-1]), nil
}

// holdsBchno tells whether output holds, at any depth, fixmedins_bchno or
// fixmedinsBchno equal to bchno.
func holdsBchno(output json.RawMessage, bchno string) bool {
	var v any
	dec := json.NewDecoder(bytes.NewReader(output))
	dec.UseNumber()
	if len(output) == 0 || dec.Decode(&v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if (k == "fixmedins_bchno" || k == "fixmedinsBchno") && scalarText(e) == bchno {
					return true
				}
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}
