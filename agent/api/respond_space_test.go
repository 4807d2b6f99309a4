package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"syscall"
	"testing"

	"github.com/pda-agent/pda-agent/queue"
)

// Every write path answers 507 queue_full on a full disk, whatever shape
// the disk-full error took on its way up.
func TestClassifyDiskFull(t *testing.T) {
	cases := map[string]error{
		"queue refusal":    fmt.Errorf("open sale: %w", queue.ErrQueueFull),
		"wrapped ENOSPC":   fmt.Errorf("open sale: %w", &fs.PathError{Op: "write", Path: "/data/queue.db", Err: syscall.ENOSPC}),
		"bbolt flattened":  fmt.Errorf("open sale: %w", errors.New("file resize error: write /data/queue.db: "+syscall.ENOSPC.Error())),
		"queue wraps both": fmt.Errorf("%w: writing the queue: %w", queue.ErrQueueFull, syscall.ENOSPC),
	}
	for name, err := range cases {
		status, body := classify(err)
		if status != http.StatusInsufficientStorage || body.Error != "queue_full" {
			t.Errorf("%s: %d %s, want 507 queue_full", name, status, body.Error)
		}
	}
	// Other I/O errors stay internal: the mapping is not a catch-all.
	if status, body := classify(&fs.PathError{Op: "write", Path: "/data/queue.db", Err: syscall.EIO}); status != http.StatusInternalServerError || body.Error != "internal" {
		t.Errorf("EIO: %d %s, want 500 internal", status, body.Error)
	}
}
