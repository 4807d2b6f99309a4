package hid

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Mode is how the scanner talks over USB.
type Mode string

// Modes.
const (
	// ModeKeyboard reads boot keyboard reports (keyboard-wedge scanners).
	ModeKeyboard Mode = "keyboard"
	// ModePOS reads HID-POS scanned data reports (usage page 0x8C).
	ModePOS Mode = "pos"
)

// Defaults for zero Config fields.
const (
	DefaultMode         = ModeKeyboard
	DefaultLayout       = "us"
	DefaultIdleTimeout  = 150 * time.Millisecond
	DefaultPollInterval = time.Second
)

// Limits that keep a typo in config from becoming a busy loop or a
// scanner that never ends a code.
const (
	minInterval     = 10 * time.Millisecond
	maxIdleTimeout  = 10 * time.Second
	maxPollInterval = time.Minute
)

// Config configures a HID scan source. Zero values take the defaults
// above, except Interface, whose zero means interface 0.
type Config struct {
	// VID is the USB vendor id (required); PID the product id, 0 = any
	// product of the vendor. `lsusb` shows both as "ID vvvv:pppp".
	VID, PID uint16
	// Interface is the USB interface number, -1 = any (the first match).
	// Scanners with a keyboard and a POS interface need it set.
	Interface int
	// Serial picks one of several identical scanners by USB serial
	// number; "" = any. Reading it needs access to the device (udev rule).
	Serial string
	// Mode is keyboard (default) or pos.
	Mode Mode
	// Layout is the keyboard layout the scanner is set to, for keyboard
	// mode: us (default), de or fr (AZERTY: digits are shifted there).
	Layout string
	// ReportID says reports start with a report-id byte (depends on the
	// device's report descriptor). In keyboard mode any id is taken; in
	// pos mode it must be 2 (scanned data report), others are errors.
	ReportID bool
	// TabEnds makes Tab end a code like Enter (keyboard mode); otherwise a
	// Tab spoils the code.
	TabEnds bool
	// IdleTimeout ends a code after this much silence, for scanners set
	// up without an Enter suffix; default 150ms. In pos mode it bounds the
	// wait for a continuation report.
	IdleTimeout time.Duration
	// PollInterval is how often the device is looked for while absent
	// (there is no hotplug notice); default 1s.
	PollInterval time.Duration
}

// Layouts lists the keyboard layouts keyboard mode knows, sorted.
func Layouts() []string {
	out := make([]string, 0, len(layouts))
	for name := range layouts {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Validate checks c; the error lists every problem.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.VID == 0 {
		bad("vid: required (lsusb shows it as ID vvvv:pppp)")
	}
	switch c.Mode {
	case "", ModeKeyboard, ModePOS:
	default:
		bad("mode: must be %s or %s; got %q", ModeKeyboard, ModePOS, c.Mode)
	}
	if c.Interface < -1 || c.Interface > 255 {
		bad("interface: must be -1 (any) or 0..255; got %d", c.Interface)
	}
	if c.Layout != "" {
		if _, ok := layouts[c.Layout]; !ok {
			bad("layout: must be one of %s; got %q", strings.Join(Layouts(), ", "), c.Layout)
		}
	}
	if c.IdleTimeout < 0 || c.IdleTimeout > 0 && c.IdleTimeout < minInterval || c.IdleTimeout > maxIdleTimeout {
		bad("idle_timeout: must be 0 (default %s) or between %s and %s; got %s", DefaultIdleTimeout, minInterval, maxIdleTimeout, c.IdleTimeout)
	}
	if c.PollInterval < 0 || c.PollInterval > 0 && c.PollInterval < minInterval || c.PollInterval > maxPollInterval {
		bad("poll_interval: must be 0 (default %s) or between %s and %s; got %s", DefaultPollInterval, minInterval, maxPollInterval, c.PollInterval)
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = DefaultMode
	}
	if c.Layout == "" {
		c.Layout = DefaultLayout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}

// target describes the wanted device for logs and health.
func (c Config) target() string {
	var b strings.Builder
	if c.PID == 0 {
		fmt.Fprintf(&b, "usb %04x:*", c.VID)
	} else {
		fmt.Fprintf(&b, "usb %04x:%04x", c.VID, c.PID)
	}
	if c.Interface >= 0 {
		fmt.Fprintf(&b, " interface %d", c.Interface)
	}
	if c.Serial != "" {
		fmt.Fprintf(&b, " serial %q", c.Serial)
	}
	return b.String()
}

// modeDetail describes how reports are decoded.
func (c Config) modeDetail() string {
	if c.Mode == ModePOS {
		return "hid-pos"
	}
	return "keyboard/" + c.Layout
}
