//go:build !linux

package main

import "testing"

// diskFull needs a tmpfs (faults_disk_linux_test.go).
func diskFull(t *testing.T) faultRow {
	t.Skip("disk_full mounts a tmpfs: Linux only")
	return faultRow{}
}
