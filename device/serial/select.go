package serial

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.bug.st/serial/enumerator"
)

// parseUSBID reads a hex USB vendor or product id: "05E0", "5e0", "0x05E0".
func parseUSBID(s string) (uint16, error) {
	t := strings.TrimSpace(s)
	if len(t) > 2 && (t[:2] == "0x" || t[:2] == "0X") {
		t = t[2:]
	}
	v, err := strconv.ParseUint(t, 16, 16)
	if err != nil {
		return 0, errors.New("not a hex USB id (e.g. 05E0, as lsusb shows it)")
	}
	return uint16(v), nil
}

// usbLabel renders a USB selection, e.g. `05E0:1200 serial "S1"`.
func usbLabel(vid, pid, serial string) string {
	id := func(s string) string {
		if s == "" {
			return "*"
		}
		if v, err := parseUSBID(s); err == nil {
			return fmt.Sprintf("%04X", v)
		}
		return s
	}
	l := id(vid) + ":" + id(pid)
	if serial != "" {
		l += fmt.Sprintf(" serial %q", serial)
	}
	return l
}

// selectPort picks the one USB serial port matching the configured ids
// (empty ones match anything; at least one is set). It fails when none
// matches, listing what is there, or when several do, listing them.
func selectPort(ports []*enumerator.PortDetails, vid, pid, serial string) (string, error) {
	want := usbLabel(vid, pid, serial)
	var matches []*enumerator.PortDetails
	for _, p := range ports {
		if p != nil && p.Name != "" && p.IsUSB && idMatches(vid, p.VID) && idMatches(pid, p.PID) &&
			(serial == "" || strings.EqualFold(strings.TrimSpace(serial), strings.TrimSpace(p.SerialNumber))) {
			matches = append(matches, p)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0].Name, nil
	case 0:
		return "", &openError{kind: kindNotFound,
			msg: fmt.Sprintf("no serial port with USB id %s (unplugged, or the scanner is not in USB-COM mode?); serial ports seen: %s", want, describePorts(ports))}
	}
	hint := "set usb_serial to tell them apart"
	if serial != "" {
		hint = "they report the same serial number: set port to their /dev/serial/by-path link instead"
	}
	return "", &openError{kind: kindAmbiguous,
		msg: fmt.Sprintf("%d serial ports match USB id %s: %s; %s", len(matches), want, describePorts(matches), hint)}
}

// idMatches compares a configured hex id with one from the enumerator.
func idMatches(want, got string) bool {
	if want == "" {
		return true
	}
	w, err1 := parseUSBID(want)
	g, err2 := parseUSBID(got)
	return err1 == nil && err2 == nil && w == g
}

// describePorts lists ports for an error message, with USB ids and serial
// numbers where known.
func describePorts(ports []*enumerator.PortDetails) string {
	var parts []string
	for _, p := range ports {
		if p == nil || p.Name == "" {
			continue
		}
		s := p.Name
		if p.IsUSB {
			s += " (USB " + strings.ToUpper(p.VID) + ":" + strings.ToUpper(p.PID)
			if p.SerialNumber != "" {
				s += fmt.Sprintf(" serial %q", p.SerialNumber)
			} else {
				s += " no serial"
			}
			if p.Product != "" {
				s += fmt.Sprintf(" %q", p.Product)
			}
			s += ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
