package agent

import (
	"context"
	"slices"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
)

// earlierUndelivered finds, for a bill about to go to dest, an earlier bill
// that moved one of its packs before it and has not reached dest yet (its
// code, or ""). Only bills created before it count, so two bills never
// wait for each other; dead and dropped deliveries do not hold it back.
// Bills not queued for dest do not either, nor, when types are given, bills
// of other types.
func earlierUndelivered(store *queue.Store, dest string, types ...int) upload.Earlier {
	return func(_ context.Context, b queue.Bill, items []queue.Item) (upload.Blocker, error) {
		seen := map[uint64]bool{}
		for _, it := range items {
			e, ok, err := store.Ledger(it.Key)
			if err != nil {
				return upload.Blocker{}, err
			}
			if !ok {
				continue
			}
			for _, ev := range e.Events {
				if ev.BillID == b.ID {
					break // what moved the pack later does not matter
				}
				if ev.BillID > b.ID || seen[ev.BillID] || (len(types) > 0 && !slices.Contains(types, ev.BillType)) {
					continue
				}
				seen[ev.BillID] = true
				ds, err := store.Deliveries(ev.BillID)
				if err != nil {
					return upload.Blocker{}, err
				}
				for _, d := range ds {
					switch {
					case d.Dest != dest:
					case d.State == queue.DeliveryLeased:
						return upload.Blocker{Code: ev.BillCode}, nil // under way: look again soon
					case d.State == queue.DeliveryPending:
						return upload.Blocker{Code: ev.BillCode, Next: d.NextAt}, nil
					}
				}
			}
		}
		return upload.Blocker{}, nil
	}
}
