package nhsa

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// attrPrefix starts every bill attribute this package reads.
const attrPrefix = "nhsa."

// infnoOf maps a bill type to its 进销存 interface.
func infnoOf(t int) (string, bool) {
	switch t {
	case billtype.Purchase:
		return fsi.InfPurchase, true
	case billtype.SupplierReturn:
		return fsi.InfPurchaseReturn, true
	case billtype.RetailSale:
		return fsi.InfSale, true
	case billtype.CustomerReturn:
		return fsi.InfSaleReturn, true
	case billtype.StockTake:
		return fsi.InfStockTake, true
	}
	if billtype.StockChange(t) {
		return fsi.InfStockChange, true
	}
	return "", false
}

// group is one upload row: the items of one product and lot, all whole
// packs or all split (拆零), and for returns all referring to one row of
// the original bill.
type group struct {
	product, lot string
	split        bool
	ref          string // 3504/3506: fixmedins_bchno of the original row
	items        []queue.Item
	idx          []int    // the items' positions in the bill
	memos        []string // 3504/3506: how ref was found, for the platform (memo)
	notes        []string // the same for the operator
}

// groupItems makes the rows of a bill: items grouped by (product, lot,
// whole/split, ref) in order of first appearance. refs is parallel to
// items, or nil. It depends only on its inputs, so the rows of an earlier
// bill can be rebuilt exactly from its items.
func groupItems(items []queue.Item, refs []string) []*group {
	type key struct {
		product, lot string
		split        bool
		ref          string
	}
	idx := make(map[key]*group)
	var out []*group
	for i, it := range items {
		k := key{product: it.Product, lot: it.Lot, split: it.Units > 0}
		if refs != nil {
			k.ref = refs[i]
		}
		g := idx[k]
		if g == nil {
			g = &group{product: k.product, lot: k.lot, split: k.split, ref: k.ref}
			idx[k] = g
			out = append(out, g)
		}
		g.items = append(g.items, it)
		g.idx = append(g.idx, i)
	}
	return out
}

// packKey identifies the physical pack of an item.
func packKey(it queue.Item) string {
	if it.Key != "" {
		return it.Key
	}
	return it.Code
}

// codes returns the row's trace codes, one per pack, in scan order.
func (g *group) codes() []string {
	seen := make(map[string]bool, len(g.items))
	var out []string
	for _, it := range g.items {
		if k := packKey(it); !seen[k] {
			seen[k] = true
			out = append(out, it.Code)
		}
	}
	return out
}

// count is the row's quantity: packs, or for split rows the units sold.
func (g *group) count() float64 {
	if !g.split {
		return float64(len(g.codes()))
	}
	n := 0
	for _, it := range g.items {
		n += it.Units
	}
	return float64(n)
}

// tracInfo is the row's drugtracinfo.
func (g *group) tracInfo() []fsi.TracInfo {
	codes := g.codes()
	out := make([]fsi.TracInfo, len(codes))
	for i, c := range codes {
		out[i] = fsi.TracInfo{DrugTracCodg: c}
	}
	return out
}

// firstOf returns the first non-empty value of f over the row's items and
// the code it came from.
func (g *group) firstOf(f func(queue.Item) string) string {
	for _, it := range g.items {
		if v := strings.TrimSpace(f(it)); v != "" {
			return v
		}
	}
	return ""
}

// codesText names the row's codes for a message (at most three).
func (g *group) codesText() string {
	codes := g.codes()
	word := "code "
	if len(codes) > 1 {
		word = "codes "
	}
	if len(codes) > 3 {
		return word + strings.Join(codes[:3], ", ") + fmt.Sprintf(" and %d more", len(codes)-3)
	}
	return word + strings.Join(codes, ", ")
}

// bchnoPrefix is the stem of the fixmedins_bchno of a bill's rows. It is
// injective, and stays so when the platform compares without case, so two
// devices whose ids differ only by '-' or case never share a row key:
//   - a code the agent makes from a device id of A-Z and 0-9
//     (DEV-yymmdd-nnnnn) keeps the form used since the first release, the
//     code without its two '-' (DEV + yymmdd + nnnnn), so rows already on
//     the platform and the returns referring to them still match;
//   - any other agent-made code escapes its device id (A-Z and 0-9 stay,
//     '-' is "-0", '_' is "-1", a lower-case letter is '-' and the letter
//     in upper case) and puts '-' before yymmdd + nnnnn;
//   - any other code (e.g. given by a POS) is escaped whole, then '-'.
//
// The first kind has no '-'; the others end in '-' and digits, and the
// digits after the last '-' tell them apart (11 or more, or none), so no two codes
// share a stem, and the row number (rowBchno) appended after it keeps the
// whole key unique.
func bchnoPrefix(billCode string) string {
	if m := agentCodeRE.FindStringSubmatch(billCode); m != nil {
		if plainIDRE.MatchString(m[1]) {
			return m[1] + m[2] + m[3]
		}
		return escapeBchno(m[1]) + "-" + m[2] + m[3]
	}
	return escapeBchno(billCode) + "-"
}

var (
	// agentCodeRE is a bill code the queue makes: prefix-yymmdd-nnnnn.
	agentCodeRE = regexp.MustCompile(`^([A-Za-z0-9_-]{1,16})-([0-9]{6})-([0-9]{5,})$`)
	plainIDRE   = regexp.MustCompile(`^[A-Z0-9]+$`)
)

// escapeBchno maps s onto A-Z, 0-9 and '-' injectively (see bchnoPrefix);
// any other character is "-X" and its code point as six hex digits.
func escapeBchno(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteByte('-')
			b.WriteRune(r - 'a' + 'A')
		case r == '-':
			b.WriteString("-0")
		case r == '_':
			b.WriteString("-1")
		default:
			fmt.Fprintf(&b, "-X%06X", r)
		}
	}
	return b.String()
}

// stemOf is the stem of a bill's rows: the first release's when legacy.
func stemOf(billCode string, legacy bool) string {
	if legacy {
		return legacyBchnoPrefix(billCode)
	}
	return bchnoPrefix(billCode)
}

// legacyBchnoPrefix is the first release's stem, the bill code without
// '-': not injective, kept only to refer to rows an older agent sent.
func legacyBchnoPrefix(billCode string) string { return strings.ReplaceAll(billCode, "-", "") }

// LegacyProgress tells whether the rows of a delivery with this progress
// carry the first release's stem: progress written before version 2 (or
// none), or version 2 marked legacy (an upgraded agent finishing what an
// older one had sent).
func LegacyProgress(progress string) bool {
	var p struct {
		V      int  `json:"v"`
		Legacy bool `json:"legacy"`
	}
	if strings.TrimSpace(progress) == "" {
		return true
	}
	if err := json.Unmarshal([]byte(progress), &p); err != nil {
		return false
	}
	return p.V < 2 || p.Legacy
}

// rowBchno is the fixmedins_bchno of row n (from 1): the stem and n
// zero-padded to two digits (three from row 100).
func rowBchno(prefix string, n int) string { return prefix + fmt.Sprintf("%02d", n) }

// plan is a bill ready to send.
type plan struct {
	node    string            // the input node (purcinfo, selinfo)
	rows    []json.RawMessage // row n+1 of the bill, encoded
	bchnos  []string          // their fixmedins_bchno
	codes   [][]string        // their trace codes
	insuplc string
	notes   []string
}

// build collects what a bill's rows lack.
type build struct {
	c        *Client
	ctx      context.Context
	bill     queue.Bill
	infno    string
	prefix   string
	time     string
	operator string
	problems []string
	seen     map[string]bool
}

// problem records one reason to hold the bill back (once).
func (b *build) problem(format string, args ...any) {
	p := fmt.Sprintf(format, args...)
	if !b.seen[p] {
		b.seen[p] = true
		b.problems = append(b.problems, p)
	}
}

// attr reads the bill attribute nhsa.<name>.
func (b *build) attr(name string) string {
	return strings.TrimSpace(b.bill.Attrs[attrPrefix+name])
}

// refusal is a bill that can never be sent as it is (Permanent).
type refusal string

// plan turns a bill into the input of its interface. A non-empty refusal
// means the bill can never be sent; held lists what the operator must
// supply first; err is a failed lookup worth retrying.
func (c *Client) plan(ctx context.Context, infno string, bill queue.Bill, items []queue.Item) (p *plan, held []string, refuse refusal, err error) {
	return c.planStem(ctx, infno, bill, items, false)
}

// planStem is plan with the bill's own rows keyed under the first
// release's stem when legacy is set: rows an older agent may already have
// sent keep their fixmedins_bchno, so the platform's duplicate guard holds.
func (c *Client) planStem(ctx context.Context, infno string, bill queue.Bill, items []queue.Item, legacy bool) (p *plan, held []string, refuse refusal, err error) {
	if len(items) == 0 {
		return nil, nil, "the bill has no items", nil
	}
	if bill.FinishedAt.IsZero() {
		return nil, nil, "the bill has no finish time", nil
	}
	for _, it := range items {
		switch n := utf8.RuneCountInString(it.Code); {
		case n == 0:
			return nil, nil, refusal(fmt.Sprintf("item %d has an empty code", it.Seq)), nil
		case n > fsi.TracCodeMaxLen:
			return nil, nil, refusal(fmt.Sprintf("code %s… (item %d) is %d characters; drug_trac_codg allows %d", clip(string([]rune(it.Code)[:40])), it.Seq, n, fsi.TracCodeMaxLen)), nil
		}
	}
	op := strings.TrimSpace(bill.Operator)
	if op == "" {
		op = c.cfg.OpterName
	}
	b := &build{c: c, ctx: ctx, bill: bill, infno: infno, prefix: stemOf(bill.Code, legacy),
		time: bill.FinishedAt.In(c.zone).Format(fsi.TimeLayout), operator: op, seen: map[string]bool{}}

	var refs []string
	var memos []refMemo
	if infno == fsi.InfSaleReturn || infno == fsi.InfPurchaseReturn {
		if refs, memos, err = b.references(items); err != nil {
			return nil, nil, "", err
		}
	}
	groups := groupItems(items, refs)
	if last := rowBchno(b.prefix, len(groups)); utf8.RuneCountInString(last) > fsi.BchnoMaxLen {
		return nil, nil, refusal(fmt.Sprintf("fixmedins_bchno %s (the bill code's stem + row number) is %d characters, at most %d allowed: use a shorter bill prefix",
			last, utf8.RuneCountInString(last), fsi.BchnoMaxLen)), nil
	}
	for _, g := range groups {
		for _, i := range g.idx {
			if memos != nil && memos[i].memo != "" {
				g.memos = appendNew(g.memos, memos[i].memo)
				g.notes = appendNew(g.notes, memos[i].note)
			}
		}
	}

	var node string
	var rows []any
	switch infno {
	case fsi.InfPurchase, fsi.InfPurchaseReturn:
		node = fsi.NodePurchase
		for _, r := range b.purchases(groups) {
			rows = append(rows, r)
		}
	case fsi.InfStockTake:
		node = fsi.NodeInventory
		for _, r := range b.stockTakes(groups) {
			rows = append(rows, r)
		}
	case fsi.InfStockChange:
		node = fsi.NodeInventory
		for _, r := range b.stockChanges(groups) {
			rows = append(rows, r)
		}
	default:
		node = fsi.NodeSale
		for _, r := range b.sales(groups) {
			rows = append(rows, r)
		}
	}
	insuplc := c.cfg.InsuplcAdmdvs
	if infno == fsi.InfSale || infno == fsi.InfSaleReturn {
		if v := b.attr("insuplc_admdvs"); v != "" {
			if isDigits(v, 6) {
				insuplc = v
			} else {
				b.problem("insuplc_admdvs: bill attr nhsa.insuplc_admdvs is %q, not a 6-digit 医保区划", clip(v))
			}
		}
	}
	if len(b.problems) > 0 {
		return nil, b.problems, "", nil
	}
	p = &plan{node: node, insuplc: insuplc}
	for i, r := range rows {
		raw, err := marshalJSON(r)
		if err != nil {
			return nil, nil, refusal("encoding the rows: " + err.Error()), nil
		}
		p.rows = append(p.rows, raw)
		p.bchnos = append(p.bchnos, rowBchno(b.prefix, i+1))
		p.codes = append(p.codes, groups[i].codes())
	}
	var notes []string
	for i, g := range groups {
		for _, n := range g.notes {
			notes = append(notes, fmt.Sprintf("row %s: %s", rowBchno("", i+1), n))
		}
	}
	p.notes = notes
	return p, nil, "", nil
}

// references finds, for each item of a return, the fixmedins_bchno of the
// original bill's row that held its pack (nhsa.md §5: 3506 names the
// original sale row; 3504 likewise the purchase row). The original rows
// are rebuilt from the original bill's items exactly as they were made
// when it was sent.
func (b *build) references(items []queue.Item) ([]string, []refMemo, error) {
	field, what, bill := "medins_prod_sel_no", "sale", "销售单"
	if b.infno == fsi.InfPurchaseReturn {
		field, what, bill = "medins_prod_purc_no", "purchase", "采购单"
	}
	type origin struct {
		found bool
		rows  []*group
	}
	cache := map[string]*origin{}
	refs := make([]string, len(items))
	memos := make([]refMemo, len(items))
	for i, it := range items {
		ref := strings.TrimSpace(it.Ref)
		if ref == "" {
			if v := b.attr(field); v != "" {
				refs[i] = v
				continue
			}
			if r := b.bill.Attrs[queue.AttrOriginalReceipt]; r != "" {
				b.problem("%s: the return names receipt %s of %s, a %s not on this device, so the original row of %s is unknown here; the bill has no attr nhsa.%s",
					field, r, b.bill.Attrs[queue.AttrOriginalDate], what, codeWord(it.Code), field)
				continue
			}
			b.problem("%s: %s has no original %s bill (the ledger knows no earlier %s of this pack) and the bill has no attr nhsa.%s",
				field, codeWord(it.Code), what, what, field)
			continue
		}
		o := cache[ref]
		if o == nil {
			its, found, err := b.c.cfg.Items(b.ctx, ref)
			if err != nil {
				return nil, nil, fmt.Errorf("looking up the items of the original %s bill %s: %w", what, ref, err)
			}
			o = &origin{found: found, rows: groupItems(its, nil)}
			cache[ref] = o
		}
		stem := bchnoPrefix(ref)
		if b.c.cfg.LegacyStem != nil && o.found {
			legacy, err := b.c.cfg.LegacyStem(b.ctx, ref)
			if err != nil {
				return nil, nil, fmt.Errorf("looking up how the original %s bill %s was sent: %w", what, ref, err)
			}
			if legacy {
				stem = legacyBchnoPrefix(ref)
			}
		}
		if !o.found && b.attr(field) != "" {
			// An original on another till of the store: its row number is
			// what the POS says (this device cannot rebuild its rows).
			refs[i] = b.attr(field)
			continue
		}
		if !o.found || len(o.rows) == 0 {
			refs[i] = rowBchno(stem, 1)
			memos[i] = refMemo{fmt.Sprintf("原%s%s明细已不可查，%s取其首行", bill, ref, field),
				fmt.Sprintf("the original %s bill %s is no longer available; %s refers to its first row (said in memo)", what, ref, field)}
			continue
		}
		row := originalRow(o.rows, it)
		if row == 0 {
			refs[i] = rowBchno(stem, 1)
			memos[i] = refMemo{fmt.Sprintf("原%s%s中未找到追溯码%s，%s取其首行", bill, ref, it.Code, field),
				fmt.Sprintf("%s is not on the original %s bill %s; %s refers to its first row (said in memo)", codeWord(it.Code), what, ref, field)}
			continue
		}
		refs[i] = rowBchno(stem, row)
	}
	return refs, memos, nil
}

// originalRow is the number (from 1) of the original row holding the
// item's pack, preferring a row of the same kind (whole or split); 0 if none.
func originalRow(rows []*group, it queue.Item) int {
	other := 0
	for n, g := range rows {
		if !slices.ContainsFunc(g.items, func(x queue.Item) bool { return packKey(x) == packKey(it) }) {
			continue
		}
		if g.split == (it.Units > 0) {
			return n + 1
		}
		if other == 0 {
			other = n + 1
		}
	}
	return other
}

// refMemo says how an item's original row was chosen when it was not found
// directly: memo for the platform, note for the operator.
type refMemo struct{ memo, note string }

func codeWord(code string) string { return "code " + code }

// appendNew appends s unless list holds it already.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
