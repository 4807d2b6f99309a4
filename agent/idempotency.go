package agent

import (
	"context"

	"github.com/pda-agent/pda-agent/queue"
)

// Idempotent returns the answer remembered for an Idempotency-Key.
func (a *Agent) Idempotent(key string) (queue.IdemRecord, bool, error) {
	return a.store.Idempotent(key)
}

// RememberIdempotent keeps the first successful answer to a request that
// carried an Idempotency-Key (in the queue file, queue.IdemRetention).
func (a *Agent) RememberIdempotent(ctx context.Context, key string, rec queue.IdemRecord) error {
	return a.store.RememberIdempotent(ctx, key, rec)
}
