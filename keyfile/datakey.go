package keyfile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// DataKey reads a symmetric key of size bytes kept in path as hex (one
// line). When the file does not exist and create is set, a new random key
// is written there first (WriteSecret: mode 0600) and created is true.
// A file of another length or not hex is an error, never replaced: the
// data sealed with it would be lost.
func DataKey(path string, size int, create bool) (key []byte, created bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key = make([]byte, size)
		if _, err := rand.Read(key); err != nil {
			return nil, false, fmt.Errorf("data key %s: %w", path, err)
		}
		if err := WriteSecret(path, []byte(hex.EncodeToString(key)+"\n"), false); err != nil {
			return nil, false, fmt.Errorf("data key %s: %w", path, err)
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("data key: %w", err)
	}
	key, err = hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(key) != size {
		return nil, false, fmt.Errorf("data key %s: want %d hex digits on one line", path, 2*size)
	}
	return key, false, nil
}
