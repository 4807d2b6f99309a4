//go:build unix

package main

import (
	"os"
	"syscall"
)

// keepOwner gives path back the owner and group it had (was): a file
// replaced by a command run as root would otherwise be root's, and the
// agent, running as its own user, could no longer open it.
func keepOwner(path string, was os.FileInfo) error {
	old, ok := was.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	cur, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (cur.Uid == old.Uid && cur.Gid == old.Gid) {
		return nil
	}
	return os.Chown(path, int(old.Uid), int(old.Gid))
}
