//go:build cgo

package hid

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/karalabe/usb"
)

// ErrUnavailable is returned by New and Enumerate where karalabe/usb has
// no backend for the platform.
var ErrUnavailable = errors.New("hid source unavailable on " + runtime.GOOS + "/" + runtime.GOARCH + " (karalabe/usb does not support it)")

// Available reports whether this build can read USB HID devices.
func Available() bool { return usb.Supported() }

// detachesKernelDriver: hidapi's libusb backend (Linux, FreeBSD) takes
// the interface from the kernel driver and never gives it back.
const detachesKernelDriver = runtime.GOOS == "linux" || runtime.GOOS == "freebsd"

func enumerateUSB(vid, pid uint16) ([]DeviceInfo, error) {
	infos, err := usb.EnumerateHid(vid, pid)
	if err != nil {
		return nil, fmt.Errorf("enumerate hid devices %04x:%04x: %w", vid, pid, err)
	}
	out := make([]DeviceInfo, len(infos))
	for i, d := range infos {
		out[i] = DeviceInfo{Path: d.Path, VendorID: d.VendorID, ProductID: d.ProductID,
			Serial: d.Serial, Manufacturer: d.Manufacturer, Product: d.Product,
			Interface: d.Interface, UsagePage: d.UsagePage, Usage: d.Usage}
	}
	return out, nil
}

// openUSB opens a HID interface. karalabe/usb opens HID devices by path
// alone, so the DeviceInfo rebuilt from ours is enough.
func openUSB(d DeviceInfo) (hidDevice, error) {
	dev, err := usb.DeviceInfo{Path: d.Path, VendorID: d.VendorID, ProductID: d.ProductID,
		Serial: d.Serial, Interface: d.Interface}.Open()
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return dev, nil
}
