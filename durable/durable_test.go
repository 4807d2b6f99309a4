package durable

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFile: the file is replaced whole with the mode asked, no
// temporary file is left, and a rename lands.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, data := range []string{"old", "new and longer"} {
		if err := WriteFile(path, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("read %q, %v; want %q", got, err, data)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), TempInfix) {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
	if err := Rename(path, filepath.Join(dir, "moved.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "moved.json")); err != nil {
		t.Fatal(err)
	}
	// A directory that does not exist: an error, nothing created.
	if err := WriteFile(filepath.Join(dir, "no", "such", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("wrote into a missing directory")
	}
}
