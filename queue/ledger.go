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
	}
	return ActionOut, nil
}

// LedgerEntry is what happened to one pack locally, oldest first.
type LedgerEntry struct {
	Key    string        `json:"key"`
	Code   string        `json:"code"`
	Events []LedgerEvent `json:"events"`
}

// LedgerEvent ties a pack to a bill. Events of a cancelled bill are removed.
type LedgerEvent struct {
	BillID   uint64    `json:"bill_id"`
	BillCode string    `json:"bill_code"`
	BillType int       `json:"bill_type"`
	Action   Action    `json:"action"`
	At       time.Time `json:"at"`
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
)

// check decides whether a pack may go on a bill doing action, given its
// history: a pack is sold once (until a customer return puts it back), is
// received once while in stock, and a return needs a sale (unless the ledger
// never saw the pack: it may predate the agent).
func check(e *LedgerEntry, action Action, code string) (reason, msg string) {
	last, ok := e.Last()
	if !ok {
		return "", ""
	}
	where := fmt.Sprintf("bill %s (type %d) at %s", last.BillCode, last.BillType, last.At.In(chinaTime).Format("2006-01-02 15:04"))
	switch action {
	case ActionSold:
		switch last.Action {
		case ActionSold:
			return ReasonAlreadySold, fmt.Sprintf("%s was already sold in %s: one pack, one sale", code, where)
		case ActionOut:
			return ReasonLeftStore, fmt.Sprintf("%s left the store in %s", code, where)
		}
	case ActionReceived:
		switch last.Action {
		case ActionReceived, ActionReturned:
			return ReasonAlreadyReceived, fmt.Sprintf("%s is already in stock: received in %s", code, where)
		case ActionSold:
			return ReasonAlreadySold, fmt.Sprintf("%s was sold in %s; a customer return is bill type 116", code, where)
		}
	case ActionReturned:
		if last.Action != ActionSold {
			return ReasonNotSold, fmt.Sprintf("%s was not sold by this store (last: %s in %s)", code, last.Action, where)
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
