package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// request is one write waiting for the committer. fn runs inside the batch
// transaction; it must check before it writes, so that a logical refusal
// (a plain error) leaves nothing behind, and wrap any error it meets after
// writing with abort(), which rolls the whole batch back. fn may run twice
// (once in a batch that failed, once alone), so it must only touch the tx.
type request struct {
	scan bool // consumes space: refused when the queue is full
	fn   func(*wtx) (any, error)
	res  any
	err  error
	done chan struct{}
}

// wtx is the context a request's fn runs in.
type wtx struct {
	tx  *bolt.Tx
	s   *Store
	now time.Time
	// due collects destinations with newly due deliveries, announced after
	// the commit.
	due map[string]bool
	// written approximates the bytes put in this transaction, against
	// budget (bytes the size cap still allows; negative = no cap).
	written, budget int64
}

func (w *wtx) put(b *bolt.Bucket, k, v []byte) error {
	w.written += int64(len(k) + len(v))
	if err := b.Put(k, v); err != nil {
		return abort(err)
	}
	return nil
}

func (w *wtx) putJSON(b *bolt.Bucket, k []byte, v any) error {
	w.written += int64(len(k))
	if err := putJSON(b, k, v); err != nil {
		return abort(err)
	}
	return nil
}

func (w *wtx) del(b *bolt.Bucket, k []byte) error {
	if err := b.Delete(k); err != nil {
		return abort(err)
	}
	return nil
}

// abortError marks an error that invalidates the whole batch transaction.
type abortError struct{ err error }

func (e *abortError) Error() string { return e.err.Error() }
func (e *abortError) Unwrap() error { return e.err }

func abort(err error) error {
	var ae *abortError
	if err == nil || errors.As(err, &ae) {
		return err
	}
	return &abortError{err}
}

// submit hands fn to the committer and waits until the transaction holding
// it is durable (or failed). Once submitted a request is always answered,
// even if ctx ends meanwhile: the caller must learn whether its record was
// written.
func (s *Store) submit(ctx context.Context, scan bool, fn func(*wtx) (any, error)) (any, error) {
	r := &request{scan: scan, fn: fn, done: make(chan struct{})}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.sending.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	select {
	case s.reqs <- r:
		s.sending.Done()
	case <-ctx.Done():
		s.sending.Done()
		return nil, ctx.Err()
	}
	<-r.done
	var ae *abortError
	if errors.As(r.err, &ae) {
		return nil, ae.err
	}
	return r.res, r.err
}

// commitLoop is the single writer. It takes every request waiting at the
// moment (up to MaxBatch) into one transaction, so the fsync cost is shared
// by a burst while a lone scan pays exactly one commit.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*request, 0, s.opts.MaxBatch)
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.stop:
			// Close waited for senders; answer everything already queued.
			for {
				batch = batch[:0]
			drain:
				for len(batch) < s.opts.MaxBatch {
					select {
					case r := <-s.reqs:
						batch = append(batch, r)
					default:
						break drain
					}
				}
				if len(batch) == 0 {
					return
				}
				s.runBatch(batch)
			}
		}
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.runBatch(batch)
	}
}

func (s *Store) runBatch(batch []*request) {
	now := s.opts.Now()
	refuse := s.space.refusal(now)
	due := map[string]bool{}
	start := time.Now() // the real clock: Options.Now may be a test's
	err := s.db.Update(func(tx *bolt.Tx) error {
		w := &wtx{tx: tx, s: s, now: now, due: due, budget: -1}
		if refuse == nil {
			w.budget, refuse = s.space.capBudget(tx, s.db)
		}
		for _, r := range batch {
			if r.scan {
				if refuse == nil && w.budget >= 0 && w.written*2 > w.budget {
					refuse = s.space.capReached(tx, s.db)
				}
				if refuse != nil {
					r.res, r.err = nil, refuse
					continue
				}
			}
			r.res, r.err = r.fn(w)
			var ae *abortError
			if errors.As(r.err, &ae) {
				return r.err
			}
		}
		return nil
	})
	if err == nil {
		s.commits.Add(1)
		took := time.Since(start)
		if s.opts.OnDue != nil {
			for dest := range due {
				s.opts.OnDue(dest)
			}
		}
		for _, r := range batch {
			close(r.done)
		}
		// After the answers: the callers' acks never wait for metrics.
		if s.opts.OnCommit != nil {
			s.opts.OnCommit(took, len(batch))
		}
		return
	}
	if isSpaceError(err) && s.space.onFull(err, now) {
		// The reserve file was just given back: the same batch now fits
		// (scans in it are refused by the new full state).
		s.runBatch(batch)
		return
	}
	if len(batch) == 1 {
		r := batch[0]
		if isSpaceError(err) {
			// Every write path, not only scans, answers "queue full" when
			// the disk or the size cap leaves no room for it.
			err = fmt.Errorf("%w: writing the queue in %s: %w", ErrQueueFull, s.space.dir, err)
		}
		r.res, r.err = nil, abort(err)
		close(r.done)
		return
	}
	// One request (or the commit) failed: give each its own transaction so
	// that only the guilty one fails.
	for _, r := range batch {
		s.runBatch([]*request{r})
	}
}

// Commits is the number of write transactions committed since Open.
func (s *Store) Commits() uint64 { return s.commits.Load() }
