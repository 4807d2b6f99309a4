//go:build !linux

package camera

import (
	"fmt"
	"runtime"
)

func v4l2Available() error {
	return fmt.Errorf("camera source needs Linux V4L2; this is %s (NewFromFrames takes another frame source)", runtime.GOOS)
}

// OpenV4L2 fails: V4L2 is Linux-only.
func OpenV4L2(c Config) (FrameSource, error) { return nil, v4l2Available() }
