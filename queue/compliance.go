package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ComplianceRecord is the last compliance refresh of one platform (issue
// 16: 码上放心's 验证率, service end, key-variety list and changed upstream
// bills), kept so that status, the compliance view and diagnose show it
// after a restart, and on a stopped agent, until the next refresh. The
// queue does not read the figures: they are the agent's JSON.
type ComplianceRecord struct {
	Dest string          `json:"dest"`
	At   time.Time       `json:"at"`
	Figs json.RawMessage `json:"figures"`
	// KeyVarieties are the product keys of the official key-variety list
	// merged into receiving, of KeyVersion; empty when never fetched.
	KeyVarieties []string `json:"key_varieties,omitempty"`
	KeyVersion   string   `json:"key_version,omitempty"`
}

// SaveCompliance replaces the kept record of rec.Dest.
func (s *Store) SaveCompliance(ctx context.Context, rec ComplianceRecord) error {
	if rec.Dest == "" {
		return fmt.Errorf("queue: compliance record without a destination")
	}
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		return nil, w.putJSON(w.tx.Bucket(bktCompliance), []byte(rec.Dest), rec)
	})
	if err != nil {
		return fmt.Errorf("saving the %s compliance figures: %w", rec.Dest, err)
	}
	return nil
}

// Compliance returns the kept record of dest; ok is false when none was
// kept yet.
func (s *Store) Compliance(dest string) (rec ComplianceRecord, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktCompliance)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(dest))
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("%w: compliance record %s: %v", errCorrupt, dest, err)
		}
		ok = true
		return nil
	})
	if err != nil {
		return ComplianceRecord{}, false, fmt.Errorf("reading the %s compliance figures: %w", dest, err)
	}
	return rec, ok, nil
}
