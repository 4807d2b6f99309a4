package keyfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "personal.key")
	if _, _, err := DataKey(path, 16, false); err == nil {
		t.Fatal("a missing key file without create")
	}
	k, created, err := DataKey(path, 16, true)
	if err != nil || !created || len(k) != 16 {
		t.Fatalf("first start: %x %v %v", k, created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	again, created, err := DataKey(path, 16, true)
	if err != nil || created || !bytes.Equal(again, k) {
		t.Fatalf("second start: %x %v %v, want the same key", again, created, err)
	}
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := DataKey(path, 16, true); err == nil || !strings.Contains(err.Error(), "32 hex digits") {
		t.Fatalf("a damaged key file: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "not a key\n" {
		t.Fatal("a damaged key file was replaced")
	}
}
