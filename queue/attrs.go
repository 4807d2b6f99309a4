package queue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Missing is one datum a destination needs and a bill lacks, as the
// destination's check names it.
type Missing struct {
	// Field is the back end's own name of the datum (e.g. prsc_dr_name).
	Field string `json:"field"`
	// Source is where the value comes from, and so what to fix: "attr
	// nhsa.prsc_dr_name", "catalogue", "config nhsa.phar_name", "code" (the
	// pack's own data), "partner".
	Source string `json:"source"`
	// Detail says it in words (English, the platform field's Chinese name
	// where known).
	Detail string `json:"detail"`
}

func cloneMissing(m []Missing) []Missing {
	if len(m) == 0 {
		return nil
	}
	return slices.Clone(m)
}

// attemptUnsent tells whether the attempt a Nack records certainly sent
// nothing: it was held back for missing data or waited for an earlier bill
// on this device, and it was not the continuation of an attempt whose
// outcome is unknown (the lease's Unknown).
func attemptUnsent(d Delivery, r Retry) bool {
	return !d.Unknown && (len(r.Missing) > 0 || r.Held)
}

// MayHaveBeenSent tells whether some attempt of the delivery may have reached the
// back end (or one is under way).
func (d Delivery) MayHaveBeenSent() bool {
	return !d.Unsent || d.Unknown || d.State == DeliveryLeased
}

// Reasons a change of a finished bill's attrs is refused (AttrsError).
const (
	// AttrsCancelled: the bill was cancelled; nothing will be sent.
	AttrsCancelled = "bill_cancelled"
	// AttrsInFlight: an attempt to a destination using the attr is under
	// way; try again when it has ended.
	AttrsInFlight = "attempt_in_flight"
	// AttrsSent: a destination using the attr may already have received
	// the bill; what it holds cannot be changed from here.
	AttrsSent = "already_sent"
)

// AttrsError is a refused change of a bill's attrs, with its reason.
type AttrsError struct {
	Reason   string
	BillCode string
	Dest     string
	Keys     []string
}

func (e *AttrsError) Error() string {
	keys := strings.Join(e.Keys, ", ")
	switch e.Reason {
	case AttrsCancelled:
		return fmt.Sprintf("bill %s was cancelled; its attrs cannot change", e.BillCode)
	case AttrsInFlight:
		return fmt.Sprintf("bill %s: an attempt to %s is under way; change %s when it has ended", e.BillCode, e.Dest, keys)
	}
	return fmt.Sprintf("bill %s: %s may already have received it (an attempt may have reached the back end), so %s cannot change: the back end keeps what it was sent", e.BillCode, e.Dest, keys)
}

// ChangeAttrs changes the attrs of a bill by code: a nil value deletes the
// attr, an empty map changes nothing. On a finished bill it refuses (an
// *AttrsError) when a destination that uses a changed attr (uses(dest,
// key); nil means every destination uses every attr) may already have been
// sent the bill, or has an attempt under way: what left the device cannot
// be changed from here. The pending deliveries of the destinations using a
// changed attr are due at once afterwards (held ones are looked at again).
// It returns the bill and those destinations.
func (s *Store) ChangeAttrs(ctx context.Context, billCode string, changes map[string]*string, uses func(dest, key string) bool) (Bill, []string, error) {
	if uses == nil {
		uses = func(string, string) bool { return true }
	}
	if err := checkOriginalKeys(changes); err != nil {
		return Bill{}, nil, err
	}
	type result struct {
		b     Bill
		dests []string
	}
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b, err := billByCode(w.tx, billCode)
		if err != nil {
			return nil, err
		}
		if b.State == BillCancelled {
			return nil, &AttrsError{Reason: AttrsCancelled, BillCode: b.Code}
		}
		w.s.openBill(&b)
		var keys []string
		for _, k := range slices.Sorted(maps.Keys(changes)) {
			old, had := b.Attrs[k]
			if v := changes[k]; (v == nil && had) || (v != nil && (!had || old != *v)) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return result{b: b}, nil
		}
		var ds []Delivery
		if b.State == BillFinished {
			if ds, err = readDeliveries(w.tx, b.ID); err != nil {
				return nil, abort(err)
			}
		}
		var touched []Delivery
		for _, d := range ds {
			var used []string
			for _, k := range keys {
				if uses(d.Dest, k) {
					used = append(used, k)
				}
			}
			if len(used) == 0 {
				continue
			}
			switch {
			case d.State == DeliveryLeased:
				return nil, &AttrsError{Reason: AttrsInFlight, BillCode: b.Code, Dest: d.Dest, Keys: used}
			case d.MayHaveBeenSent():
				return nil, &AttrsError{Reason: AttrsSent, BillCode: b.Code, Dest: d.Dest, Keys: used}
			}
			touched = append(touched, d)
		}
		if b.Attrs == nil {
			b.Attrs = map[string]string{}
		}
		var words []string
		for _, k := range keys {
			delete(b.Sealed, k) // replaces a value the key cannot open
			if v := changes[k]; v == nil {
				delete(b.Attrs, k)
				words = append(words, k+" deleted")
			} else {
				b.Attrs[k] = *v
				words = append(words, k+" set")
			}
		}
		if len(b.Attrs) == 0 {
			b.Attrs = nil
		}
		if b.State == BillFinished {
			// The history names the keys only: values may be personal data.
			b.History = append(b.History, Event{At: w.now, What: "attrs changed", Detail: strings.Join(words, ", ")})
		}
		if err := w.putBill(b); err != nil {
			return nil, err
		}
		if b.State == BillFinished {
			// Every destination may have it already: nothing to keep.
			if err := w.erasePersonal(b.ID); err != nil {
				return nil, err
			}
			if b, err = getBill(w.tx, b.ID); err != nil {
				return nil, abort(err)
			}
		}
		var dests []string
		for _, d := range touched {
			if d.State != DeliveryPending {
				continue
			}
			if err := w.reschedule(&d, w.now); err != nil {
				return nil, err
			}
			w.due[d.Dest] = true
			dests = append(dests, d.Dest)
		}
		return result{b: b, dests: dests}, nil
	})
	if err != nil {
		return Bill{}, nil, err
	}
	res := r.(result)
	s.openBill(&res.b)
	return res.b, res.dests, nil
}

// ErrNotHeld: the delivery is neither a dead letter nor held back for
// missing data, so an operator's retry or drop does not apply.
var ErrNotHeld = errors.New("not a dead letter nor a held delivery")

// ErrSentHeld: a held delivery that may already have sent part of its
// bill cannot be dropped as never sent; repair its data instead.
var ErrSentHeld = errors.New("held after part of it may have been sent: repair its data (queue set / PATCH attrs, catalogue) rather than drop it")

// Retry puts a dead letter back in the queue (RetryDead), or has a held
// delivery looked at again now (operator action).
func (s *Store) Retry(ctx context.Context, billID uint64, dest string) error {
	d, err := s.delivery(billID, dest)
	if err != nil {
		return err
	}
	if d.State == DeliveryDead {
		return s.RetryDead(ctx, billID, dest)
	}
	_, err = s.submit(ctx, false, func(w *wtx) (any, error) {
		d, err := getDelivery(w.tx, billID, dest)
		if err != nil {
			return nil, err
		}
		if d.State != DeliveryPending || len(d.Missing) == 0 {
			return nil, fmt.Errorf("queue: delivery %s → %s is %s: %w", d.BillCode, dest, d.State, ErrNotHeld)
		}
		if err := w.reschedule(&d, w.now); err != nil {
			return nil, err
		}
		w.due[dest] = true
		return nil, w.billEvent(billID, "retry", dest+": held delivery looked at again by operator")
	})
	return err
}

// Drop records an operator's decision that a dead letter (DropDead) or a
// held delivery will not be delivered; it stays in the bill's history with
// the reason, and no longer holds later bills of its packs back.
func (s *Store) Drop(ctx context.Context, billID uint64, dest, why string) error {
	if strings.TrimSpace(why) == "" {
		return errors.New("queue: dropping a delivery needs a reason")
	}
	d, err := s.delivery(billID, dest)
	if err != nil {
		return err
	}
	if d.State == DeliveryDead {
		return s.DropDead(ctx, billID, dest, why)
	}
	_, err = s.submit(ctx, false, func(w *wtx) (any, error) {
		d, err := getDelivery(w.tx, billID, dest)
		if err != nil {
			return nil, err
		}
		if d.State != DeliveryPending || len(d.Missing) == 0 {
			return nil, fmt.Errorf("queue: delivery %s → %s is %s: %w", d.BillCode, dest, d.State, ErrNotHeld)
		}
		if d.MayHaveBeenSent() {
			// Part of the bill may be on the platform (a part sent before
			// the bill was held): "dropped" would tell later returns that
			// none of it went there.
			return nil, fmt.Errorf("queue: delivery %s → %s is held, but an earlier attempt may have sent part of it: %w", d.BillCode, dest, ErrSentHeld)
		}
		if err := w.unindex(&d); err != nil {
			return nil, err
		}
		d.State, d.LastAt, d.Note = DeliveryDropped, w.now, "dropped by operator: "+why
		d.NextAt, d.LeaseUntil = time.Time{}, time.Time{}
		if err := w.putDelivery(d); err != nil {
			return nil, err
		}
		if err := w.billEvent(billID, "dropped", dest+" (held, never sent): "+why); err != nil {
			return nil, err
		}
		return nil, w.erasePersonal(billID)
	})
	return err
}

// billByCode loads a bill by its bill_code inside a transaction.
func billByCode(tx *bolt.Tx, code string) (Bill, error) {
	v := tx.Bucket(bktBillCodes).Get([]byte(code))
	if len(v) != 8 {
		return Bill{}, fmt.Errorf("%w: bill %s", ErrNotFound, code)
	}
	return getBill(tx, btou(v))
}

// delivery reads one delivery.
func (s *Store) delivery(billID uint64, dest string) (Delivery, error) {
	var d Delivery
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		d, err = getDelivery(tx, billID, dest)
		return err
	})
	return d, err
}
