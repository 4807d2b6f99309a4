package serial

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want []string // substrings of the error; none = valid
	}{
		{name: "port only", c: Config{Port: "/dev/ttyACM0"}},
		{name: "usb ids", c: Config{USBVID: "0x05e0", USBPID: "1200", USBSerial: "S1"}},
		{name: "full", c: Config{Port: "COM3", Baud: 115200, DataBits: 7, Parity: "Even", StopBits: "2",
			Suffix: []byte("\r\n"), IdleTimeout: time.Second, MaxFrame: 1024, ReconnectMin: time.Second, ReconnectMax: time.Minute}},
		{name: "nothing", c: Config{}, want: []string{"port: empty"}},
		{name: "both", c: Config{Port: "/dev/ttyACM0", USBVID: "05E0"}, want: []string{"exclusive"}},
		{name: "bad ids", c: Config{USBVID: "xyz", USBPID: "123456"}, want: []string{`usb_vid "xyz"`, `usb_pid "123456"`}},
		{name: "bad line", c: Config{Port: "p", Baud: -1, DataBits: 9, Parity: "sometimes", StopBits: "3"},
			want: []string{"baud -1", "data_bits 9", `parity: "sometimes"`, `stop_bits: "3"`}},
		{name: "bad timing", c: Config{Port: "p", IdleTimeout: -time.Millisecond, MaxFrame: -1, ReconnectMin: -1},
			want: []string{"idle_timeout", "max_frame -1", "reconnect_min"}},
		{name: "min above max", c: Config{Port: "p", ReconnectMin: time.Minute}, want: []string{"reconnect_min 1m0s is above reconnect_max 10s"}},
		{name: "long suffix", c: Config{Port: "p", Suffix: make([]byte, 17)}, want: []string{"suffix: 17 bytes"}},
		{name: "1.5 stop bits", c: Config{Port: "p", StopBits: "1.5"}, want: []string{"1.5 stop bits are not supported on linux"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := New("gun", Config{Port: "/dev/ttyACM0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.Baud != 9600 || c.DataBits != 8 || c.IdleTimeout != 80*time.Millisecond || c.MaxFrame != 512 ||
		c.ReconnectMin != 500*time.Millisecond || c.ReconnectMax != 10*time.Second {
		t.Fatalf("defaults %+v", c)
	}
	if got := c.lineSettings(); got != "9600 8N1" {
		t.Fatalf("line settings %q", got)
	}
	if got := (Config{Baud: 19200, DataBits: 7, Parity: "even", StopBits: "2"}).lineSettings(); got != "19200 7E2" {
		t.Fatalf("line settings %q", got)
	}
	if s.Name() != "gun" || s.Health().Kind != "serial" {
		t.Fatalf("name %q health %+v", s.Name(), s.Health())
	}
	if _, err := New("gun", Config{}, nil); err == nil || !strings.Contains(err.Error(), "serial source gun") {
		t.Fatalf("New with empty config: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: 50 * time.Millisecond}
	var got []time.Duration
	for range 5 {
		got = append(got, b.next())
	}
	want := []time.Duration{10, 20, 40, 50, 50}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("backoff %v, want %v ms", got, want)
		}
	}
	b.reset()
	if d := b.next(); d != 10*time.Millisecond {
		t.Fatalf("after reset %v", d)
	}
}
