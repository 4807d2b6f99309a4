package hid

import (
	"cmp"
	"fmt"
	"slices"
)

// DeviceInfo describes one HID interface of a USB device, as enumeration
// reports it.
type DeviceInfo struct {
	// Path is the platform's device path (on Linux, hidapi's libusb path
	// "bus:device:interface", e.g. "0001:0004:00").
	Path                string
	VendorID, ProductID uint16
	// Serial, Manufacturer and Product are the USB strings; empty when
	// the device could not be opened to read them (permissions).
	Serial, Manufacturer, Product string
	// Interface is the USB interface number.
	Interface int
	// UsagePage and Usage of the top-level collection; 0 on Linux, where
	// hidapi's libusb backend does not read them.
	UsagePage, Usage uint16
}

func (d DeviceInfo) String() string {
	s := fmt.Sprintf("usb %04x:%04x interface %d (%s)", d.VendorID, d.ProductID, d.Interface, d.Path)
	if d.Serial != "" {
		s += fmt.Sprintf(" serial %q", d.Serial)
	}
	return s
}

// hidDevice is an open HID interface. Read blocks until a report comes
// (no timeout) and fails once the device is gone. Close must not be called
// while a Read is running (see the package comment).
type hidDevice interface {
	Read([]byte) (int, error)
	Close() error
}

// enumerator lists the HID interfaces of devices with the ids (0 = any).
type enumerator func(vid, pid uint16) ([]DeviceInfo, error)

// opener opens one HID interface.
type opener func(DeviceInfo) (hidDevice, error)

// Enumerate lists the HID interfaces of USB devices with the ids (0 =
// any), sorted by path, to find the VID, PID, interface and serial to put
// in config. It fails with ErrUnavailable in builds without USB support.
func Enumerate(vid, pid uint16) ([]DeviceInfo, error) {
	if !Available() {
		return nil, ErrUnavailable
	}
	infos, err := enumerateUSB(vid, pid)
	if err != nil {
		return nil, err
	}
	sortInfos(infos)
	return infos, nil
}

func sortInfos(infos []DeviceInfo) {
	slices.SortFunc(infos, func(a, b DeviceInfo) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Interface, b.Interface))
	})
}

// match picks the interfaces c wants from an enumeration, in path order
// so the choice among identical scanners is stable.
func (c Config) match(infos []DeviceInfo) []DeviceInfo {
	var out []DeviceInfo
	for _, d := range infos {
		if d.VendorID != c.VID || c.PID != 0 && d.ProductID != c.PID {
			continue
		}
		if c.Interface >= 0 && d.Interface != c.Interface {
			continue
		}
		if c.Serial != "" && d.Serial != c.Serial {
			continue
		}
		out = append(out, d)
	}
	sortInfos(out)
	return out
}
