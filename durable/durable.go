// Package durable makes file changes survive a power cut: a replaced file
// is the old one or the new one, never a torn mix, and a rename is on disk
// before the caller goes on.
package durable

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// TempInfix marks WriteFile's temporary files: ".<name>.tmp-<random>" in
// the target's directory, so a caller cleaning up after a crash can find
// its own.
const TempInfix = ".tmp-"

// WriteFile replaces path with data: a temporary file in the same
// directory, fsynced, given mode perm, renamed over path, then the
// directory fsynced for the rename itself.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+name+TempInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// Rename renames from to to and makes the rename durable (both must be in
// the same directory for that to hold).
func Rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(to))
}

// SyncDir fsyncs a directory, making the renames and creations in it
// durable. Windows cannot fsync a directory (NTFS journals renames), and
// some filesystems refuse with EINVAL: both count as done.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
