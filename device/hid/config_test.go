package hid

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{VID: 0x05e0, PID: 0x1200, Interface: -1}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" = valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"full", func(c *Config) {
			*c = Config{VID: 1, PID: 2, Interface: 3, Serial: "X", Mode: ModePOS, Layout: "fr", ReportID: true,
				TabEnds: true, IdleTimeout: time.Second, PollInterval: 5 * time.Second}
		}, ""},
		{"any product", func(c *Config) { c.PID = 0 }, ""},
		{"no vid", func(c *Config) { c.VID = 0 }, "vid: required"},
		{"mode", func(c *Config) { c.Mode = "wedge" }, `mode: must be keyboard or pos; got "wedge"`},
		{"interface", func(c *Config) { c.Interface = -2 }, "interface: must be -1"},
		{"interface high", func(c *Config) { c.Interface = 256 }, "interface"},
		{"layout", func(c *Config) { c.Layout = "cz" }, `layout: must be one of de, fr, us; got "cz"`},
		{"layout case", func(c *Config) { c.Layout = "US" }, "layout"},
		{"idle negative", func(c *Config) { c.IdleTimeout = -1 }, "idle_timeout"},
		{"idle tiny", func(c *Config) { c.IdleTimeout = time.Millisecond }, "idle_timeout"},
		{"idle huge", func(c *Config) { c.IdleTimeout = time.Minute }, "idle_timeout"},
		{"poll tiny", func(c *Config) { c.PollInterval = time.Millisecond }, "poll_interval"},
		{"poll huge", func(c *Config) { c.PollInterval = time.Hour }, "poll_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	// Every problem is listed.
	err := Config{Mode: "x", Layout: "y"}.Validate()
	for _, want := range []string{"vid", "mode", "layout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %s", err, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := Config{VID: 1}.withDefaults()
	if c.Mode != ModeKeyboard || c.Layout != "us" || c.IdleTimeout != 150*time.Millisecond || c.PollInterval != time.Second || c.Interface != 0 {
		t.Fatalf("defaults %+v", c)
	}
	if got := (Config{VID: 0x5e0, PID: 0, Interface: -1}).target(); got != "usb 05e0:*" {
		t.Fatalf("target %q", got)
	}
	if got := (Config{VID: 0x5e0, PID: 0x1200, Interface: 1, Serial: "A1"}).target(); got != `usb 05e0:1200 interface 1 serial "A1"` {
		t.Fatalf("target %q", got)
	}
	if _, err := newSource("x", Config{}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "hid source x: vid") {
		t.Fatalf("newSource: %v", err)
	}
}

func TestLayouts(t *testing.T) {
	if got := strings.Join(Layouts(), ","); got != "de,fr,us" {
		t.Fatalf("Layouts() = %s", got)
	}
	for name, lay := range layouts {
		typeable := map[rune]bool{}
		for u, k := range lay.keys {
			for _, r := range []rune{k.base, k.shift, k.altGr} {
				if r != 0 && (r < 0x20 || r == 0x7F || r >= 0x80 && r < 0xA0) {
					t.Errorf("%s: key 0x%02x types control %U", name, u, r)
				}
				typeable[r] = true
			}
			if k.base == 0 {
				t.Errorf("%s: key 0x%02x has no base character", name, u)
			}
			if k.altGr != 0 && !lay.altGr {
				t.Errorf("%s: key 0x%02x has an AltGr level on a layout without AltGr", name, u)
			}
			if u == keyEnter || u == keyTab || u == keyCapsLock || u == keyKPEnter {
				t.Errorf("%s: key 0x%02x must not be in the table", name, u)
			}
		}
		// Every printable ASCII character can be typed (dead accents with
		// Space), so no code is out of reach of any layout.
		for r := rune(0x20); r < 0x7F; r++ {
			if !typeable[r] {
				t.Errorf("%s: %q cannot be typed", name, r)
			}
		}
	}
}
