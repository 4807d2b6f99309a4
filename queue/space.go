package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// space decides when scans must be refused, for two limits:
//   - the size cap (bbolt MaxSize): scans stop while less than Headroom of the
//     cap is left, so acks and deletes can still commit;
//   - the disk: scans stop while the filesystem has less than Headroom free.
//     A reserve file of Headroom bytes sits beside the queue; if a commit
//     still meets ENOSPC (another program filled the disk between checks)
//     the reserve is deleted so acks have room, and recreated once the disk
//     has space again.
//
// A disk refusal clears once free space is back above the headroom plus a
// margin of min(headroom, 10% of the filesystem): enough to stop flapping,
// small enough that a 16 MiB filesystem freed by its user resumes at once.
// The reserve file is only rewritten when the disk can spare it without
// falling back under that mark, so it never causes a refusal itself.
type space struct {
	dir      string
	reserve  string
	maxSize  int64
	headroom int64
	logger   *slog.Logger
	// diskSpace returns the free bytes in dir and its filesystem's size.
	diskSpace func(dir string) (free, total int64, err error)

	mu       sync.Mutex
	full     error // sticky refusal, nil when scans are accepted
	fullKind string
	fullAt   time.Time
	statAt   time.Time
	free     int64 // disk bytes available at statAt; -1 unknown
	total    int64 // filesystem size at statAt; 0 unknown
}

func newSpace(path string, o Options) *space {
	return &space{
		dir:       filepath.Dir(path),
		reserve:   path + ".reserve",
		maxSize:   o.MaxSize,
		headroom:  o.Headroom,
		logger:    o.Logger,
		diskSpace: diskSpace,
		free:      -1,
	}
}

// refusal returns the error new scans get now, or nil. It looks at the disk
// at most once a second.
func (sp *space) refusal(now time.Time) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if now.Sub(sp.statAt) >= time.Second || now.Before(sp.statAt) {
		sp.statAt = now
		if f, total, err := sp.diskSpace(sp.dir); err == nil {
			sp.free, sp.total = f, total
		} else {
			sp.free = -1
		}
	}
	if sp.full != nil && sp.fullKind == "disk" {
		if sp.free >= 0 && sp.free >= sp.clearAt(sp.total) {
			sp.clearLocked("disk has free space again")
			sp.ensureReserveLocked()
		} else {
			return sp.full
		}
	}
	if sp.full == nil && sp.free >= 0 && sp.free < sp.headroom {
		sp.setLocked("disk", now, fmt.Errorf("%w: disk nearly full (%s free in %s, %s reserved for acks): free disk space",
			ErrQueueFull, human(sp.free), sp.dir, human(sp.headroom)))
	}
	if sp.full != nil && sp.fullKind == "disk" {
		return sp.full
	}
	return nil
}

// capBudget returns how many more bytes scans may add under the size cap
// (-1 without a cap), or the refusal when the cap is reached.
func (sp *space) capBudget(tx *bolt.Tx, db *bolt.DB) (int64, error) {
	if sp.maxSize <= 0 {
		return -1, nil
	}
	avail := sp.maxSize - used(tx, db) - sp.headroom
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.full != nil && sp.fullKind == "cap" {
		if avail < sp.headroom {
			return 0, sp.full
		}
		sp.clearLocked("space freed under the size cap")
	}
	if avail <= 0 {
		return 0, sp.setCapLocked(tx, db)
	}
	return avail, nil
}

// capReached marks the cap as reached mid-batch.
func (sp *space) capReached(tx *bolt.Tx, db *bolt.DB) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.full != nil {
		return sp.full
	}
	return sp.setCapLocked(tx, db)
}

func (sp *space) setCapLocked(tx *bolt.Tx, db *bolt.DB) error {
	return sp.setLocked("cap", time.Now(), fmt.Errorf("%w: size cap reached (%s of %s used, %s kept for acks): upload pending bills or raise queue.max_size",
		ErrQueueFull, human(used(tx, db)), human(sp.maxSize), human(sp.headroom)))
}

// used is the part of the file holding live pages.
func used(tx *bolt.Tx, db *bolt.DB) int64 {
	page := int64(db.Info().PageSize)
	return tx.Size() - int64(db.Stats().FreePageN)*page
}

// onFull reacts to a commit that failed for lack of space. It reports
// whether it released the reserve file, i.e. whether a retry may now fit.
func (sp *space) onFull(err error, now time.Time) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		if sp.full == nil {
			sp.setLocked("cap", now, fmt.Errorf("%w: size cap %s reached: upload pending bills or raise queue.max_size", ErrQueueFull, human(sp.maxSize)))
		}
		return false
	}
	if sp.full == nil || sp.fullKind != "disk" {
		sp.setLocked("disk", now, fmt.Errorf("%w: disk full in %s: free disk space", ErrQueueFull, sp.dir))
	}
	sp.statAt = time.Time{}
	// Give the reserve back so acks can commit.
	if rerr := os.Remove(sp.reserve); rerr != nil {
		return false
	}
	sp.logger.Warn("queue: disk full, released reserve file for acks", "reserve", sp.reserve)
	return true
}

func (sp *space) setLocked(kind string, now time.Time, err error) error {
	sp.full, sp.fullKind, sp.fullAt = err, kind, now
	sp.logger.Error("queue full: refusing new scans", "reason", err.Error())
	return err
}

func (sp *space) clearLocked(why string) {
	sp.logger.Warn("queue accepts scans again", "reason", why, "full_since", sp.fullAt)
	sp.full, sp.fullKind = nil, ""
}

// alarm reports the current full condition.
func (sp *space) alarm() (Alarm, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.full == nil {
		return Alarm{}, false
	}
	return Alarm{At: sp.fullAt, Kind: "queue_full", Message: sp.full.Error()}, true
}

// clearAt is the free disk space at which a disk refusal clears, on a
// filesystem of total bytes (0 when unknown).
func (sp *space) clearAt(total int64) int64 {
	margin := sp.headroom
	if total > 0 && total/10 < margin {
		margin = total / 10
	}
	return sp.headroom + margin
}

func (sp *space) ensureReserve() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.ensureReserveLocked()
}

// ensureReserveLocked writes the reserve file with real blocks (not a sparse
// file) when it is missing and the disk can spare it.
func (sp *space) ensureReserveLocked() {
	if sp.headroom <= 0 {
		return
	}
	if fi, err := os.Stat(sp.reserve); err == nil && fi.Size() == sp.headroom {
		return
	}
	// Writing the reserve takes headroom bytes; do it only when what is left
	// still clears a refusal, or the reserve would refuse scans itself.
	if free, total, err := sp.diskSpace(sp.dir); err != nil || free-sp.headroom < sp.clearAt(total) {
		return
	}
	if err := writeReserve(sp.reserve, sp.headroom); err != nil {
		sp.logger.Warn("queue: cannot write reserve file", "path", sp.reserve, "err", err)
		_ = os.Remove(sp.reserve)
	}
}

func writeReserve(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for left := size; left > 0; left -= int64(len(buf)) {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func isSpaceError(err error) bool {
	return errors.Is(err, berrors.ErrMaxSizeReached) || IsDiskFull(err)
}

// IsDiskFull reports whether err is a write that failed for lack of disk
// space: ENOSPC, also where bbolt flattened it into text ("file resize
// error: %s" in db.go), and Windows' ERROR_DISK_FULL.
func IsDiskFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || isPlatformDiskFull(err) {
		return true
	}
	return strings.Contains(err.Error(), syscall.ENOSPC.Error())
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
