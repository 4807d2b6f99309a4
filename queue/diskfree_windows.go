//go:build windows

package queue

import (
	"errors"

	"golang.org/x/sys/windows"
)

// diskFree is the space the caller may still use in dir.
func diskFree(dir string) (int64, error) {
	free, _, err := diskSpace(dir)
	return free, err
}

// diskSpace returns the space the caller may still use in dir and the size
// of its volume.
func diskSpace(dir string) (free, total int64, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, err
	}
	var avail, size, all uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &size, &all); err != nil {
		return 0, 0, err
	}
	return int64(avail), int64(size), nil
}

// isPlatformDiskFull reports Windows' own disk-full codes, which are not
// syscall.ENOSPC.
func isPlatformDiskFull(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL)
}
