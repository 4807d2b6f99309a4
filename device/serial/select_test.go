package serial

import (
	"errors"
	"strings"
	"testing"

	"go.bug.st/serial/enumerator"
)

func TestSelectPort(t *testing.T) {
	ports := []*enumerator.PortDetails{
		{Name: "/dev/ttyS0"},
		{}, // the Linux enumerator returns nameless entries for ports without sysfs details
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "05E0", PID: "1200", SerialNumber: "S100", Product: "Symbol Bar Code Scanner"},
		{Name: "/dev/ttyACM1", IsUSB: true, VID: "05E0", PID: "1200", SerialNumber: "S200"},
		{Name: "/dev/ttyACM2", IsUSB: true, VID: "1EAB", PID: "1A03"},
		{Name: "/dev/ttyACM3", IsUSB: true, VID: "1EAB", PID: "1A03"},
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "1A86", PID: "7523"},
	}
	tests := []struct {
		name             string
		vid, pid, serial string
		want             string
		kind             problemKind
		msg              []string
	}{
		{name: "by vid pid", vid: "1a86", pid: "0x7523", want: "/dev/ttyUSB0"},
		{name: "by serial", vid: "05e0", pid: "1200", serial: "s200", want: "/dev/ttyACM1"},
		{name: "serial alone", serial: "S100", want: "/dev/ttyACM0"},
		{name: "short hex", vid: "5E0", pid: "1200", serial: "S100", want: "/dev/ttyACM0"},
		{name: "two scanners need a serial", vid: "05E0", pid: "1200", kind: kindAmbiguous,
			msg: []string{`2 serial ports match USB id 05E0:1200: /dev/ttyACM0 (USB 05E0:1200 serial "S100" "Symbol Bar Code Scanner"), /dev/ttyACM1 (USB 05E0:1200 serial "S200")`, "set usb_serial"}},
		{name: "identical without serial", vid: "1EAB", pid: "1A03", kind: kindAmbiguous,
			msg: []string{"/dev/ttyACM2 (USB 1EAB:1A03 no serial), /dev/ttyACM3 (USB 1EAB:1A03 no serial)", "set usb_serial"}},
		{name: "none found", vid: "0C2E", pid: "0B61", kind: kindNotFound,
			msg: []string{"no serial port with USB id 0C2E:0B61", "serial ports seen: /dev/ttyS0, /dev/ttyACM0 (USB 05E0:1200", "/dev/ttyUSB0 (USB 1A86:7523 no serial)"}},
		{name: "wrong serial", vid: "05E0", pid: "1200", serial: "S300", kind: kindNotFound, msg: []string{`05E0:1200 serial "S300"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectPort(ports, tt.vid, tt.pid, tt.serial)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var oe *openError
			if !errors.As(err, &oe) || oe.kind != tt.kind {
				t.Fatalf("got %q, %v; want a kind %d error", got, err, tt.kind)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
	if _, err := selectPort(nil, "05E0", "1200", ""); err == nil || !strings.Contains(err.Error(), "serial ports seen: none") {
		t.Fatalf("no ports: %v", err)
	}
}
