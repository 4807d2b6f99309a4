//go:build linux

package serial

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// portLock is an advisory flock(2) on the device node, taken before
// go.bug.st/serial sets TIOCEXCL. TIOCEXCL does not stop root (it is
// bypassed with CAP_SYS_ADMIN), so two agents run as root would otherwise
// share a port and split the codes between them. The lock lives on the
// inode, so it holds for every path (symlink, /dev/serial/by-id) to the
// same port, needs no lock file to clean up, and goes away with the
// process. Its holder's pid is found in /proc/locks.
type portLock struct{ fd int }

// lockPort opens path on a descriptor of its own and locks it; it fails
// with a *lockedError when another process holds the lock.
func lockPort(path string) (*portLock, error) {
	// O_NONBLOCK: the open must not wait for carrier on a modem line.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		err = &os.PathError{Op: "open", Path: path, Err: err}
		if errors.Is(err, unix.EBUSY) {
			// Another program has TIOCEXCL; name it if it also holds
			// the lock (another agent).
			if pid, ok := lockHolder(path); ok {
				return nil, &lockedError{path: path, pid: pid, err: err}
			}
		}
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, _ := lockHolder(path)
			return nil, &lockedError{path: path, pid: pid, err: err}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &portLock{fd: fd}, nil
}

func (l *portLock) release() error { return unix.Close(l.fd) }

// lockedError is a port another process holds the lock on.
type lockedError struct {
	path string
	pid  int // 0: not found (another pid namespace, or it just let go)
	err  error
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("%s is locked by %s", e.path, describePid(e.pid))
}

func (e *lockedError) Unwrap() error { return e.err }

// describePid names a process for the operator: "pid 123 (pda-agent)".
func describePid(pid int) string {
	if pid <= 0 {
		return "another process (pid unknown)"
	}
	s := "pid " + strconv.Itoa(pid)
	if comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil {
		s += " (" + strings.TrimSpace(string(comm)) + ")"
	}
	return s
}

// lockHolder is the pid holding a flock on path's inode, from /proc/locks
// (lines like "1: FLOCK  ADVISORY  WRITE 4242 00:18:3 0 EOF", the device
// as hex major:minor of the file system holding the inode).
func lockHolder(path string) (int, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, false
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	return findLockHolder(bufio.NewScanner(f), unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
}

// findLockHolder scans /proc/locks lines for a granted FLOCK on the inode.
func findLockHolder(sc *bufio.Scanner, major, minor uint32, ino uint64) (int, bool) {
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, ino)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Waiters are listed as "1: -> FLOCK ..."; only holders count.
		if len(f) < 6 || f[1] != "FLOCK" || f[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil && pid > 0 {
			return pid, true
		}
	}
	return 0, false
}
