//go:build !cgo

package hid

import "errors"

// ErrUnavailable is returned by New and Enumerate in builds without cgo:
// karalabe/usb compiles hidapi and libusb from C.
var ErrUnavailable = errors.New("hid source unavailable in this build (built without cgo)")

// Available reports whether this build can read USB HID devices: never
// without cgo.
func Available() bool { return false }

const detachesKernelDriver = false

func enumerateUSB(vid, pid uint16) ([]DeviceInfo, error) { return nil, ErrUnavailable }

func openUSB(DeviceInfo) (hidDevice, error) { return nil, ErrUnavailable }
