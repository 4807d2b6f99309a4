// Package receipt renders the trace-code block of a finished bill for the
// 购药小票 (from 2026 every drug's 追溯码 is printed on the sale receipt):
// per product line, in the order its first pack was scanned, the product's
// name and each pack's code, or why a pack has none. The block comes as
// plain text for a POS that prints itself, JSON, and ESC/POS bytes for 58 mm
// and 80 mm thermal printers.
//
// Codes are never truncated: a code longer than a line continues on the
// next one, and joining the pieces gives the code back.
package receipt

import (
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/tracecode"
)

// Widths of the usual printers, in columns of the default font (12×24):
// 58 mm paper prints 32, 80 mm prints 48. A Chinese character takes two.
const (
	Width58   = 32
	Width80   = 48
	MinWidth  = 16
	MaxWidth  = 96
	codeInset = 2 // a code's first line
	contInset = 4 // the rest of a long code, or of a no-code note
	nameInset = 3 // the rest of a long product name
)

// Receipt is the trace-code block of one bill.
type Receipt struct {
	Bill       string    `json:"bill_code"`
	Type       int       `json:"bill_type"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Codes is the number of codes printed.
	Codes int    `json:"codes"`
	Lines []Line `json:"lines"`
}

// Line is one product of the bill with its packs.
type Line struct {
	No int `json:"line"`
	// Product is the 7-digit 药品标识码 or GTIN-14 the codes carry; "" for
	// codes of a chain's own format.
	Product string `json:"product"`
	// Name is the catalogue's name, else the product key.
	Name   string   `json:"name"`
	Codes  []Code   `json:"codes"`
	NoCode []NoCode `json:"no_code,omitempty"`
}

// Code is one pack's code.
type Code struct {
	// Code is the code as it is sent to the back ends (GS1: the element
	// string, with GS between variable-length fields).
	Code string `json:"code"`
	// Print is the code as printed: 码上放心 codes as they are, GS1 codes
	// with their application identifiers in parentheses.
	Print string `json:"print"`
	// Units sold from a split pack (拆零); 0 for a whole pack.
	Units int `json:"units,omitempty"`
}

// NoCode is a number of packs sold without a code, and why (the reason
// codes of the sale's exceptions: no_code_stock, unreadable,
// split_open_pack, other).
type NoCode struct {
	// Product names the line the packs belong to.
	Product string `json:"product"`
	Packs   int    `json:"packs"`
	Reason  string `json:"reason"`
	Note    string `json:"note,omitempty"`
}

// Names finds a product's display name by its key; ok false when unknown.
type Names func(product string) (name string, ok bool)

// Build groups a bill's codes by product, in the order each product was
// first scanned, and adds the packs without a code to their product's line
// (a product with no code at all gets a line of its own, after the others).
func Build(b queue.Bill, items []queue.Item, noCode []NoCode, names Names) Receipt {
	r := Receipt{Bill: b.Code, Type: b.Type, FinishedAt: b.FinishedAt, Lines: []Line{}}
	index := map[string]int{}
	line := func(product string) *Line {
		i, ok := index[product]
		if !ok {
			i = len(r.Lines)
			index[product] = i
			r.Lines = append(r.Lines, Line{No: i + 1, Product: product, Name: nameOf(product, names), Codes: []Code{}})
		}
		return &r.Lines[i]
	}
	for _, it := range items {
		l := line(it.Product)
		l.Codes = append(l.Codes, Code{Code: it.Code, Print: Printed(it.Code, it.Kind), Units: it.Units})
		r.Codes++
	}
	for _, n := range noCode {
		l := line(n.Product)
		l.NoCode = append(l.NoCode, n)
	}
	return r
}

func nameOf(product string, names Names) string {
	if names != nil {
		if n, ok := names(product); ok && strings.TrimSpace(n) != "" {
			return n
		}
	}
	if product == "" {
		return "其他追溯码"
	}
	return product
}

// Printed is a code as a consumer reads it off the receipt: a GS1 code as
// its human-readable interpretation, (01)…(21)… in scanned order; any other
// code as it is, with control characters made visible (a raw control byte
// would be a printer command).
func Printed(code, kind string) string {
	if kind == string(tracecode.KindGS1) {
		if c, err := tracecode.Reparse(code, tracecode.DefaultRules()); err == nil && len(c.Order) > 0 {
			var b strings.Builder
			for _, ai := range c.Order {
				b.WriteString("(" + ai + ")" + c.AIs[ai])
			}
			return tracecode.Printable(b.String())
		}
	}
	return tracecode.Printable(code)
}

// reasonText is how the receipt names an exception's reason.
var reasonText = map[string]string{
	"no_code_stock":   "无码库存",
	"unreadable":      "码无法识读",
	"split_open_pack": "已拆零包装",
	"other":           "其他",
}

// ReasonText is a no-code reason as printed; an unknown reason prints as
// it is.
func ReasonText(reason string) string {
	if t, ok := reasonText[reason]; ok {
		return t
	}
	return tracecode.Printable(reason)
}
