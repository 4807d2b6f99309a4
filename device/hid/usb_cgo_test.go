//go:build cgo

package hid

import (
	"runtime"
	"testing"
)

func TestAvailableWithCgo(t *testing.T) {
	supported := runtime.GOOS == "linux" || runtime.GOOS == "darwin" || runtime.GOOS == "windows" || runtime.GOOS == "freebsd"
	if Available() != supported {
		t.Fatalf("Available() = %v on %s", Available(), runtime.GOOS)
	}
	if !supported {
		t.Skip("karalabe/usb has no backend here")
	}
	s, err := New("gun", Config{VID: 0x05e0, PID: 0x1200, Interface: -1}, nil)
	if err != nil || s.Name() != "gun" {
		t.Fatalf("New: %v", err)
	}
	// Enumeration runs through hidapi; with no USB access in a container it
	// finds nothing, but it must not fail or crash.
	infos, err := Enumerate(0xFFFE, 0xFFFE)
	if err != nil || len(infos) != 0 {
		t.Fatalf("Enumerate of a made-up id: %v, %v", infos, err)
	}
}
