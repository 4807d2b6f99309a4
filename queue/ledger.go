package queue

import (
	"fmt"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
)

// Action is what a bill does to a pack, as the ledger records it.
type Action string

const (
	ActionReceived Action = "received" // inbound (1xx): the pack entered the store
	ActionSold     Action = "sold"     // retail (321/322/323): the pack left with a customer
	ActionReturned Action = "returned" // customer return (116): back in stock
	ActionOut      Action = "out"      // outbound (2xx): returned to supplier, moved, destroyed
	ActionCounted  Action = "counted"  // stock-take (盘存): the pack was found on the shelf
)

// ActionFor maps a bill type to its ledger action.
func ActionFor(billType int) (Action, error) {
	dir, err := billtype.DirectionOf(billType)
	if err != nil {
		return "", err
	}
	switch dir {
	case billtype.Inbound:
		return ActionReceived, nil
	case billtype.Retail:
		return ActionSold, nil
	case billtype.ConsumerReturn:
		return ActionReturned, nil
	case billtype.Count:
		return ActionCounted, nil
	}
	return ActionOut, nil
}

// LedgerEntry is what happened to one pack locally, oldest first.
type LedgerEntry struct {
	Key    string        `json:"key"`
	Code   string        `json:"code"`
	Events []LedgerEvent `json:"events"`
	// Lot and dates learnt from the code or at receiving.
	Lot      string `json:"lot,omitempty"`
	Expiry   string `json:"expiry,omitempty"`
	Produced string `json:"produced,omitempty"`
	// PackUnits and Remaining track a pack opened for split sales (拆零).
	PackUnits int `json:"pack_units,omitempty"`
	Remaining int `json:"remaining,omitempty"`
}

// LedgerEvent ties a pack to a bill. Events of a cancelled bill are removed.
type LedgerEvent struct {
	BillID   uint64    `json:"bill_id"`
	BillCode string    `json:"bill_code"`
	BillType int       `json:"bill_type"`
	Action   Action    `json:"action"`
	At       time.Time `json:"at"`
	// Units sold from the pack by a split sale; 0 = the whole pack.
	Units int `json:"units,omitempty"`
}

// recount recomputes the units left in an opened pack from its events
// (after a cancelled bill's events were removed).
func (e *LedgerEntry) recount() {
	sold := 0
	for i := len(e.Events) - 1; i >= 0; i-- {
		ev := e.Events[i]
		if ev.Action != ActionSold || ev.Units == 0 {
			break
		}
		sold += ev.Units
	}
	if sold == 0 {
		e.Remaining = 0
		return
	}
	e.Remaining = e.PackUnits - sold
}

// opened tells whether the pack is currently open for split sales.
func (e *LedgerEntry) opened() bool {
	last, ok := e.Last()
	return ok && last.Action == ActionSold && last.Units > 0
}

// Last is the latest event, if any.
func (e *LedgerEntry) Last() (LedgerEvent, bool) {
	if e == nil || len(e.Events) == 0 {
		return LedgerEvent{}, false
	}
	return e.Events[len(e.Events)-1], true
}

// Rejection reasons of the ledger check (ScanResult.Reason).
const (
	ReasonAlreadySold     = "already_sold"
	ReasonAlreadyReceived = "already_received"
	ReasonNotSold         = "not_sold"
	ReasonLeftStore       = "left_store"
	ReasonOpenedPack      = "opened_pack"
	ReasonNotSplittable   = "not_splittable"
	ReasonNotEnoughUnits  = "not_enough_units"
)

// check decides whether a pack may go on a bill doing action, given its
// history: a pack is sold once (until a customer return puts it back), is
// received once while in stock. A customer return is decided after this by
// checkReturn (it needs a sale here, or its original sale named).
//
// A split sale (units > 0, 拆零) opens a pack of packUnits units; later
// split sales take units from it until none are left; a whole-pack sale or
// return of an opened pack is refused.
//
// A 盘盈入库 (111) may book a pack whose only history is the stock-take
// that found it unknown here: the count put it in stock, the 111 records
// the gain for the platforms.
func check(e *LedgerEntry, action Action, billType int, code string, units, packUnits int) (reason, msg string) {
	if action == ActionSold && units > 0 {
		if packUnits <= 0 && !e.opened() {
			return ReasonNotSplittable, fmt.Sprintf("%s cannot be sold split: its product has no units per pack in the catalogue", code)
		}
		if e.opened() {
			if units > e.Remaining {
				return ReasonNotEnoughUnits, fmt.Sprintf("%s has only %d unit(s) left in the opened pack; %d asked", code, e.Remaining, units)
			}
			return "", ""
		}
		if units > packUnits {
			return ReasonNotEnoughUnits, fmt.Sprintf("%s: a pack holds %d unit(s); %d asked", code, packUnits, units)
		}
	}
	last, ok := e.Last()
	if !ok {
		return "", ""
	}
	where := fmt.Sprintf("bill %s (type %d) at %s", last.BillCode, last.BillType, last.At.In(chinaTime).Format("2006-01-02 15:04"))
	if e.opened() && !(action == ActionSold && units > 0) {
		return ReasonOpenedPack, fmt.Sprintf("%s was opened for split sales in %s (%d of %d units left): sell it split", code, where, e.Remaining, e.PackUnits)
	}
	switch action {
	case ActionSold:
		switch last.Action {
		case ActionSold:
			return ReasonAlreadySold, fmt.Sprintf("%s was already sold in %s: one pack, one sale", code, where)
		case ActionOut:
			return ReasonLeftStore, fmt.Sprintf("%s left the store (%s) in %s: it cannot be sold", code, billtype.Name(last.BillType), where)
		}
	case ActionReceived:
		switch last.Action {
		case ActionCounted:
			if billType == billtype.StockGain && StockGain(*e, last.BillID) {
				return "", ""
			}
			return ReasonAlreadyReceived, fmt.Sprintf("%s is already in stock: counted in %s", code, where)
		case ActionReceived, ActionReturned:
			return ReasonAlreadyReceived, fmt.Sprintf("%s is already in stock: received in %s", code, where)
		case ActionSold:
			return ReasonAlreadySold, fmt.Sprintf("%s was sold in %s; a customer return is bill type 116", code, where)
		}
	case ActionOut:
		switch last.Action {
		case ActionSold:
			return ReasonAlreadySold, fmt.Sprintf("%s was already sold in %s", code, where)
		case ActionOut:
			return ReasonLeftStore, fmt.Sprintf("%s already left the store in %s", code, where)
		}
	}
	return "", ""
}

// NoteStockGain starts the message of a pack a stock-take found that the
// ledger does not know (盘盈).
const NoteStockGain = "盘盈"

// countedNote is what a stock-take learns of a pack from its history
// before the count: unknown here (盘盈), or recorded as gone although it
// is on the shelf; "" when the ledger has it in stock.
func countedNote(e *LedgerEntry) string {
	last, ok := e.Last()
	if !ok {
		return NoteStockGain + ": the ledger does not know this pack"
	}
	switch last.Action {
	case ActionSold, ActionOut:
		return fmt.Sprintf("the ledger has this pack as gone (%s, bill %s); it is on the shelf", billtype.Name(last.BillType), last.BillCode)
	}
	return ""
}

// StockGain tells whether a pack counted by stock-take bill billID was
// unknown to the ledger before it (盘盈): its first event is the count.
func StockGain(e LedgerEntry, billID uint64) bool {
	return len(e.Events) > 0 && e.Events[0].BillID == billID && e.Events[0].Action == ActionCounted
}
