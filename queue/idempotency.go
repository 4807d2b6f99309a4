package queue

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Idempotency records keep the first successful answer to a request that
// carried an Idempotency-Key, so that a client retrying after a timeout
// gets that answer again instead of a second bill or a refusal of the
// first one's codes. They live in the queue file (a restart keeps them)
// for IdemRetention, at most IdemMax of them.
const (
	IdemRetention = 24 * time.Hour
	IdemMax       = 10000
	// idemPruneEvery spaces the pruning scans out.
	idemPruneEvery = 10 * time.Minute
)

// IdemRecord is one remembered answer.
type IdemRecord struct {
	// Scope is the request's method and route ("POST /v1/bills"): a key
	// reused on another route is a mismatch, not a replay.
	Scope string `json:"scope"`
	// Digest is the SHA-256 of the request body, hex.
	Digest string    `json:"digest"`
	Status int       `json:"status"`
	Body   []byte    `json:"body"`
	At     time.Time `json:"at"`
}

// Idempotent returns the record of key, if one is kept and not expired.
func (s *Store) Idempotent(key string) (IdemRecord, bool, error) {
	var rec IdemRecord
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bktIdem), []byte(key), &rec)
		return err
	})
	if err != nil {
		return IdemRecord{}, false, fmt.Errorf("queue: idempotency key %q: %w", key, err)
	}
	if ok && s.opts.Now().Sub(rec.At) > IdemRetention {
		return IdemRecord{}, false, nil
	}
	return rec, ok, nil
}

// RememberIdempotent stores rec under key (rec.At is set to now), and
// prunes expired records and those over IdemMax, oldest first.
func (s *Store) RememberIdempotent(ctx context.Context, key string, rec IdemRecord) error {
	if key == "" {
		return fmt.Errorf("queue: empty idempotency key")
	}
	now := s.opts.Now()
	rec.At = now
	prune := now.Sub(time.Unix(0, s.idemPruned.Load())) >= idemPruneEvery
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b := w.tx.Bucket(bktIdem)
		if err := w.putJSON(b, []byte(key), rec); err != nil {
			return nil, err
		}
		if !prune && b.Stats().KeyN <= IdemMax {
			return nil, nil
		}
		return nil, pruneIdem(w, b, now, IdemMax)
	})
	if err != nil {
		return fmt.Errorf("queue: remembering idempotency key %q: %w", key, err)
	}
	if prune {
		s.idemPruned.Store(now.UnixNano())
	}
	return nil
}

// pruneIdem deletes records older than IdemRetention, then the oldest
// ones beyond max.
func pruneIdem(w *wtx, b *bolt.Bucket, now time.Time, max int) error {
	type kept struct {
		key []byte
		at  time.Time
	}
	var live []kept
	var drop [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var rec IdemRecord
		if _, err := getJSON(b, k, &rec); err != nil || now.Sub(rec.At) > IdemRetention {
			drop = append(drop, slices.Clone(k))
			return nil
		}
		live = append(live, kept{slices.Clone(k), rec.At})
		return nil
	})
	if err != nil {
		return abort(err)
	}
	if over := len(live) - max; over > 0 {
		slices.SortFunc(live, func(a, b kept) int { return a.at.Compare(b.at) })
		for _, k := range live[:over] {
			drop = append(drop, k.key)
		}
	}
	for _, k := range drop {
		if err := w.del(b, k); err != nil {
			return err
		}
	}
	return nil
}
