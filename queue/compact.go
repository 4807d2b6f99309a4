package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pda-agent/pda-agent/durable"
)

// bbolt files never shrink: pages freed by acked deliveries stay in the
// file. Compaction copies the live data into a new file in the same
// directory (so the final rename is atomic, never a cross-device copy) and
// renames it over the original.

const compactSuffix = ".compact-tmp"

// compactTxSize bounds the copy transaction size.
const compactTxSize = 64 << 20

// Compact rewrites the queue file at path without its free pages. The file
// must not be in use (ErrLocked otherwise). It returns the sizes before and
// after.
func Compact(path string, o Options) (before, after int64, err error) {
	return CompactWithProgress(path, o, nil)
}

// compactProgressEvery is how often CompactWithProgress reports.
const compactProgressEvery = 200 * time.Millisecond

// CompactWithProgress is Compact telling progress (if not nil) every
// 200ms and at the end: the bytes of live data copied so far out of an
// estimated total (the source's pages in use). The copy commits every
// 64 MiB, so progress moves in steps of that size on large files.
func CompactWithProgress(path string, o Options, progress func(done, total int64)) (before, after int64, err error) {
	o = o.withDefaults()
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("queue: compact: %w", err)
	}
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, 0, fmt.Errorf("queue: compact: %w", err)
		}
		if isTimeout(err) {
			return 0, 0, fmt.Errorf("queue: compact %s: %w", path, ErrLocked)
		}
		return 0, 0, fmt.Errorf("queue: compact: open %s: %w", path, err)
	}
	// Holding src keeps other processes out until the new file is in place.
	defer src.Close()
	if err := compactInto(src, path, progress); err != nil {
		return 0, 0, err
	}
	nfi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("queue: compact: %w", err)
	}
	return fi.Size(), nfi.Size(), nil
}

// compactInto copies src into path+compactSuffix and renames it over path.
func compactInto(src *bolt.DB, path string, progress func(done, total int64)) error {
	tmp := path + compactSuffix
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("queue: compact: create %s: %w", tmp, err)
	}
	stopWatch := watchCompaction(src, dst, progress)
	err = bolt.Compact(dst, src, compactTxSize)
	stopWatch(err == nil)
	if err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("queue: compact: copy: %w", err)
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("queue: compact: close copy: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("queue: compact: sync copy: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("queue: compact: rename: %w", err)
	}
	return durable.SyncDir(filepath.Dir(path))
}

// compactIfWorth compacts an open file when enough of it is free pages.
// Failure is not fatal: the agent keeps running on the uncompacted file.
func compactIfWorth(db *bolt.DB, path string, o Options) (*bolt.DB, error) {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < 4<<20 {
		return db, nil
	}
	free := int64(db.Stats().FreePageN) * int64(db.Info().PageSize)
	if float64(free)/float64(fi.Size()) < o.CompactFreeRatio {
		return db, nil
	}
	if err := compactInto(db, path, nil); err != nil {
		o.Logger.Warn("queue: compaction at start failed; continuing uncompacted", "err", err)
		return db, nil
	}
	if err := db.Close(); err != nil {
		o.Logger.Warn("queue: closing pre-compaction file", "err", err)
	}
	ndb, err := openChecked(path, o)
	if err != nil {
		return nil, fmt.Errorf("queue: reopen after compaction: %w", err)
	}
	nfi, _ := os.Stat(path)
	if nfi != nil {
		o.Logger.Info("queue compacted", "before", human(fi.Size()), "after", human(nfi.Size()))
	}
	return ndb, nil
}

func removeCompactLeftover(path string) {
	_ = os.Remove(path + compactSuffix)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// watchCompaction reports the copy's progress while bolt.Compact runs: a
// read transaction on dst sees the data of its last commit (readers never
// block bbolt's writer). The returned stop waits for the watcher and, when
// the copy succeeded, reports it complete.
func watchCompaction(src, dst *bolt.DB, progress func(done, total int64)) (stop func(ok bool)) {
	if progress == nil {
		return func(bool) {}
	}
	var total int64
	_ = src.View(func(tx *bolt.Tx) error {
		total = tx.Size() - int64(src.Stats().FreePageN)*int64(src.Info().PageSize)
		return nil
	})
	copied := func() int64 {
		var n int64
		_ = dst.View(func(tx *bolt.Tx) error {
			n = tx.Size()
			return nil
		})
		return min(n, total)
	}
	progress(0, total)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(compactProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				progress(copied(), total)
			}
		}
	}()
	return func(ok bool) {
		close(quit)
		<-done
		if ok {
			progress(total, total)
		}
	}
}
