package configs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// validateYAML loads a config and returns its problems by key.
func validateYAML(t *testing.T, yaml string) map[string]string {
	t.Helper()
	_, err := LoadBytes("test.yaml", []byte("device: {id: T1}\n"+yaml), nil)
	got := map[string]string{}
	if err == nil {
		return got
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("load: %v", err)
	}
	for _, f := range ce.Fields {
		got[f.Key] = f.Msg
	}
	return got
}

func TestListenPortsAndClashes(t *testing.T) {
	tcp := func(addrs ...string) string {
		s := "scanners:\n"
		for i, a := range addrs {
			s += "  - {name: pos" + string(rune('a'+i)) + ", type: tcp, tcp: {listen: \"" + a + "\", allow_remote: true}}\n"
		}
		return s
	}
	for _, tc := range []struct {
		name string
		yaml string
		want map[string]string // key → part of its message
	}{
		{"fine", "api: {listen: \"127.0.0.1:8700\"}\n" + tcp("127.0.0.1:9100", "127.0.0.1:9101", "127.0.0.1:0", "127.0.0.1:0"), nil},
		{"api port too high", "api: {listen: \"127.0.0.1:87010\"}\n", map[string]string{"api.listen": "from 0 to 65535"}},
		{"api port not a number", "api: {listen: \"127.0.0.1:http\"}\n", map[string]string{"api.listen": "from 0 to 65535"}},
		{"tcp port too high", tcp("127.0.0.1:99999"), map[string]string{"scanners[0].tcp.listen": "from 0 to 65535"}},
		{"tcp port negative", tcp("127.0.0.1:-1"), map[string]string{"scanners[0].tcp.listen": "from 0 to 65535"}},
		{"tcp without host", tcp("9100"), map[string]string{"scanners[0].tcp.listen": "host:port"}},
		{"tcp on the api", "api: {listen: \"127.0.0.1:8700\"}\n" + tcp("127.0.0.1:8700"),
			map[string]string{"scanners[0].tcp.listen": "clashes with api.listen: both listen on port 8700 of 127.0.0.1"}},
		{"wildcard and loopback", "api: {listen: \"127.0.0.1:8700\"}\n" + tcp("0.0.0.0:8700"),
			map[string]string{"scanners[0].tcp.listen": "clashes with api.listen: both listen on port 8700 of every address"}},
		{"ipv6 wildcard", tcp("127.0.0.1:9100", "[::]:9100"), map[string]string{"scanners[1].tcp.listen": "clashes with scanners[0].tcp.listen"}},
		{"empty host", tcp(":9100", "10.0.0.5:9100"), map[string]string{"scanners[1].tcp.listen": "clashes with scanners[0].tcp.listen"}},
		{"localhost", tcp("localhost:9100", "127.0.0.1:9100", "[::1]:9101", "LOCALHOST:9101"),
			map[string]string{"scanners[1].tcp.listen": "scanners[0].tcp.listen", "scanners[3].tcp.listen": "scanners[2].tcp.listen"}},
		{"leading zeros", tcp("127.0.0.1:9100", "127.0.0.1:09100"), map[string]string{"scanners[1].tcp.listen": "port 9100"}},
		{"other addresses", tcp("127.0.0.1:9100", "127.0.0.2:9100", "[::1]:9100"), nil},
		{"api off", "api: {enabled: false, listen: \"127.0.0.1:8700\"}\n" + tcp("127.0.0.1:8700"), nil},
	} {
		got := validateYAML(t, tc.yaml)
		if len(got) != len(tc.want) {
			t.Errorf("%s: problems %v, want %d", tc.name, got, len(tc.want))
			continue
		}
		for k, w := range tc.want {
			if !strings.Contains(got[k], w) {
				t.Errorf("%s: %s: %q, want %q", tc.name, k, got[k], w)
			}
		}
	}
}

func TestScannersOnOneDevice(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "ttyACM0")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "usb-Honeywell-if00")
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	serial := func(ports ...string) string {
		s := "scanners:\n"
		for i, p := range ports {
			s += "  - {name: gun" + string(rune('a'+i)) + ", type: serial, serial: {" + p + "}}\n"
		}
		return s
	}
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"two ports", serial("port: "+dev, "port: /dev/ttyACM1"), nil},
		{"same path", serial("port: "+dev, "port: "+dev), []string{"scanners[1].serial.port"}},
		{"through a symlink", serial("port: "+link, "port: "+dev), []string{"scanners[1].serial.port"}},
		{"not plugged in, uncleaned", serial("port: /dev/ttyUSB7", "port: /dev//ttyUSB7"), []string{"scanners[1].serial.port"}},
		{"same usb id", serial("usb_vid: 05E0, usb_pid: \"1200\"", "usb_vid: 05e0, usb_pid: \"1200\"", "usb_vid: 05e0, usb_pid: \"1200\", usb_serial: A1"),
			[]string{"scanners[1].serial.usb_vid"}},
		{"camera", "scanners:\n  - {name: cam1, type: camera, camera: {device: /dev/video0}}\n  - {name: cam2, type: camera, camera: {device: /dev/video0}}\n",
			[]string{"scanners[1].camera.device"}},
	} {
		got := validateYAML(t, tc.yaml)
		var keys []string
		for k, msg := range got {
			keys = append(keys, k)
			if !strings.Contains(msg, "is also scanners[0]") || !strings.Contains(msg, "split its codes") {
				t.Errorf("%s: %s: %q", tc.name, k, msg)
			}
		}
		if !slices.Equal(keys, tc.want) {
			t.Errorf("%s: problems %v, want at %v", tc.name, got, tc.want)
		}
	}
}
