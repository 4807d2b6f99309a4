//go:build unix

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestQueueCompactKeepsOwner: compaction run by root must leave the file
// to the agent's user.
func TestQueueCompactKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the queue file to another user")
	}
	sd := seedQueue(t, t.TempDir())
	const nobody = 65534
	if err := os.Chown(sd.queueFile, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	cfg := writeQueueConfig(t, sd.dataDir, "127.0.0.1:"+freePort(t))
	out, errOut := mustCLI(t, "queue", "compact", "--config", cfg)
	if !strings.Contains(out, "compacted "+sd.queueFile) || !strings.Contains(errOut, "compacted ") {
		t.Fatalf("compact said %q / %q", out, errOut)
	}
	fi, err := os.Stat(sd.queueFile)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
		t.Fatalf("owner after compaction %d:%d, want %d:%d", st.Uid, st.Gid, nobody, nobody)
	}
	if got := listCodes(t, cfg); len(got) != 4 {
		t.Fatalf("bills after compaction: %v", got)
	}
}
