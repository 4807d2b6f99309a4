package queue

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// BillRecord is a bill with its codes and its deliveries: what an audit
// export holds per bill. Its JSON shape is the local API's bill view.
type BillRecord struct {
	Bill       Bill       `json:"bill"`
	Items      []Item     `json:"items"`
	Deliveries []Delivery `json:"deliveries"`
}

// WalkBillRecords calls fn for every bill, oldest first, with its items and
// deliveries. Everything comes from one read transaction, so an export is a
// consistent snapshot even while uploads go on; total is the number of bills
// in that snapshot (for progress). An error from fn stops the walk and is
// returned. The one read transaction lasts the whole walk, and bbolt cannot
// grow the file under it: this is for a queue no agent is writing (the
// running agent's export pages through the API instead).
func (s *Store) WalkBillRecords(fn func(r BillRecord, total int) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		bills := tx.Bucket(bktBills)
		total := bills.Stats().KeyN
		c := bills.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var r BillRecord
			var err error
			if r.Bill, err = s.decodeBill(k, v); err != nil {
				return err
			}
			if r.Items, err = readItems(tx, r.Bill.ID); err != nil {
				return err
			}
			if r.Deliveries, err = readDeliveries(tx, r.Bill.ID); err != nil {
				return err
			}
			for i := range r.Deliveries {
				_ = s.openProgress(&r.Deliveries[i]) // one that does not open stays sealed
			}
			if err := fn(r, total); err != nil {
				return err
			}
		}
		return nil
	})
}

// readDeliveries reads a bill's deliveries, by destination name.
func readDeliveries(tx *bolt.Tx, billID uint64) ([]Delivery, error) {
	var out []Delivery
	prefix := u64(billID)
	c := tx.Bucket(bktDeliveries).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var d Delivery
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, fmt.Errorf("%w: delivery %x: %v", errCorrupt, k, err)
		}
		out = append(out, d)
	}
	return out, nil
}
