package queue

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Keys are big-endian so that bbolt's byte order is numeric order.

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btou(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// itemKey orders a bill's codes after its id.
func itemKey(billID uint64, seq int) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, billID)
	binary.BigEndian.PutUint32(b[8:], uint32(seq))
	return b
}

// deliveryKey is billID(8) ‖ dest.
func deliveryKey(billID uint64, dest string) []byte {
	return append(u64(billID), dest...)
}

func splitDeliveryKey(k []byte) (uint64, string, error) {
	if len(k) <= 8 {
		return 0, "", fmt.Errorf("%w: delivery key of %d bytes", errCorrupt, len(k))
	}
	return btou(k[:8]), string(k[8:]), nil
}

// dueKey is dest ‖ 0x00 ‖ unix-nanos(8) ‖ billID(8): per destination, in
// due-time order, so leasing is a cursor walk from the destination's prefix.
func dueKey(dest string, at time.Time, billID uint64) []byte {
	b := make([]byte, 0, len(dest)+17)
	b = append(b, dest...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	return binary.BigEndian.AppendUint64(b, billID)
}

func duePrefix(dest string) []byte { return append([]byte(dest), 0) }

func splitDueKey(k []byte, prefixLen int) (time.Time, uint64, error) {
	if len(k) != prefixLen+16 {
		return time.Time{}, 0, fmt.Errorf("%w: due key of %d bytes", errCorrupt, len(k))
	}
	at := time.Unix(0, int64(btou(k[prefixLen:prefixLen+8])))
	return at, btou(k[prefixLen+8:]), nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("%w: record %x: %v", errCorrupt, key, err)
	}
	return true, nil
}
