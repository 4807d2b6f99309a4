package queue

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Keeping personal data for a repair (issue 16). A 医保 sale row carries
// the buyer's personal fields; once they are erased a sale the platform
// lost cannot be sent again from this device. With
// Options.PersonalRetention the sealed personal attrs of a bill delivered
// to a destination of Options.RetainPersonalFor stay in the file until
// ErasePersonalDue finds that either the retention has run out since the
// last delivery finished, or every such destination's reconciliation
// found the bill present (MarkReconciled) and the settle time (the
// reconciliation's lookback) has passed since the bill was finished.
// The trade-off: personal data on the device longer (sealed with the
// device key, never in plain text) against being able to repair.

// retains tells whether the personal attrs of a bill with these
// deliveries are kept past delivery.
func (s *Store) retains(ds []Delivery) bool {
	if s.opts.PersonalRetention <= 0 {
		return false
	}
	for _, d := range ds {
		if d.State == DeliveryDone && slices.Contains(s.opts.RetainPersonalFor, d.Dest) {
			return true
		}
	}
	return false
}

// MarkReconciled notes that dest's reconciliation found these bills on the
// platform exactly as sent.
func (s *Store) MarkReconciled(ctx context.Context, dest string, billIDs []uint64) error {
	if len(billIDs) == 0 {
		return nil
	}
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		for _, id := range billIDs {
			b, err := getBill(w.tx, id)
			if err != nil {
				return nil, err
			}
			if b.Reconciled == nil {
				b.Reconciled = map[string]time.Time{}
			}
			b.Reconciled[dest] = w.now
			if err := w.putBill(b); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("noting the bills %s holds: %w", dest, err)
	}
	return nil
}

// ErasePersonalDue erases the kept personal attrs whose time has come (see
// above); settle is how long after a bill was finished a reconciliation
// that found it present lets them go. It returns how many bills it erased.
func (s *Store) ErasePersonalDue(ctx context.Context, settle time.Duration) (int, error) {
	now := s.opts.Now()
	var due []uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktBills).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			b, err := s.decodeBill(k, v)
			if err != nil {
				return err
			}
			if b.State != BillFinished || !b.PersonalErased.IsZero() || !hasPersonal(b) {
				continue
			}
			ds, err := readDeliveries(tx, b.ID)
			if err != nil {
				return err
			}
			if s.personalDue(b, ds, now, settle) {
				due = append(due, b.ID)
			}
		}
		return nil
	})
	if err != nil || len(due) == 0 {
		return 0, err
	}
	_, err = s.submit(ctx, false, func(w *wtx) (any, error) {
		for _, id := range due {
			if err := w.erasePersonalIf(id, true); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return 0, fmt.Errorf("erasing kept personal data: %w", err)
	}
	return len(due), nil
}

func hasPersonal(b Bill) bool {
	if len(b.Sealed) > 0 {
		return true
	}
	for k := range b.Attrs {
		if IsPersonal(k) {
			return true
		}
	}
	return false
}

// personalDue tells whether a delivered bill's kept personal attrs go now.
func (s *Store) personalDue(b Bill, ds []Delivery, now time.Time, settle time.Duration) bool {
	var last time.Time
	reconciled := true
	for _, d := range ds {
		if d.State != DeliveryDone && d.State != DeliveryDropped {
			return false // erasePersonal runs when the last one finishes
		}
		if d.DoneAt.After(last) {
			last = d.DoneAt
		}
		if d.State == DeliveryDone && slices.Contains(s.opts.RetainPersonalFor, d.Dest) && b.Reconciled[d.Dest].IsZero() {
			reconciled = false
		}
	}
	if !s.retains(ds) || !last.Add(s.opts.PersonalRetention).After(now) {
		return true
	}
	return reconciled && !b.FinishedAt.Add(settle).After(now)
}
