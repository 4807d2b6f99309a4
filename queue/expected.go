package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Expected is one pack a receiving expects, from the supplier's outbound
// bill (码上放心 listupout.detail): the clerk's scans are compared with it.
type Expected struct {
	Code     string `json:"code"`
	Key      string `json:"key"`
	Product  string `json:"product,omitempty"`
	Name     string `json:"name,omitempty"`
	Lot      string `json:"lot,omitempty"`
	Produced string `json:"produced,omitempty"`
	Expiry   string `json:"expiry,omitempty"`
	// Upstream is the supplier's bill the pack is on.
	Upstream string `json:"upstream"`
	// Parent is the case code the pack came in, when a case was listed.
	Parent string `json:"parent,omitempty"`
	// Special marks 特药 and key varieties: they must be scanned one by one.
	Special bool `json:"special,omitempty"`
}

// SetExpected stores what the session's open bill expects (replacing any
// earlier list) and records the upstream bills in the bill's attributes.
func (s *Store) SetExpected(ctx context.Context, session string, upstream []string, exp []Expected) (Bill, error) {
	data, err := json.Marshal(exp)
	if err != nil {
		return Bill{}, err
	}
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b, err := w.openBill(session)
		if err != nil {
			return nil, err
		}
		if b.Attrs == nil {
			b.Attrs = map[string]string{}
		}
		b.Attrs["upstream"] = strings.Join(upstream, ",")
		b.History = append(b.History, Event{At: w.now, What: "expecting", Detail: fmt.Sprintf("%d codes (packs and cases) of %s", len(exp), strings.Join(upstream, ","))})
		if err := w.put(w.tx.Bucket(bktExpected), u64(b.ID), data); err != nil {
			return nil, err
		}
		return b, w.putBill(b)
	})
	if err != nil {
		return Bill{}, err
	}
	return r.(Bill), nil
}

// ExpectedOf returns what a bill expects (nil when it expects nothing).
func (s *Store) ExpectedOf(billID uint64) ([]Expected, error) {
	var out []Expected
	err := s.db.View(func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bktExpected), u64(billID), &out)
		return err
	})
	return out, err
}

// UpstreamState is what this store decided about a supplier's outbound bill
// beyond receiving it: a rejection (拒收), with its reason.
type UpstreamState struct {
	BillCode string    `json:"bill_code"`
	Rejected bool      `json:"rejected"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
	// History keeps every decision, oldest first.
	History []Event `json:"history,omitempty"`
}

// SetUpstreamRejected records (or, with rejected false, undoes) the
// rejection of a supplier's bill.
func (s *Store) SetUpstreamRejected(ctx context.Context, billCode string, rejected bool, reason string) (UpstreamState, error) {
	r, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		b := w.tx.Bucket(bktUpstream)
		var st UpstreamState
		if _, err := getJSON(b, []byte(billCode), &st); err != nil {
			return nil, abort(err)
		}
		if !rejected && !st.Rejected {
			return nil, fmt.Errorf("%w: %s is not rejected", ErrNotFound, billCode)
		}
		what := "rejected"
		if !rejected {
			what = "rejection undone"
		}
		st.BillCode, st.Rejected, st.Reason, st.At = billCode, rejected, reason, w.now
		st.History = append(st.History, Event{At: w.now, What: what, Detail: reason})
		return st, w.putJSON(b, []byte(billCode), st)
	})
	if err != nil {
		return UpstreamState{}, err
	}
	return r.(UpstreamState), nil
}

// UpstreamStates returns every recorded decision about supplier bills.
func (s *Store) UpstreamStates() (map[string]UpstreamState, error) {
	out := map[string]UpstreamState{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktUpstream).ForEach(func(k, v []byte) error {
			var st UpstreamState
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("%w: upstream %q: %v", errCorrupt, k, err)
			}
			out[string(k)] = st
			return nil
		})
	})
	return out, err
}
