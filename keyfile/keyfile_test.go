package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/gm"
)

// TestNewSM2: the key lands 0600 in a new directory, parses back to the
// same key, and is never overwritten without force.
func TestNewSM2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "device.key")
	k, err := NewSM2(path, false)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	back, err := gm.ParsePrivateKey(string(data))
	if err != nil || back.D.Cmp(k.D) != 0 {
		t.Fatalf("read back: %v", err)
	}
	if _, err := NewSM2(path, false); err == nil || !strings.Contains(err.Error(), "not overwritten") {
		t.Fatalf("second key without force: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Fatal("the key was replaced without force")
	}
	// With force an existing, too open file is replaced and tightened.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteSecret(path, []byte("X=1\n"), true); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("forced write left mode %v", fi.Mode())
	}
}
