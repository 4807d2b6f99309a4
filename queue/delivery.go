package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrLeaseLost: the lease expired and the delivery moved on; the late
// answer is ignored.
var ErrLeaseLost = errors.New("lease lost")

// Lease is a delivery handed to an uploader until LeaseUntil. If it is not
// acked, nacked or dead-lettered by then (or the process dies), it becomes
// due again and its next attempt is marked Unknown.
type Lease struct {
	Delivery Delivery
	Bill     Bill
	Items    []Item
	// Unknown: an earlier attempt may have reached the back end without its
	// answer being recorded; query before sending again.
	Unknown bool
}

// DeadLetter is a delivery the back end refused for good, with its words.
type DeadLetter struct {
	BillID   uint64    `json:"bill_id"`
	BillCode string    `json:"bill_code"`
	BillType int       `json:"bill_type"`
	Dest     string    `json:"dest"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
}

// Lease takes up to max deliveries for dest that are due now, in due order,
// and leases them for leaseFor.
func (s *Store) Lease(ctx context.Context, dest string, max int, leaseFor time.Duration) ([]Lease, error) {
	if max <= 0 || leaseFor <= 0 {
		return nil, errors.New("queue: lease needs max > 0 and a positive duration")
	}
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		due := w.tx.Bucket(bktDue)
		prefix := duePrefix(dest)
		type hit struct {
			key    []byte
			billID uint64
		}
		var hits []hit
		c := due.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(hits) < max; k, _ = c.Next() {
			at, id, err := splitDueKey(k, len(prefix))
			if err != nil {
				return nil, abort(err)
			}
			if at.After(w.now) {
				break
			}
			hits = append(hits, hit{append([]byte(nil), k...), id})
		}
		var out []Lease
		for _, h := range hits {
			d, err := getDelivery(w.tx, h.billID, dest)
			if err != nil {
				return nil, abort(err)
			}
			if d.State == DeliveryDone || d.State == DeliveryDead {
				// A stale index entry: drop it.
				if err := w.del(due, h.key); err != nil {
					return nil, err
				}
				continue
			}
			b, err := getBill(w.tx, d.BillID)
			if err != nil {
				return nil, abort(err)
			}
			w.s.openBill(&b)
			if missing := w.s.keyMissing(b, &d); len(missing) > 0 {
				// Never sent with the personal data missing or garbled.
				if err := w.holdForKey(d, missing); err != nil {
					return nil, err
				}
				continue
			}
			unknown := d.Unknown || d.State == DeliveryLeased
			token, err := w.tx.Bucket(bktLeased).NextSequence()
			if err != nil {
				return nil, abort(err)
			}
			d.State = DeliveryLeased
			d.Attempts++
			d.Lease = token
			d.Unknown = unknown
			d.LeaseUntil = w.now.Add(leaseFor)
			d.LastAt = w.now
			if err := w.reschedule(&d, d.LeaseUntil); err != nil {
				return nil, err
			}
			if err := w.put(w.tx.Bucket(bktLeased), deliveryKey(d.BillID, d.Dest), nil); err != nil {
				return nil, err
			}
			items, err := readItems(w.tx, d.BillID)
			if err != nil {
				return nil, abort(err)
			}
			out = append(out, Lease{Delivery: d, Bill: b, Items: items, Unknown: unknown})
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return r.([]Lease), nil
}

// AckInfo is what the back end said when it took the bill.
type AckInfo struct {
	// Ref is the back end's reference for the bill.
	Ref string
	// CodeErrors are codes of the bill the back end did not take (partial
	// success), code → reason.
	CodeErrors map[string]string
	// Note is a short remark for the bill's history.
	Note string
}

// Ack records that the back end has the bill. An ack is the truth whatever
// the lease: even a late one completes the delivery.
func (s *Store) Ack(ctx context.Context, billID uint64, dest string, a AckInfo) error {
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		d, err := getDelivery(w.tx, billID, dest)
		if err != nil {
			return nil, err
		}
		if d.State == DeliveryDone {
			return nil, nil
		}
		redact, err := w.redactor(billID)
		if err != nil {
			return nil, err
		}
		a.Ref, a.Note = redact(a.Ref), redact(a.Note)
		if len(a.CodeErrors) > 0 {
			errs := make(map[string]string, len(a.CodeErrors))
			for c, why := range a.CodeErrors {
				errs[c] = redact(why)
			}
			a.CodeErrors = errs
		}
		if err := w.unindex(&d); err != nil {
			return nil, err
		}
		if d.State == DeliveryDead {
			if err := w.del(w.tx.Bucket(bktDead), deliveryKey(billID, dest)); err != nil {
				return nil, err
			}
		}
		d.State, d.DoneAt, d.Result, d.Unknown, d.LastAt = DeliveryDone, w.now, a.Ref, false, w.now
		d.Unsent, d.Missing = false, nil
		d.NextAt, d.LeaseUntil, d.Note, d.LastError = time.Time{}, time.Time{}, a.Note, ""
		if err := w.putDelivery(d); err != nil {
			return nil, err
		}
		detail := dest + refSuffix(a.Ref)
		if a.Note != "" {
			detail += ": " + a.Note
		}
		if len(a.CodeErrors) > 0 {
			detail += fmt.Sprintf("; %d code(s) not taken: %s", len(a.CodeErrors), codeErrorList(a.CodeErrors))
			if err := w.codeIssues(billID, d.BillCode, dest, a.CodeErrors); err != nil {
				return nil, err
			}
		}
		if err := w.billEvent(billID, "delivered", detail); err != nil {
			return nil, err
		}
		return nil, w.erasePersonal(billID)
	})
	return err
}

// maxListedCodeErrors bounds the codes a history event names; the rest are
// in the code issues (diagnose).
const maxListedCodeErrors = 20

// codeErrorList names the codes not taken with the back end's reasons, in
// code order, so that the bill's history (queue show, the API) says which
// codes failed and why in the platform's words, not only how many.
func codeErrorList(errs map[string]string) string {
	codes := make([]string, 0, len(errs))
	for c := range errs {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	var parts []string
	for i, c := range codes {
		if i == maxListedCodeErrors {
			parts = append(parts, fmt.Sprintf("and %d more (pda-agent diagnose CODE)", len(codes)-i))
			break
		}
		why := []rune(errs[c])
		if len(why) > 200 {
			why = append(why[:200], '…')
		}
		parts = append(parts, c+" 【"+string(why)+"】")
	}
	return strings.Join(parts, ", ")
}

// codeIssues records per-code refusals under each code's ledger key.
func (w *wtx) codeIssues(billID uint64, billCode, dest string, errs map[string]string) error {
	items, err := readItems(w.tx, billID)
	if err != nil {
		return abort(err)
	}
	keyOf := map[string]string{}
	for _, it := range items {
		keyOf[it.Code] = it.Key
	}
	b := w.tx.Bucket(bktIssues)
	for code, reason := range errs {
		key, ok := keyOf[code]
		if !ok {
			key = code // the back end named a code in its own form
		}
		var list []CodeIssue
		if _, err := getJSON(b, []byte(key), &list); err != nil {
			return abort(err)
		}
		list = append(list, CodeIssue{Code: code, BillID: billID, BillCode: billCode, Dest: dest, Reason: reason, At: w.now})
		if err := w.putJSON(b, []byte(key), list); err != nil {
			return err
		}
	}
	return nil
}

func refSuffix(ref string) string {
	if ref == "" {
		return ""
	}
	return " (" + ref + ")"
}

// Retry is what Nack records about an attempt that did not finish the
// delivery.
type Retry struct {
	// At is when the next attempt is due.
	At time.Time
	// Error is the failure; empty when the delivery is not failing but
	// waiting (e.g. for the back end to finish processing).
	Error string
	// Note says what a waiting delivery waits for.
	Note string
	// Held: it waits for something on this device (an earlier bill of its
	// packs), not for the back end.
	Held bool
	// MaybeApplied: the request may have reached the back end; the next
	// attempt must query first.
	MaybeApplied bool
	// Progress is the destination's state for the next attempt.
	Progress string
	// Missing: the attempt was held back on this device because the bill
	// lacks these data; nothing was sent, and the delivery is held rather
	// than failing.
	Missing []Missing
}

// Nack records an attempt of the lease that did not finish the delivery
// and schedules the next one.
func (s *Store) Nack(ctx context.Context, billID uint64, dest string, lease uint64, r Retry) error {
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		d, err := w.leased(billID, dest, lease)
		if err != nil {
			return nil, err
		}
		if err := w.del(w.tx.Bucket(bktLeased), deliveryKey(billID, dest)); err != nil {
			return nil, err
		}
		redact, err := w.redactor(billID)
		if err != nil {
			return nil, err
		}
		r.Error, r.Note = redact(r.Error), redact(r.Note)
		d.Unsent = d.Unsent && attemptUnsent(d, r)
		d.State, d.LastError, d.Note, d.Held, d.LastAt, d.Unknown = DeliveryPending, r.Error, r.Note, r.Held, w.now, r.MaybeApplied
		d.Progress, d.Missing = r.Progress, cloneMissing(r.Missing)
		for i := range d.Missing {
			d.Missing[i].Detail = redact(d.Missing[i].Detail)
		}
		d.LeaseUntil = time.Time{}
		if r.Error != "" && len(r.Missing) == 0 {
			if d.Failures == 0 {
				d.FailingSince = w.now
			}
			d.Failures++
		} else {
			d.Failures, d.FailingSince = 0, time.Time{}
		}
		if err := w.reschedule(&d, r.At); err != nil {
			return nil, err
		}
		w.due[dest] = true
		return nil, nil
	})
	return err
}

// Checkpoint records the destination's progress under the current lease
// before a request leaves the device (write-ahead): it stores progress and
// marks the attempt as possibly on the wire, in one committed (fsynced)
// transaction. If the process dies before the answer is recorded, the
// lease expires and the next attempt sees Unknown together with this
// progress, so it can resend the very same request instead of a new one.
// ErrLeaseLost means a newer attempt owns the delivery: do not send.
// A positive extend renews the lease until now+extend, so an attempt that
// keeps checkpointing (a bill sent in many parts) is not taken for dead,
// and leased a second time, while it still works.
func (s *Store) Checkpoint(ctx context.Context, billID uint64, dest string, lease uint64, progress string, extend time.Duration) error {
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		d, err := w.leased(billID, dest, lease)
		if err != nil {
			return nil, err
		}
		d.Progress, d.Unknown = progress, true
		if until := w.now.Add(extend); extend > 0 && until.After(d.LeaseUntil) {
			d.LeaseUntil = until
			return nil, w.reschedule(&d, until)
		}
		return nil, w.putDelivery(d)
	})
	return err
}

// Dead turns the leased delivery into a dead letter carrying the back end's
// message, keeping the destination's progress (parts already uploaded). It
// is never retried unless an operator asks (RetryDead).
func (s *Store) Dead(ctx context.Context, billID uint64, dest string, lease uint64, reason, progress string) error {
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		d, err := w.leased(billID, dest, lease)
		if err != nil {
			return nil, err
		}
		if err := w.unindex(&d); err != nil {
			return nil, err
		}
		b, err := getBill(w.tx, billID)
		if err != nil {
			return nil, abort(err)
		}
		w.s.openBill(&b)
		reason = RedactPersonal(b, reason)
		d.State, d.LastError, d.Result, d.LastAt, d.Unknown = DeliveryDead, reason, reason, w.now, false
		d.Unsent, d.Missing = false, nil
		if progress != "" {
			d.Progress = progress
		}
		d.NextAt, d.LeaseUntil = time.Time{}, time.Time{}
		if err := w.putDelivery(d); err != nil {
			return nil, err
		}
		dl := DeadLetter{BillID: billID, BillCode: d.BillCode, BillType: b.Type, Dest: dest, Reason: reason, Attempts: d.Attempts, At: w.now}
		if err := w.putJSON(w.tx.Bucket(bktDead), deliveryKey(billID, dest), dl); err != nil {
			return nil, err
		}
		return nil, w.billEvent(billID, "dead letter", dest+": "+reason)
	})
	return err
}

// RetryDead puts a dead letter back in the queue, due now (operator action).
func (s *Store) RetryDead(ctx context.Context, billID uint64, dest string) error {
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		d, err := getDelivery(w.tx, billID, dest)
		if err != nil {
			return nil, err
		}
		if d.State != DeliveryDead {
			return nil, fmt.Errorf("queue: delivery %s → %s is %s, not dead", d.BillCode, dest, d.State)
		}
		if err := w.del(w.tx.Bucket(bktDead), deliveryKey(billID, dest)); err != nil {
			return nil, err
		}
		d.State, d.Failures, d.FailingSince, d.Unknown = DeliveryPending, 0, time.Time{}, true
		if err := w.reschedule(&d, w.now); err != nil {
			return nil, err
		}
		w.due[dest] = true
		return nil, w.billEvent(billID, "retry", dest+": requeued by operator")
	})
	return err
}

// DropDead records an operator's decision that a dead letter will not be
// delivered; it stays in the bill's history with the reason.
func (s *Store) DropDead(ctx context.Context, billID uint64, dest, why string) error {
	if strings.TrimSpace(why) == "" {
		return errors.New("queue: dropping a dead letter needs a reason")
	}
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		d, err := getDelivery(w.tx, billID, dest)
		if err != nil {
			return nil, err
		}
		if d.State != DeliveryDead {
			return nil, fmt.Errorf("queue: delivery %s → %s is %s, not dead", d.BillCode, dest, d.State)
		}
		if err := w.del(w.tx.Bucket(bktDead), deliveryKey(billID, dest)); err != nil {
			return nil, err
		}
		d.State, d.LastAt, d.Note = DeliveryDropped, w.now, "dropped by operator: "+why
		if err := w.putDelivery(d); err != nil {
			return nil, err
		}
		if err := w.billEvent(billID, "dropped", dest+": "+why); err != nil {
			return nil, err
		}
		return nil, w.erasePersonal(billID)
	})
	return err
}

// NextDue is when the earliest delivery for dest falls due (ok=false if
// none is scheduled).
func (s *Store) NextDue(dest string) (time.Time, bool, error) {
	var at time.Time
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		prefix := duePrefix(dest)
		k, _ := tx.Bucket(bktDue).Cursor().Seek(prefix)
		if k == nil || !bytes.HasPrefix(k, prefix) {
			return nil
		}
		t, _, err := splitDueKey(k, len(prefix))
		at, ok = t, err == nil
		return err
	})
	return at, ok, err
}

// leased loads a delivery that must still be under the given lease.
func (w *wtx) leased(billID uint64, dest string, lease uint64) (Delivery, error) {
	d, err := getDelivery(w.tx, billID, dest)
	if err != nil {
		return Delivery{}, err
	}
	if d.State != DeliveryLeased || d.Lease != lease {
		return Delivery{}, fmt.Errorf("%w: delivery %s → %s is %s (lease %d, answer for %d)", ErrLeaseLost, d.BillCode, dest, d.State, d.Lease, lease)
	}
	return d, nil
}

// reschedule moves the delivery's due entry to at and saves it.
func (w *wtx) reschedule(d *Delivery, at time.Time) error {
	due := w.tx.Bucket(bktDue)
	if !d.NextAt.IsZero() {
		if err := w.del(due, dueKey(d.Dest, d.NextAt, d.BillID)); err != nil {
			return err
		}
	}
	d.NextAt = at
	if err := w.put(due, dueKey(d.Dest, at, d.BillID), nil); err != nil {
		return err
	}
	return w.putDelivery(*d)
}

// unindex removes the delivery from the due and leased indexes.
func (w *wtx) unindex(d *Delivery) error {
	if !d.NextAt.IsZero() {
		if err := w.del(w.tx.Bucket(bktDue), dueKey(d.Dest, d.NextAt, d.BillID)); err != nil {
			return err
		}
	}
	return w.del(w.tx.Bucket(bktLeased), deliveryKey(d.BillID, d.Dest))
}

// putDelivery stores d with its progress sealed (personal.go).
func (w *wtx) putDelivery(d Delivery) error {
	d, err := w.s.sealProgress(d)
	if err != nil {
		return abort(err)
	}
	return w.putJSON(w.tx.Bucket(bktDeliveries), deliveryKey(d.BillID, d.Dest), d)
}

func (w *wtx) billEvent(billID uint64, what, detail string) error {
	b, err := getBill(w.tx, billID)
	if err != nil {
		return abort(err)
	}
	b.History = append(b.History, Event{At: w.now, What: what, Detail: detail})
	return w.putBill(b)
}

func getDelivery(tx *bolt.Tx, billID uint64, dest string) (Delivery, error) {
	var d Delivery
	ok, err := getJSON(tx.Bucket(bktDeliveries), deliveryKey(billID, dest), &d)
	if err != nil {
		return Delivery{}, err
	}
	if !ok {
		return Delivery{}, fmt.Errorf("%w: delivery of bill %d to %s", ErrNotFound, billID, dest)
	}
	return d, nil
}

func readItems(tx *bolt.Tx, billID uint64) ([]Item, error) {
	var out []Item
	prefix := u64(billID)
	c := tx.Bucket(bktItems).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var it Item
		if err := json.Unmarshal(v, &it); err != nil {
			return nil, fmt.Errorf("%w: item %x: %v", errCorrupt, k, err)
		}
		out = append(out, it)
	}
	return out, nil
}
