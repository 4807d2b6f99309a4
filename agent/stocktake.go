package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"
)

// 盘亏 after a stock-take (issue 16): the packs the ledger holds in stock
// that the count did not find. Which packs the count was meant to find is
// its scope:
//
//   - by default the products the count saw (a clerk counting one shelf
//     or one product is not told that every other product is missing);
//   - the whole store when the stock-take was opened with attr
//     stock.scope = "all" (a full inventory).
//
// A pack is in stock when its latest ledger event took it in (received,
// returned, counted) or opened it for split sales with units left, and
// that event is no later than the count's end (a pack received after the
// count was not on the shelf to be found). The list is computed from the
// ledger each time, so once the packs are booked on a 214 盘亏 bill (they
// leave the store) it empties by itself.

// Attributes of stock-takes and of the 盘亏 bills booked from them.
const (
	// AttrStockScope is a stock-take's scope: "" or "products" (the
	// products counted) or "all" (every pack of the store).
	AttrStockScope = "stock.scope"
	// AttrStockTakeOf names, on a 214 盘亏 bill booked from a count, the
	// stock-take it books.
	AttrStockTakeOf = "stock.stocktake"
)

// Stock-take scopes.
const (
	ScopeProducts = "products"
	ScopeAll      = "all"
)

// ErrNothingToBook: a stock-take's 盘亏 list is empty (none, or already
// booked).
var ErrNothingToBook = errors.New("nothing to book")

// ShortfallPack is one pack of a 盘亏 list.
type ShortfallPack struct {
	Code    string `json:"code"`
	Key     string `json:"key"`
	Product string `json:"product,omitempty"`
	Lot     string `json:"lot,omitempty"`
	Expiry  string `json:"expiry,omitempty"`
	// LastBill is the bill of the pack's latest ledger event (where the
	// ledger last saw it), with its type and time.
	LastBill string    `json:"last_bill"`
	LastType int       `json:"last_type"`
	LastAt   time.Time `json:"last_at"`
}

// Shortfall is a stock-take's 盘亏 list.
type Shortfall struct {
	BillCode string `json:"bill_code"`
	// Scope is "products" (Products lists them) or "all".
	Scope    string          `json:"scope"`
	Products []string        `json:"products,omitempty"`
	Packs    []ShortfallPack `json:"packs"`
	// Total counts the packs; Packs lists only the first ones where the
	// answer is capped (the session view, polled while counting).
	Total int `json:"total"`
	// Booked are the 214 盘亏 bills already booked from this count.
	Booked []string `json:"booked,omitempty"`
}

// checkScope refuses a stock.scope other than products/all, and one on a
// bill that is not a stock-take.
func checkScope(t int, attrs map[string]string) error {
	v, ok := attrs[AttrStockScope]
	if !ok {
		return nil
	}
	if t != billtype.StockTake {
		return fmt.Errorf("%w: attribute %s is for stock-takes (901) only", ErrBadRequest, AttrStockScope)
	}
	if v != "" && v != ScopeProducts && v != ScopeAll {
		return fmt.Errorf("%w: attribute %s is %q: want %q or %q", ErrBadRequest, AttrStockScope, v, ScopeProducts, ScopeAll)
	}
	return nil
}

// keyPrefix is the ledger-key range of a pack's product: the 7-digit
// prefix of a 码上放心 code, "01"+GTIN of a GS1 key; "" if neither.
func keyPrefix(key string) string {
	switch {
	case strings.HasPrefix(key, "01") && len(key) > 18 && key[16:18] == "21":
		return key[:16]
	case len(key) == 20 && key[0] == '8':
		return key[:7]
	}
	return ""
}

// inStock tells whether the ledger holds the pack in stock as of cutoff.
func inStock(e queue.LedgerEntry, cutoff time.Time) (queue.LedgerEvent, bool) {
	last, ok := e.Last()
	if !ok || last.At.After(cutoff) {
		return last, false
	}
	switch last.Action {
	case queue.ActionReceived, queue.ActionReturned, queue.ActionCounted:
		return last, true
	case queue.ActionSold:
		// An opened pack (拆零) with units left is still on the shelf.
		return last, last.Units > 0 && e.Remaining > 0
	}
	return last, false
}

// StockShortfall lists the 盘亏 of stock-take b: open (what is not found
// yet) or finished.
func (a *Agent) StockShortfall(b queue.Bill) (Shortfall, error) {
	sf := Shortfall{BillCode: b.Code, Scope: ScopeProducts, Packs: []ShortfallPack{}}
	if b.Type != billtype.StockTake {
		return sf, fmt.Errorf("%w: bill %s is %s, not a stock-take (901)", ErrBadRequest, b.Code, billtype.Name(b.Type))
	}
	if b.Attrs[AttrStockScope] == ScopeAll {
		sf.Scope = ScopeAll
	}
	items, err := a.store.Items(b.ID)
	if err != nil {
		return sf, fmt.Errorf("stock-take %s: %w", b.Code, err)
	}
	counted := make(map[string]bool, len(items))
	prefixes := map[string]bool{}
	for _, it := range items {
		counted[it.Key] = true
		if p := keyPrefix(it.Key); p != "" {
			prefixes[p] = true
		}
	}
	var ranges []string
	if sf.Scope == ScopeAll {
		ranges = []string{""}
	} else {
		for p := range prefixes {
			ranges = append(ranges, p)
		}
		sort.Strings(ranges)
		for _, p := range ranges {
			sf.Products = append(sf.Products, strings.TrimPrefix(p, "01"))
		}
	}
	cutoff := b.FinishedAt
	if b.State == queue.BillOpen || cutoff.IsZero() {
		cutoff = a.now()
	}
	for _, p := range ranges {
		err := a.store.LedgerPrefix(p, func(e queue.LedgerEntry) bool {
			if counted[e.Key] {
				return true
			}
			last, ok := inStock(e, cutoff)
			if ok {
				sf.Packs = append(sf.Packs, ShortfallPack{Code: e.Code, Key: e.Key, Product: productOf(e.Code), Lot: e.Lot,
					Expiry: e.Expiry, LastBill: last.BillCode, LastType: last.BillType, LastAt: last.At})
			}
			return true
		})
		if err != nil {
			return sf, fmt.Errorf("stock-take %s: reading the ledger: %w", b.Code, err)
		}
	}
	sf.Total = len(sf.Packs)
	if b.State == queue.BillFinished {
		if sf.Booked, err = a.shortfallBooked(b.Code); err != nil {
			return sf, err
		}
	}
	return sf, nil
}

// sessionShortfallCap bounds the 盘亏 packs the session view lists: it is
// polled after every scan, and a whole-store count starts with every pack
// missing.
const sessionShortfallCap = 200

// capped is sf listing at most n packs (Total still counts all).
func (sf Shortfall) capped(n int) Shortfall {
	if len(sf.Packs) > n {
		sf.Packs = sf.Packs[:n:n]
	}
	return sf
}

// shortfallBooked finds the 盘亏 bills booked from stock-take code.
func (a *Agent) shortfallBooked(code string) ([]string, error) {
	bills, err := a.store.RecentBills(0, 5000, func(x queue.Bill) bool {
		return x.Type == billtype.StockLoss && x.State == queue.BillFinished && x.Attrs[AttrStockTakeOf] == code
	})
	if err != nil {
		return nil, fmt.Errorf("stock-take %s: finding its 盘亏 bills: %w", code, err)
	}
	var out []string
	for _, x := range bills {
		out = append(out, x.Code)
	}
	sort.Strings(out)
	return out, nil
}

// ShortfallOf lists the 盘亏 of the stock-take with this bill_code.
func (a *Agent) ShortfallOf(code string) (Shortfall, error) {
	b, err := a.store.BillByCode(code)
	if err != nil {
		return Shortfall{}, fmt.Errorf("stock-take %s: %w", code, err)
	}
	return a.StockShortfall(b)
}

// BookShortfallRequest books a stock-take's 盘亏 list.
type BookShortfallRequest struct {
	Reason string `json:"reason"`
	// Attrs go on the 214 bill as well (e.g. nhsa.pric.<product> for 3502).
	Attrs map[string]string `json:"attrs,omitempty"`
}

// BookShortfall turns a finished stock-take's 盘亏 list into one 214
// 盘亏出库 bill with the reason, submitted like an ERP bill (the ledger
// check, then 码上放心 214 and 医保 3502 as routed). It refuses an open
// count (finish it first) and an empty list (ErrNothingToBook).
func (a *Agent) BookShortfall(ctx context.Context, code string, r BookShortfallRequest) (queue.Bill, error) {
	reason := strings.TrimSpace(r.Reason)
	if reason == "" || len(reason) > 200 {
		return queue.Bill{}, fmt.Errorf("%w: booking 盘亏 needs a reason of 1-200 bytes (e.g. 盘点未找到)", ErrBadRequest)
	}
	b, err := a.store.BillByCode(code)
	if err != nil {
		return queue.Bill{}, fmt.Errorf("stock-take %s: %w", code, err)
	}
	if b.Type == billtype.StockTake && b.State != queue.BillFinished {
		return queue.Bill{}, fmt.Errorf("%w: stock-take %s is %s: finish it before booking its 盘亏", ErrBadRequest, code, b.State)
	}
	sf, err := a.StockShortfall(b)
	if err != nil {
		return queue.Bill{}, err
	}
	if len(sf.Packs) == 0 {
		if len(sf.Booked) > 0 {
			return queue.Bill{}, fmt.Errorf("%w: stock-take %s: its 盘亏 is booked (%s)", ErrNothingToBook, code, strings.Join(sf.Booked, ", "))
		}
		return queue.Bill{}, fmt.Errorf("%w: stock-take %s found every pack in its scope", ErrNothingToBook, code)
	}
	attrs := map[string]string{}
	for k, v := range r.Attrs {
		attrs[k] = v
	}
	if _, ok := attrs[AttrStockReason]; ok {
		return queue.Bill{}, fmt.Errorf("%w: give the reason as \"reason\", not as attribute %s", ErrBadRequest, AttrStockReason)
	}
	attrs[AttrStockReason] = reason
	attrs[AttrStockTakeOf] = code
	lines := make([]SubmitLine, len(sf.Packs))
	for i, p := range sf.Packs {
		lines[i] = SubmitLine{Code: p.Code}
	}
	out, err := a.SubmitBill(ctx, SubmitRequest{Type: billtype.StockLoss, Attrs: attrs, Lines: lines, Source: "stocktake"})
	if err != nil {
		return queue.Bill{}, fmt.Errorf("booking 盘亏 of %s: %w", code, err)
	}
	return out, nil
}

// stockGainWords says on the scanner and in events what a finished
// stock-take found (盘盈) and missed (盘亏); "" for other bills.
func (a *Agent) stockGainWords(b queue.Bill) string {
	if b.Type != billtype.StockTake {
		return ""
	}
	out := a.gainWords(b)
	sf, err := a.StockShortfall(b)
	if err != nil {
		a.log.Warn("stock shortfall", "bill", b.Code, "err", err)
		return out
	}
	if sf.Total > 0 {
		out += fmt.Sprintf("; 盘亏: %d pack(s) in stock not found (GET /v1/stocktakes/%s/shortfall; book them with POST …/shortfall/book)", sf.Total, b.Code)
	}
	return out
}

// openStockTake is the scanner's STOCKTAKE[:ALL].
func (a *Agent) openStockTake(ctx context.Context, session, arg string) device.Feedback {
	if arg == "" {
		return a.open(ctx, session, billtype.StockTake, "")
	}
	if !strings.EqualFold(arg, "ALL") {
		return device.Feedback{Status: device.StatusRejected, Reason: "bad_command",
			Message: fmt.Sprintf("STOCKTAKE takes nothing or ALL (the whole store); got %q", arg)}
	}
	b, created, err := a.store.OpenSession(ctx, queue.SessionSpec{Session: session, Type: billtype.StockTake,
		Operator: a.config().Device.Operator, Device: a.config().Device.ID, Attrs: map[string]string{AttrStockScope: ScopeAll}})
	if err != nil {
		return commandError(err)
	}
	verb := "opened"
	if !created {
		verb = "continuing"
	}
	msg := fmt.Sprintf("%s %s %s", verb, b.Code, billtype.Name(billtype.StockTake))
	if b.Attrs[AttrStockScope] == ScopeAll {
		msg += " of the whole store"
	}
	return device.Feedback{Status: device.StatusCommand, Message: msg}
}
