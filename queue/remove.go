package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrNotOnBill: the pack named for removal is not on the session's open
// bill.
var ErrNotOnBill = errors.New("not on the bill")

// RemoveItem takes one scanned pack off the session's open bill, as if it
// had never been scanned: its ledger event of this bill is removed (the
// pack is back in stock, or its opened pack has the units again), the
// bill's line counts it no more, and the bill notes it in its history.
// codes are the ways the pack may be named (the code as sent, its ledger
// key); the first item matching any of them goes.
func (s *Store) RemoveItem(ctx context.Context, session string, codes ...string) (Bill, Item, error) {
	codes = slices.DeleteFunc(slices.Clone(codes), func(c string) bool { return c == "" })
	if len(codes) == 0 {
		return Bill{}, Item{}, errors.New("queue: remove: no code named")
	}
	type res struct {
		b  Bill
		it Item
	}
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b, err := w.openBill(session)
		if err != nil {
			return nil, err
		}
		items, err := readItems(w.tx, b.ID)
		if err != nil {
			return nil, abort(err)
		}
		i := slices.IndexFunc(items, func(it Item) bool {
			return slices.Contains(codes, it.Code) || slices.Contains(codes, it.Key)
		})
		if i < 0 {
			return nil, fmt.Errorf("%w: %s is not on bill %s", ErrNotOnBill, codes[0], b.Code)
		}
		it := items[i]
		if err := w.unledger(b.ID, it.Key); err != nil {
			return nil, err
		}
		if it.Line != "" {
			if l := slices.IndexFunc(b.Lines, func(l SaleLine) bool { return l.Line == it.Line }); l >= 0 {
				b.Lines[l].Collected = max(0, b.Lines[l].Collected-it.counted())
			}
		}
		if err := w.del(w.tx.Bucket(bktItems), itemKey(b.ID, it.Seq)); err != nil {
			return nil, err
		}
		// Seqs stay unique: the next scan numbers after the highest ever.
		// An excuse of the pack goes with it: it is not sold.
		b.Excused = slices.DeleteFunc(b.Excused, func(e Exception) bool { return e.Code == it.Code })
		if len(b.Excused) == 0 {
			b.Excused = nil
		}
		b.LastSeq = max(b.LastSeq, b.Items, items[len(items)-1].Seq)
		b.Items--
		b.History = append(b.History, Event{At: w.now, What: "item removed", Detail: it.Code})
		return res{b, it}, w.putBill(b)
	})
	if err != nil {
		return Bill{}, Item{}, err
	}
	out := r.(res)
	s.openBill(&out.b)
	return out.b, out.it, nil
}

// counted is what the item counts for on its line: its units when split,
// else what the scan counted (Counted), else one pack.
func (it Item) counted() int {
	switch {
	case it.Units > 0:
		return it.Units
	case it.Counted > 0:
		return it.Counted
	}
	return 1
}

// unledger removes the ledger event of bill billID from the pack key, and
// the entry when nothing else happened to the pack.
func (w *wtx) unledger(billID uint64, key string) error {
	ledger := w.tx.Bucket(bktLedger)
	var e LedgerEntry
	if _, err := getJSON(ledger, []byte(key), &e); err != nil {
		return abort(err)
	}
	kept := e.Events[:0]
	for _, ev := range e.Events {
		if ev.BillID != billID {
			kept = append(kept, ev)
		}
	}
	e.Events = kept
	e.recount()
	if len(kept) == 0 {
		return w.del(ledger, []byte(key))
	}
	return w.putJSON(ledger, []byte(key), e)
}

// ExcusePack records why a pack on the session's open bill is sold
// although 码上放心 reported it as bad (Bill.Excused). e.Code names the
// pack as its item has it; the exception counts on no line.
func (s *Store) ExcusePack(ctx context.Context, session string, e Exception) (Bill, error) {
	if e.Code == "" || e.Packs != 0 {
		return Bill{}, errors.New("queue: an excused pack is named by its code and counts no packs")
	}
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b, err := w.openBill(session)
		if err != nil {
			return nil, err
		}
		items, err := readItems(w.tx, b.ID)
		if err != nil {
			return nil, abort(err)
		}
		i := slices.IndexFunc(items, func(it Item) bool { return it.Code == e.Code })
		if i < 0 {
			return nil, fmt.Errorf("%w: %s is not on bill %s", ErrNotOnBill, e.Code, b.Code)
		}
		if slices.ContainsFunc(b.Excused, func(x Exception) bool { return x.Code == e.Code }) {
			return b, nil
		}
		if e.At.IsZero() {
			e.At = w.now
		}
		e.Line = items[i].Line
		b.Excused = append(b.Excused, e)
		detail := fmt.Sprintf("pack %s sold although 码上放心 reported it (%s)", e.Code, e.Reason)
		if e.Supervisor {
			detail += ", supervisor approved"
		}
		b.History = append(b.History, Event{At: w.now, What: "exception", Detail: detail})
		return b, w.putBill(b)
	})
	if err != nil {
		return Bill{}, err
	}
	b := r.(Bill)
	s.openBill(&b)
	return b, nil
}
