package queue

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeDisk is a filesystem of a fixed size whose free space the test sets;
// the reserve file the space writes is counted against it.
type fakeDisk struct {
	total, other int64
	reserve      string
}

func (d *fakeDisk) space(string) (int64, int64, error) {
	used := d.other
	if fi, err := os.Stat(d.reserve); err == nil {
		used += fi.Size()
	}
	return d.total - used, d.total, nil
}

func TestDiskRefusalClearsOnSmallFilesystem(t *testing.T) {
	const mib = 1 << 20
	path := filepath.Join(t.TempDir(), "q.db")
	disk := &fakeDisk{total: 16 * mib, reserve: path + ".reserve"}
	sp := newSpace(path, Options{Headroom: 8 * mib, Logger: quietLogger()})
	sp.diskSpace = disk.space
	now := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	step := func(other int64) error {
		now = now.Add(time.Second)
		disk.other = other
		return sp.refusal(now)
	}

	if err := step(0); err != nil {
		t.Fatalf("empty 16 MiB disk refuses: %v", err)
	}
	// Another program fills it: refused.
	if err := step(15 * mib); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("1 MiB free: %v, want queue full", err)
	}
	// Just above the headroom is not enough: the margin stops flapping.
	if err := step(16*mib - 8*mib - mib/2); err == nil {
		t.Fatal("refusal cleared at 8.5 MiB free, below headroom plus margin (9.6 MiB)")
	}
	// Freed entirely: scans resume, as /healthz's 16 MiB free says they should.
	if err := step(0); err != nil {
		t.Fatalf("16 MiB free of 16 MiB, headroom 8 MiB: still refused: %v", err)
	}
	// The reserve would leave 8 MiB, under the clearing mark: not written,
	// and the next look at the disk still accepts.
	if _, err := os.Stat(disk.reserve); err == nil {
		t.Fatal("reserve written although it would drop the disk under the clearing mark")
	}
	if err := step(0); err != nil {
		t.Fatalf("refused again after clearing: %v", err)
	}
}

func TestDiskRefusalHysteresisOnLargeFilesystem(t *testing.T) {
	const mib = 1 << 20
	path := filepath.Join(t.TempDir(), "q.db")
	disk := &fakeDisk{total: 1024 * mib, reserve: path + ".reserve"}
	sp := newSpace(path, Options{Headroom: 1 * mib, Logger: quietLogger()})
	sp.diskSpace = disk.space
	if got, want := sp.clearAt(disk.total), int64(2*mib); got != want {
		t.Fatalf("clearAt = %d, want headroom+headroom = %d", got, want)
	}
	if got, want := sp.clearAt(0), int64(2*mib); got != want {
		t.Fatalf("clearAt with an unknown size = %d, want %d", got, want)
	}
	now := time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)
	step := func(other int64) error {
		now = now.Add(time.Second)
		disk.other = other
		return sp.refusal(now)
	}
	if err := step(disk.total - mib/2); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("0.5 MiB free: %v", err)
	}
	if err := step(disk.total - 2*mib + 1); err == nil {
		t.Fatal("cleared one byte under headroom plus margin")
	}
	// Plenty of space: cleared, and the reserve comes back.
	if err := step(disk.total - 100*mib); err != nil {
		t.Fatalf("100 MiB free: %v", err)
	}
	if fi, err := os.Stat(disk.reserve); err != nil || fi.Size() != mib {
		t.Fatalf("reserve not rewritten: %v %v", fi, err)
	}
}
