package queue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reads for status and diagnose: what an operator asks about a device that
// the hot paths never need.

// DiskFree is the space still usable on the queue file's filesystem; an
// error (errors.ErrUnsupported on some platforms) when it cannot be known.
func (s *Store) DiskFree() (int64, error) {
	free, _, err := s.space.diskSpace(s.space.dir)
	return free, err
}

// DestHistory is what the deliveries on file tell about one destination.
type DestHistory struct {
	// LastDone is the latest delivery the back end took.
	LastDone time.Time `json:"last_done,omitzero"`
	// LastError and LastErrorAt are the latest failed attempt of a
	// delivery still undelivered, or the latest dead letter's reason.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// DestHistories reads every delivery on file and summarises it per
// destination. Like Stats it walks the deliveries: for status, not hot
// paths.
func (s *Store) DestHistories() (map[string]DestHistory, error) {
	out := map[string]DestHistory{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktDeliveries).ForEach(func(k, v []byte) error {
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("%w: delivery %x: %v", errCorrupt, k, err)
			}
			h := out[d.Dest]
			switch {
			case d.State == DeliveryDone && d.DoneAt.After(h.LastDone):
				h.LastDone = d.DoneAt
			case (d.State == DeliveryPending || d.State == DeliveryLeased || d.State == DeliveryDead) &&
				d.LastError != "" && len(d.Missing) == 0 && d.LastAt.After(h.LastErrorAt):
				// A held delivery's words are about the bill, not the back end.
				h.LastError, h.LastErrorAt = d.LastError, d.LastAt
			}
			out[d.Dest] = h
			return nil
		})
	})
	return out, err
}

// FindScans walks the scan journal from the newest record back and
// returns up to limit records that match accepts, newest first. A record
// whose stored form contains none of needles is skipped without decoding
// it: a diagnose may walk many thousand scans. Needles are compared with
// the JSON encoding of the record, so they are encoded the same way first.
func (s *Store) FindScans(needles []string, limit int, match func(ScanLog) bool) ([]ScanLog, error) {
	enc := make([][]byte, 0, len(needles))
	for _, n := range needles {
		if n == "" {
			continue
		}
		b, err := json.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("queue: find scans: %w", err)
		}
		enc = append(enc, b[1:len(b)-1]) // without the quotes
	}
	var out []ScanLog
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktScans).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if !containsAny(v, enc) {
				continue
			}
			var r ScanLog
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: scan %x: %v", errCorrupt, k, err)
			}
			if match(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

func containsAny(v []byte, needles [][]byte) bool {
	for _, n := range needles {
		if bytes.Contains(v, n) {
			return true
		}
	}
	return false
}
