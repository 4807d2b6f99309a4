//go:build !unix && !windows

package queue

import "errors"

// diskFree is unknown here; only the size cap protects the queue.
func diskFree(string) (int64, error) { return 0, errors.ErrUnsupported }

func diskSpace(string) (int64, int64, error) { return 0, 0, errors.ErrUnsupported }

func isPlatformDiskFull(error) bool { return false }
