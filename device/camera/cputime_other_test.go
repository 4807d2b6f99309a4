//go:build !linux

package camera

import "time"

// threadCPU is not measured off Linux; callers fall back to wall time.
func threadCPU() (time.Duration, bool) { return 0, false }
