//go:build unix

package queue

import "golang.org/x/sys/unix"

// diskFree is the space an unprivileged writer may still use in dir.
func diskFree(dir string) (int64, error) {
	free, _, err := diskSpace(dir)
	return free, err
}

// diskSpace returns the space an unprivileged writer may still use in dir
// and the size of its filesystem.
func diskSpace(dir string) (free, total int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// isPlatformDiskFull: on unix ENOSPC says it all.
func isPlatformDiskFull(error) bool { return false }
