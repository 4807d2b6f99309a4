package queue

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pda-agent/pda-agent/billtype"
)

// A customer return (116) undoes a sale. The ledger knows the sales of this
// device; a pack it has no sale of is refused (ReasonNotSoldHere) unless
// the return names its original sale in these bill attrs, set when the
// return is opened and fixed from then on:
const (
	// AttrOriginalBill is the original sale's bill code: on this device,
	// or on another till of the store (its agent made the code).
	AttrOriginalBill = "original.bill_code"
	// AttrOriginalReceipt and AttrOriginalDate (YYYY-MM-DD, the store's
	// day) are the POS's receipt number of the sale (the sale's attr
	// nhsa.rtal_docno) when the bill code is not known.
	AttrOriginalReceipt = "original.receipt_no"
	AttrOriginalDate    = "original.date"
)

// originalPrefix is the namespace of the attrs above.
const originalPrefix = "original."

// Reasons a return is refused, beside ReasonNotSold (the ledger knows the
// pack and it is not sold: in stock, or it left the store).
const (
	// ReasonNotSoldHere: this device has no sale of the pack and the
	// return names no original sale.
	ReasonNotSoldHere = "not_sold_here"
	// ReasonNotOnOriginal: the named original sale is on this device and
	// the pack is not on it, or the ledger has the pack's sale on
	// another bill.
	ReasonNotOnOriginal = "not_on_original"
)

// ErrOriginalFixed: the original sale of a return is named when the
// return is opened; its attrs cannot be set or changed afterwards.
var ErrOriginalFixed = errors.New("the original sale of a return is named when the return is opened")

// isOriginalAttr tells whether key is one of the original-sale attrs.
func isOriginalAttr(key string) bool { return strings.HasPrefix(key, originalPrefix) }

// originalAttrs returns the original-sale attrs of attrs (nil if none).
func originalAttrs(attrs map[string]string) map[string]string {
	var out map[string]string
	for k, v := range attrs {
		if isOriginalAttr(k) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// checkOriginalKeys refuses a change of attrs that touches the original
// sale (SetAttrs, ChangeAttrs).
func checkOriginalKeys[V any](attrs map[string]V) error {
	for k := range attrs {
		if isOriginalAttr(k) {
			return fmt.Errorf("%w: %s cannot be set here", ErrOriginalFixed, k)
		}
	}
	return nil
}

// validOriginal checks the original-sale attrs of a spec: only on a
// customer return, a bill code or a receipt number with its date.
func validOriginal(spec SessionSpec) error {
	o := originalAttrs(spec.Attrs)
	if o == nil {
		return nil
	}
	if dir, _ := billtype.DirectionOf(spec.Type); dir != billtype.ConsumerReturn {
		return fmt.Errorf("queue: only a customer return names an original sale (bill type %d does not)", spec.Type)
	}
	for k := range o {
		switch k {
		case AttrOriginalBill, AttrOriginalReceipt, AttrOriginalDate:
		default:
			return fmt.Errorf("queue: unknown original-sale attr %s (%s, %s, %s)", k, AttrOriginalBill, AttrOriginalReceipt, AttrOriginalDate)
		}
	}
	if o[AttrOriginalBill] == "" && o[AttrOriginalReceipt] == "" {
		return fmt.Errorf("queue: an original sale needs %s or %s", AttrOriginalBill, AttrOriginalReceipt)
	}
	if o[AttrOriginalReceipt] != "" {
		if _, err := time.Parse(time.DateOnly, o[AttrOriginalDate]); err != nil {
			return fmt.Errorf("queue: %s needs %s as YYYY-MM-DD; got %q", AttrOriginalReceipt, AttrOriginalDate, o[AttrOriginalDate])
		}
	}
	return nil
}

// origin is what this device knows of the original sale a return names.
type origin struct {
	named bool
	// code is the original bill's code; "" when only a receipt is named
	// (a sale this device does not hold).
	code  string
	local bool // the bill is on this device
	sale  bool // local: a finished retail sale
	keys  map[string]bool
}

// what names the original for messages.
func (o origin) what(attrs map[string]string) string {
	if o.code != "" {
		return "sale " + o.code
	}
	return fmt.Sprintf("receipt %s of %s", attrs[AttrOriginalReceipt], attrs[AttrOriginalDate])
}

// loadOrigin reads the original sale a return's attrs name.
func loadOrigin(tx *bolt.Tx, attrs map[string]string) (origin, error) {
	o := origin{code: attrs[AttrOriginalBill]}
	o.named = o.code != "" || attrs[AttrOriginalReceipt] != ""
	if o.code == "" {
		return o, nil
	}
	b, err := billByCode(tx, o.code)
	if errors.Is(err, ErrNotFound) {
		return o, nil
	}
	if err != nil {
		return o, err
	}
	o.local = true
	dir, _ := billtype.DirectionOf(b.Type)
	o.sale = dir == billtype.Retail && b.State == BillFinished
	items, err := readItems(tx, b.ID)
	if err != nil {
		return o, err
	}
	o.keys = make(map[string]bool, len(items))
	for _, it := range items {
		o.keys[it.Key] = true
	}
	return o, nil
}

// checkReturn decides on a customer return of a pack (after check's
// opened-pack rule): a pack whose last ledger event is a sale here comes
// back from that sale; otherwise the return must name its original sale,
// which, when it is on this device, must hold the pack.
func checkReturn(e *LedgerEntry, o origin, attrs map[string]string, code, key string) (reason, msg string) {
	last, ok := e.Last()
	where := func(ev LedgerEvent) string {
		return fmt.Sprintf("bill %s (type %d) at %s", ev.BillCode, ev.BillType, ev.At.In(chinaTime).Format("2006-01-02 15:04"))
	}
	if ok && last.Action == ActionSold {
		if o.named && o.code != last.BillCode {
			return ReasonNotOnOriginal, fmt.Sprintf("%s was sold on this device in %s, not on the %s named for this return: open the return naming %s",
				code, where(last), o.what(attrs), last.BillCode)
		}
		return "", ""
	}
	if !o.named {
		if !ok {
			return ReasonNotSoldHere, fmt.Sprintf("%s has no sale on this device: a customer return needs its sale here, or the original sale named (bill code, or receipt number and date)", code)
		}
		return ReasonNotSold, fmt.Sprintf("%s was not sold by this store (last: %s in %s)", code, last.Action, where(last))
	}
	switch {
	case o.local && !o.sale:
		return ReasonNotOnOriginal, fmt.Sprintf("%s is not a finished sale on this device", o.what(attrs))
	case o.local && !o.keys[key]:
		return ReasonNotOnOriginal, fmt.Sprintf("%s is not on the %s", code, o.what(attrs))
	case o.local:
		// On the original, but the ledger's last event is not that sale:
		// it came back (or went out) since.
		return ReasonNotSold, fmt.Sprintf("%s is no longer sold: %s in %s", code, last.Action, where(last))
	case ok && last.Action == ActionOut:
		return ReasonNotSold, fmt.Sprintf("%s left the store in %s; it cannot come back from a sale", code, where(last))
	}
	// An original on another till: this device cannot see it; the return
	// carries its reference.
	return "", ""
}

// refOf is an accepted item's Ref: the named original of a return, else
// the bill of the pack's last ledger event.
func refOf(e *LedgerEntry, action Action, o origin) string {
	if action == ActionReturned && o.code != "" {
		return o.code
	}
	if last, ok := e.Last(); ok {
		return last.BillCode
	}
	return ""
}

// sameOriginal tells whether an open bill names the same original sale as
// a spec asking for it.
func sameOriginal(b Bill, spec SessionSpec) bool {
	return maps.Equal(originalAttrs(b.Attrs), originalAttrs(spec.Attrs))
}

// SalesByReceipt returns the finished retail sales of this device whose
// POS receipt number (attr nhsa.rtal_docno) is receiptNo and which were
// finished on day (YYYY-MM-DD, in the store's zone), newest first.
func (s *Store) SalesByReceipt(receiptNo, day string) ([]Bill, error) {
	return s.RecentBills(0, 1<<30, func(b Bill) bool {
		dir, _ := billtype.DirectionOf(b.Type)
		return dir == billtype.Retail && b.State == BillFinished && b.Attrs["nhsa.rtal_docno"] == receiptNo &&
			b.FinishedAt.In(s.opts.Location).Format(time.DateOnly) == day
	})
}
