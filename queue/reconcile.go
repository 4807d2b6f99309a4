package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ReconcileRun is one reconciliation of a back end: what the platform
// holds against what this device finished in a period. Runs are kept, so
// the store can show when it was checked and what was found.
type ReconcileRun struct {
	Seq      uint64             `json:"seq"`
	At       time.Time          `json:"at"`
	Dest     string             `json:"dest"`
	From     time.Time          `json:"from"`
	To       time.Time          `json:"to"`
	Bills    int                `json:"bills"`    // bills of the device compared
	Records  int                `json:"records"`  // platform records read
	Findings []ReconcileFinding `json:"findings"` // differences; none: the platform holds exactly what was sent
	Skipped  []string           `json:"skipped,omitempty"`
	// Compared are the codes of the bills the back end compared (set by
	// reconcile's back ends for reconcile.Run, which notes the bills found
	// as sent: MarkReconciled); not kept.
	Compared []string `json:"-"`
}

// ReconcileFinding is one difference between the device and a platform.
type ReconcileFinding struct {
	Kind     string   `json:"kind"` // missing_on_platform, codes_differ, unknown_here
	Bill     string   `json:"bill,omitempty"`
	Row      string   `json:"row,omitempty"` // the platform's row key (医保 fixmedins_bchno)
	Local    []string `json:"local,omitempty"`
	Platform []string `json:"platform,omitempty"`
	Detail   string   `json:"detail"`
}

// SaveReconcile keeps a run and returns it with its sequence number (and
// At, if it was zero).
func (s *Store) SaveReconcile(ctx context.Context, run ReconcileRun) (ReconcileRun, error) {
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b := w.tx.Bucket(bktReconcile)
		seq, err := b.NextSequence()
		if err != nil {
			return nil, abort(err)
		}
		run.Seq = seq
		if run.At.IsZero() {
			run.At = w.now
		}
		return run, w.putJSON(b, u64(seq), run)
	})
	if err != nil {
		return ReconcileRun{}, fmt.Errorf("saving the reconciliation of %s: %w", run.Dest, err)
	}
	return r.(ReconcileRun), nil
}

// ReconcileRuns returns the kept runs, newest first, at most limit (all
// if limit ≤ 0).
func (s *Store) ReconcileRuns(limit int) ([]ReconcileRun, error) {
	var out []ReconcileRun
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktReconcile).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var r ReconcileRun
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: reconcile run %x: %v", errCorrupt, k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// ErrNotDone: only a delivered bill can be sent again.
var ErrNotDone = errors.New("the delivery is not done")

// Resend queues a delivered bill again for dest, due now, with the
// progress the destination gives for a resend (its own rules keep the
// bill's identity at the back end, so the platform dedupes). It is the
// one-click repair of a reconciliation finding; the bill's history says
// why.
func (s *Store) Resend(ctx context.Context, billID uint64, dest, progress, why string) error {
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		d, err := getDelivery(w.tx, billID, dest)
		if err != nil {
			return nil, err
		}
		if d.State != DeliveryDone {
			return nil, fmt.Errorf("queue: delivery %s → %s is %s: %w", d.BillCode, dest, d.State, ErrNotDone)
		}
		d.State, d.Progress, d.Unknown, d.Failures, d.FailingSince = DeliveryPending, progress, false, 0, time.Time{}
		d.DoneAt, d.Note, d.LastError = time.Time{}, "sent again: "+why, ""
		if err := w.reschedule(&d, w.now); err != nil {
			return nil, err
		}
		w.due[dest] = true
		return nil, w.billEvent(billID, "resend", dest+": "+why)
	})
	return err
}

// PruneReconcile drops the kept runs made before cutoff and returns how
// many went (reconcile.keep). The newest run of each back end stays
// whatever its age: it holds the open findings and the resend needs it.
func (s *Store) PruneReconcile(ctx context.Context, cutoff time.Time) (int, error) {
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b := w.tx.Bucket(bktReconcile)
		newest := map[string]bool{}
		var drop [][]byte
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var run ReconcileRun
			if err := json.Unmarshal(v, &run); err != nil {
				return nil, abort(fmt.Errorf("%w: reconcile run %x: %v", errCorrupt, k, err))
			}
			if !newest[run.Dest] {
				newest[run.Dest] = true
				continue
			}
			if run.At.Before(cutoff) {
				drop = append(drop, append([]byte(nil), k...))
			}
		}
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return nil, abort(err)
			}
		}
		return len(drop), nil
	})
	if err != nil {
		return 0, fmt.Errorf("pruning reconciliation runs: %w", err)
	}
	return r.(int), nil
}
