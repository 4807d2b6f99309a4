package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// pruneChunk bounds the records one prune transaction touches, so pruning
// never holds up scans for long.
const pruneChunk = 500

// PruneStats counts what Prune removed.
type PruneStats struct {
	Bills   int `json:"bills"`
	Items   int `json:"items"`
	Scans   int `json:"scans"`
	Ledger  int `json:"ledger"`
	Skipped int `json:"skipped"` // old bills kept because a delivery is not done
}

// Prune removes history the agent no longer needs:
//   - finished bills finished before billsBefore whose every delivery is
//     done, and cancelled bills created before it, with their codes and
//     deliveries (a bill with a pending or dead delivery is kept, whatever
//     its age: regulated records are never dropped undelivered);
//   - scan journal records before billsBefore;
//   - ledger entries (and code issues) whose last event is before
//     ledgerBefore (the ledger is what refuses a second sale of a pack, so
//     keep it long).
//
// Open bills are never touched.
func (s *Store) Prune(ctx context.Context, billsBefore, ledgerBefore time.Time) (PruneStats, error) {
	var st PruneStats
	// Bills, in id order, a chunk per transaction.
	var from uint64 = 1
	for from != 0 {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		start := from
		r, err := s.submit(ctx, false, func(w *wtx) (any, error) { return w.pruneBills(start, billsBefore) })
		if err != nil {
			return st, fmt.Errorf("queue: prune bills: %w", err)
		}
		res := r.(pruneBillsResult)
		st.Bills += res.bills
		st.Items += res.items
		st.Skipped += res.skipped
		from = res.next
	}
	// Journal: oldest first, stop at the first record young enough.
	for more := true; more; {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		r, err := s.submit(ctx, false, func(w *wtx) (any, error) { return w.pruneScans(billsBefore) })
		if err != nil {
			return st, fmt.Errorf("queue: prune journal: %w", err)
		}
		n := r.(int)
		st.Scans += n
		more = n == pruneChunk
	}
	// Ledger, in key order.
	var key []byte
	for first := true; first || key != nil; first = false {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		start := key
		r, err := s.submit(ctx, false, func(w *wtx) (any, error) { return w.pruneLedger(start, ledgerBefore) })
		if err != nil {
			return st, fmt.Errorf("queue: prune ledger: %w", err)
		}
		res := r.(pruneLedgerResult)
		st.Ledger += res.n
		key = res.next
	}
	return st, nil
}

type pruneBillsResult struct {
	bills, items, skipped int
	next                  uint64 // first id of the next chunk; 0 when done
}

func (w *wtx) pruneBills(from uint64, before time.Time) (pruneBillsResult, error) {
	var res pruneBillsResult
	bills := w.tx.Bucket(bktBills)
	type victim struct {
		id   uint64
		code string
	}
	var victims []victim
	c := bills.Cursor()
	seen := 0
	k, v := c.Seek(u64(from))
	for ; k != nil && seen < pruneChunk; k, v = c.Next() {
		seen++
		var b Bill
		if err := json.Unmarshal(v, &b); err != nil {
			return res, abort(fmt.Errorf("%w: bill %x: %v", errCorrupt, k, err))
		}
		switch {
		case b.State == BillCancelled && b.CreatedAt.Before(before):
		case b.State == BillFinished && b.FinishedAt.Before(before):
			done, err := allDone(w, b.ID)
			if err != nil {
				return res, err
			}
			if !done {
				res.skipped++
				continue
			}
		default:
			continue
		}
		victims = append(victims, victim{b.ID, b.Code})
	}
	if k != nil {
		res.next = btou(k)
	}
	for _, vi := range victims {
		n, err := w.deletePrefix(bktItems, u64(vi.id))
		if err != nil {
			return res, err
		}
		res.items += n
		if _, err := w.deletePrefix(bktDeliveries, u64(vi.id)); err != nil {
			return res, err
		}
		if err := w.del(w.tx.Bucket(bktExpected), u64(vi.id)); err != nil {
			return res, err
		}
		if err := w.del(w.tx.Bucket(bktBillCodes), []byte(vi.code)); err != nil {
			return res, err
		}
		if err := w.del(bills, u64(vi.id)); err != nil {
			return res, err
		}
		res.bills++
	}
	return res, nil
}

func allDone(w *wtx, billID uint64) (bool, error) {
	prefix := u64(billID)
	c := w.tx.Bucket(bktDeliveries).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var d Delivery
		if err := json.Unmarshal(v, &d); err != nil {
			return false, abort(fmt.Errorf("%w: delivery %x: %v", errCorrupt, k, err))
		}
		if d.State != DeliveryDone && d.State != DeliveryDropped {
			return false, nil
		}
	}
	return true, nil
}

func (w *wtx) deletePrefix(bucket, prefix []byte) (int, error) {
	b := w.tx.Bucket(bucket)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := w.del(b, k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

func (w *wtx) pruneScans(before time.Time) (int, error) {
	scans := w.tx.Bucket(bktScans)
	var keys [][]byte
	c := scans.Cursor()
	for k, v := c.First(); k != nil && len(keys) < pruneChunk; k, v = c.Next() {
		var r ScanLog
		if err := json.Unmarshal(v, &r); err != nil {
			return 0, abort(fmt.Errorf("%w: scan %x: %v", errCorrupt, k, err))
		}
		if !r.At.Before(before) {
			break
		}
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := w.del(scans, k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

type pruneLedgerResult struct {
	n    int
	next []byte // key to resume from; nil when done
}

func (w *wtx) pruneLedger(from []byte, before time.Time) (pruneLedgerResult, error) {
	var res pruneLedgerResult
	ledger := w.tx.Bucket(bktLedger)
	var keys [][]byte
	c := ledger.Cursor()
	var k, v []byte
	if from == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(from)
	}
	for seen := 0; k != nil && seen < pruneChunk; k, v = c.Next() {
		seen++
		var e LedgerEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return res, abort(fmt.Errorf("%w: ledger %q: %v", errCorrupt, k, err))
		}
		if last, ok := e.Last(); !ok || last.At.Before(before) {
			keys = append(keys, append([]byte(nil), k...))
		}
	}
	if k != nil {
		res.next = append([]byte(nil), k...)
	}
	issues := w.tx.Bucket(bktIssues)
	for _, key := range keys {
		if err := w.del(ledger, key); err != nil {
			return res, err
		}
		if err := w.del(issues, key); err != nil {
			return res, err
		}
	}
	res.n = len(keys)
	return res, nil
}
