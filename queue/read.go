package queue

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reads run in their own read-only transactions, beside the committer.

// Bill returns a bill by id.
func (s *Store) Bill(id uint64) (Bill, error) {
	var b Bill
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		b, err = getBill(tx, id)
		return err
	})
	s.openBill(&b)
	return b, err
}

// BillByCode returns a bill by its bill_code.
func (s *Store) BillByCode(code string) (Bill, error) {
	var b Bill
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktBillCodes).Get([]byte(code))
		if len(v) != 8 {
			return fmt.Errorf("%w: bill %s", ErrNotFound, code)
		}
		var err error
		b, err = getBill(tx, btou(v))
		return err
	})
	s.openBill(&b)
	return b, err
}

// OpenBill returns the open bill of a session, if any.
func (s *Store) OpenBill(session string) (Bill, bool, error) {
	var b Bill
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktSessions).Get([]byte(session))
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: session %q", errCorrupt, session)
		}
		var err error
		b, err = getBill(tx, btou(v))
		ok = err == nil
		return err
	})
	s.openBill(&b)
	return b, ok, err
}

// Items returns a bill's codes in scan order.
func (s *Store) Items(billID uint64) ([]Item, error) {
	var items []Item
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		items, err = readItems(tx, billID)
		return err
	})
	return items, err
}

// Deliveries returns a bill's deliveries, by destination name.
func (s *Store) Deliveries(billID uint64) ([]Delivery, error) {
	var out []Delivery
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = readDeliveries(tx, billID)
		return err
	})
	for i := range out {
		_ = s.openProgress(&out[i]) // one that does not open is shown sealed
	}
	return out, err
}

// Ledger returns what happened locally to the pack with this key.
func (s *Store) Ledger(key string) (LedgerEntry, bool, error) {
	var e LedgerEntry
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bktLedger), []byte(key), &e)
		return err
	})
	return e, ok, err
}

// LedgerPrefix calls fn for every pack whose ledger key starts with
// prefix ("" is every pack), in key order, until fn returns false. Keys
// of 码上放心 codes start with the product's 7 digits and GS1 keys with
// "01" and the GTIN, so a product's packs are one range (stock-take
// shortfall, agent/stocktake.go).
func (s *Store) LedgerPrefix(prefix string, fn func(LedgerEntry) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktLedger).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			var e LedgerEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: ledger %x: %v", errCorrupt, k, err)
			}
			if !fn(e) {
				return nil
			}
		}
		return nil
	})
}

// CodeIssues returns what back ends refused about the pack with this key.
func (s *Store) CodeIssues(key string) ([]CodeIssue, error) {
	var out []CodeIssue
	err := s.db.View(func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bktIssues), []byte(key), &out)
		return err
	})
	return out, err
}

// ForEachBill calls fn for every bill in creation order until fn returns
// false.
func (s *Store) ForEachBill(fn func(Bill) bool) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktBills).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			b, err := s.decodeBill(k, v)
			if err != nil {
				return err
			}
			if !fn(b) {
				return nil
			}
		}
		return nil
	})
}

// RecentBills returns up to limit bills kept by keep (nil keeps all),
// newest first, with an id below before (0: from the newest); a caller
// pages by passing the last id it got.
func (s *Store) RecentBills(before uint64, limit int, keep func(Bill) bool) ([]Bill, error) {
	var out []Bill
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktBills).Cursor()
		var k, v []byte
		switch {
		case before == 0:
			k, v = c.Last()
		default:
			// Seek lands on before or the next id up; the page starts
			// below it (at the newest if every id is below before).
			if k, _ = c.Seek(u64(before)); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			b, err := s.decodeBill(k, v)
			if err != nil {
				return err
			}
			if keep == nil || keep(b) {
				out = append(out, b)
			}
		}
		return nil
	})
	return out, err
}

// Scans returns up to limit journal records after seq (0 = from the start).
func (s *Store) Scans(after uint64, limit int) ([]ScanLog, error) {
	var out []ScanLog
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktScans).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var r ScanLog
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: scan %x: %v", errCorrupt, k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// DeadLetters returns every dead letter, oldest bill first.
func (s *Store) DeadLetters() ([]DeadLetter, error) {
	var out []DeadLetter
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktDead).ForEach(func(k, v []byte) error {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("%w: dead letter %x: %v", errCorrupt, k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// DestStats is the queue state of one destination.
type DestStats struct {
	Pending int `json:"pending"` // waiting for an attempt (includes retries)
	Leased  int `json:"leased"`  // an attempt under way
	Failing int `json:"failing"` // pending with at least one failed attempt
	// Held: pending, held back on this device because the bill lacks data
	// (Delivery.Missing); not failing, waiting for a repair.
	Held    int `json:"held"`
	Dead    int `json:"dead"`
	Dropped int `json:"dropped,omitempty"`
	// OldestPending is when the oldest undelivered bill was finished.
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	// LastError is the most recent error of a failing delivery.
	LastError string `json:"last_error,omitempty"`
	// FailingSince is when the longest-failing delivery began to fail.
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// Stats summarises the queue.
type Stats struct {
	Bills      map[BillState]int     `json:"bills"`
	Dests      map[string]*DestStats `json:"destinations"`
	Scans      map[string]uint64     `json:"scans"` // "accepted", "duplicate", "rejected:<reason>"
	FileSize   int64                 `json:"file_size"`
	MaxSize    int64                 `json:"max_size,omitempty"`
	OpenBills  []string              `json:"open_bills,omitempty"`
	AlarmCount int                   `json:"alarms"`
	// KeyHeld counts the deliveries held because personal data of their
	// bill cannot be decrypted with this device's key (personal.go).
	KeyHeld int `json:"personal_key_held,omitempty"`
}

// Stats reads the whole queue state. It walks the bills and the due index,
// so it is meant for status pages and tests, not hot paths.
func (s *Store) Stats() (Stats, error) {
	st := Stats{Bills: map[BillState]int{}, Dests: map[string]*DestStats{}, Scans: map[string]uint64{}, MaxSize: s.opts.MaxSize}
	err := s.db.View(func(tx *bolt.Tx) error {
		st.FileSize = tx.Size()
		if err := tx.Bucket(bktBills).ForEach(func(k, v []byte) error {
			var b Bill
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("%w: bill %x: %v", errCorrupt, k, err)
			}
			st.Bills[b.State]++
			if b.State == BillOpen {
				st.OpenBills = append(st.OpenBills, b.Code)
			}
			return nil
		}); err != nil {
			return err
		}
		var lastErrAt = map[string]time.Time{}
		if err := tx.Bucket(bktDeliveries).ForEach(func(k, v []byte) error {
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("%w: delivery %x: %v", errCorrupt, k, err)
			}
			ds := st.Dests[d.Dest]
			if ds == nil {
				ds = &DestStats{}
				st.Dests[d.Dest] = ds
			}
			switch d.State {
			case DeliveryPending, DeliveryLeased:
				if d.State == DeliveryLeased {
					ds.Leased++
				} else {
					ds.Pending++
				}
				switch {
				case len(d.Missing) > 0:
					ds.Held++
					if d.Missing[0].Source == MissingKeySource {
						st.KeyHeld++
					}
				case d.LastError != "":
					ds.Failing++
					if !d.FailingSince.IsZero() && (ds.FailingSince.IsZero() || d.FailingSince.Before(ds.FailingSince)) {
						ds.FailingSince = d.FailingSince
					}
					if d.LastAt.After(lastErrAt[d.Dest]) {
						lastErrAt[d.Dest] = d.LastAt
						ds.LastError = d.LastError
					}
				}
				if ds.OldestPending.IsZero() || d.CreatedAt.Before(ds.OldestPending) {
					ds.OldestPending = d.CreatedAt
				}
			case DeliveryDead:
				ds.Dead++
			case DeliveryDropped:
				ds.Dropped++
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bktMeta).ForEach(func(k, v []byte) error {
			if name, ok := strings.CutPrefix(string(k), "count:"); ok && len(v) == 8 {
				st.Scans[name] = btou(v)
			}
			return nil
		})
	})
	sort.Strings(st.OpenBills)
	if fi, ferr := os.Stat(s.path); ferr == nil {
		st.FileSize = fi.Size()
	}
	st.AlarmCount = len(s.Alarms())
	return st, err
}
