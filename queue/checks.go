package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Pending online checks (验码): a pack scanned on a bill of a checked kind
// waits here until 码上放心 has answered about it, so a check that could
// not be made before a restart (offline, rate-limited, the agent stopped)
// is made after it, and a bad verdict on a bill finished meanwhile still
// raises its alarm. One record per bill and code.

// PendingCheck is one pack waiting for its online check.
type PendingCheck struct {
	BillID   uint64 `json:"bill_id"`
	BillCode string `json:"bill_code"`
	Session  string `json:"session,omitempty"`
	Code     string `json:"code"`
	// Mode is the bill kind's checks.online mode when the pack was
	// scanned (warn, refuse).
	Mode string    `json:"mode"`
	Item Item      `json:"item"`
	At   time.Time `json:"at"`
}

func checkKey(billID uint64, code string) []byte {
	return append(u64(billID), code...)
}

// AddPendingChecks records packs waiting for their check (a pack already
// waiting is recorded again, unchanged in effect).
func (s *Store) AddPendingChecks(ctx context.Context, checks ...PendingCheck) error {
	for _, c := range checks {
		if c.BillID == 0 || c.Code == "" {
			return errors.New("queue: pending check without bill or code")
		}
	}
	if len(checks) == 0 {
		return nil
	}
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b := w.tx.Bucket(bktChecks)
		for _, c := range checks {
			if c.At.IsZero() {
				c.At = w.now
			}
			if err := w.putJSON(b, checkKey(c.BillID, c.Code), c); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("queue: recording %d pending check(s): %w", len(checks), err)
	}
	return nil
}

// CheckRef names one pending check.
type CheckRef struct {
	BillID uint64
	Code   string
}

// DonePendingChecks forgets checks that have their answer, or whose pack
// left its bill; unknown ones are ignored.
func (s *Store) DonePendingChecks(ctx context.Context, refs ...CheckRef) error {
	if len(refs) == 0 {
		return nil
	}
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b := w.tx.Bucket(bktChecks)
		for _, r := range refs {
			if err := w.del(b, checkKey(r.BillID, r.Code)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("queue: forgetting %d pending check(s): %w", len(refs), err)
	}
	return nil
}

// PendingChecks lists the packs waiting for their check, by bill and
// code.
func (s *Store) PendingChecks() ([]PendingCheck, error) {
	var out []PendingCheck
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktChecks).ForEach(func(k, v []byte) error {
			var c PendingCheck
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("%w: pending check %x: %v", errCorrupt, k, err)
			}
			if len(k) < 8 || !bytes.Equal(k, checkKey(c.BillID, c.Code)) {
				return fmt.Errorf("%w: pending check %x does not match its record", errCorrupt, k)
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}
