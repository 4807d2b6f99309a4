package nhsa

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// AttrStockReason is the bill attribute holding why stock changed (the
// reason a change bill is opened with: 销毁 because expired, 损坏 …). It
// becomes the memo of the 3502 rows unless the bill has nhsa.memo.
const AttrStockReason = "stock.reason"

// CheckStockChangeTypes checks Config.StockChangeTypes: each key a stock
// change bill type (billtype.StockChange), each value a non-empty code of
// at most 6 characters (inv_chg_type is 字符型 6 in the public tables).
func CheckStockChangeTypes(m map[int]string) error {
	for t, code := range m {
		if !billtype.StockChange(t) {
			return fmt.Errorf("stock_change_types: %d (%s) is not a stock change bill type (111, 112, 113, 104, 203, 205, 214, 215, 216, 217)", t, billtype.Name(t))
		}
		if c := strings.TrimSpace(code); c == "" || len([]rune(c)) > 6 || c != code {
			return fmt.Errorf("stock_change_types: %d: inv_chg_type %q must be 1-6 characters without spaces", t, code)
		}
	}
	return nil
}

// stockTakes builds the invinfo rows of 3501: one row per product and lot
// with the packs counted (inv_cnt) and their codes; invdate is the day the
// bill was finished (UTC+8).
func (b *build) stockTakes(groups []*group) []fsi.StockTake {
	required := b.required()
	day := b.bill.FinishedAt.In(b.c.zone).Format(fsi.DateLayout)
	rows := make([]fsi.StockTake, 0, len(groups))
	for i, g := range groups {
		rc := newRowCheck()
		r := fsi.StockTake{FixmedinsBchno: rowBchno(b.prefix, i+1), Invdate: day, InvCnt: float64(len(g.codes())),
			DrugTracInfo: g.tracInfo(), Memo: b.attrField(rc, "memo")}
		if p, ok := b.product(g, rc); ok {
			r.MedListCodg, r.FixmedinsHilistID, r.FixmedinsHilistName, r.RxFlag = p.MedListCodg, p.HilistID, p.HilistName, p.RxFlag
		}
		r.ManuLotnum, r.ManuDate, r.ExpyEnd = b.packData(g, rc)
		b.validate(r, required, rc)
		rows = append(rows, r)
	}
	return rows
}

// stockChanges builds the invinfo rows of 3502: inv_chg_type from
// Config.StockChangeTypes by bill type (the code set is not public), cnt
// the packs, pric from the bill attr nhsa.pric.<product> (or
// nhsa.finl_trns_pric.<product>), memo nhsa.memo or the change's reason.
func (b *build) stockChanges(groups []*group) []fsi.StockChange {
	required := b.required()
	chg, ok := b.c.cfg.StockChangeTypes[b.bill.Type]
	if !ok {
		b.problem("inv_chg_type: config nhsa.stock_change_types has no code for bill type %d (%s); the code set is the province's (docs/nhsa-verdicts.md)",
			b.bill.Type, billtype.Name(b.bill.Type))
	}
	rows := make([]fsi.StockChange, 0, len(groups))
	for i, g := range groups {
		rc := newRowCheck()
		rc.skip["inv_chg_type"] = !ok
		rc.where["inv_chg_opter_name"] = "the bill's operator"
		r := fsi.StockChange{FixmedinsBchno: rowBchno(b.prefix, i+1), InvChgType: chg, Cnt: float64(len(g.codes())),
			InvChgTime: b.time, InvChgOpterName: b.operator, TrdnFlag: "0", DrugTracInfo: g.tracInfo(),
			Memo: b.attrField(rc, "memo")}
		if r.Memo == "" {
			r.Memo = strings.TrimSpace(b.bill.Attrs[AttrStockReason])
			rc.where["memo"] = "bill attr " + AttrStockReason
		}
		if p, found := b.product(g, rc); found {
			r.MedListCodg, r.FixmedinsHilistID, r.FixmedinsHilistName, r.RxFlag = p.MedListCodg, p.HilistID, p.HilistName, p.RxFlag
		}
		if v, found := b.unitPrice(g.product); found {
			r.Pric = v
		} else {
			rc.skip["pric"] = true
		}
		b.validate(r, required, rc)
		rows = append(rows, r)
	}
	return rows
}

// unitPrice reads the 3502 unit price (yuan) of a product from the bill
// attr nhsa.pric.<product>, else nhsa.finl_trns_pric.<product>; a missing
// or malformed price is a problem (pric is required).
func (b *build) unitPrice(product string) (float64, bool) {
	names := []string{"pric." + product, "finl_trns_pric." + product}
	for _, name := range names {
		v := b.attr(name)
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			b.problem("pric: bill attr %s%s is %q, not a price in yuan", attrPrefix, name, clip(v))
			return 0, false
		}
		return f, true
	}
	b.problem("pric: bill attr %spric.%s is empty (单价, required on 3502)", attrPrefix, product)
	return 0, false
}
