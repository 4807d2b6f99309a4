//go:build !cgo

package hid

import (
	"errors"
	"strings"
	"testing"
)

func TestUnavailableWithoutCgo(t *testing.T) {
	if Available() {
		t.Fatal("Available() without cgo")
	}
	_, err := New("gun", Config{VID: 0x05e0, PID: 0x1200, Interface: -1}, nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "hid source unavailable in this build (built without cgo)") {
		t.Fatalf("New: %v", err)
	}
	if _, err := Enumerate(0, 0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Enumerate: %v", err)
	}
}
