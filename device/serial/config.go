package serial

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	bugst "go.bug.st/serial"
)

// Defaults for zero Config fields.
const (
	DefaultBaud         = 9600
	DefaultDataBits     = 8
	DefaultIdleTimeout  = 80 * time.Millisecond
	DefaultMaxFrame     = 512
	DefaultReconnectMin = 500 * time.Millisecond
	DefaultReconnectMax = 10 * time.Second
)

// Limits that keep a typo in config from becoming a memory or framing
// problem.
const (
	maxMaxFrame = 64 << 10
	maxAffix    = 16 // bytes of prefix or suffix
)

// Config configures a serial scan source. Zero values take the defaults
// above; see ParseTerminator for turning config strings into Prefix and
// Suffix.
type Config struct {
	// Port is the device path (/dev/ttyACM0, /dev/ttyS1, COM3). Empty
	// selects the port by USBVID/USBPID/USBSerial instead, which survives
	// replugs and renumbering.
	Port string
	// USBVID and USBPID are hex USB ids ("05E0", "0x1200"; any case).
	USBVID, USBPID string
	// USBSerial tells identical scanners apart (USB iSerial).
	USBSerial string
	// Baud is the line speed; default 9600.
	Baud int
	// DataBits is 5 to 8; default 8.
	DataBits int
	// Parity is none, odd, even, mark or space; default none.
	Parity string
	// StopBits is "1", "1.5" or "2"; default "1".
	StopBits string
	// Prefix is stripped from the start of each code when present; nil =
	// none. A code without it is taken anyway.
	Prefix []byte
	// Suffix ends each code (CR, LF, CRLF or custom bytes); nil = no
	// terminator, IdleTimeout alone ends a code. With CRLF, a bare CR or
	// LF also ends a code; with LF, a CR before the LF is dropped.
	Suffix []byte
	// IdleTimeout is the silence after the last byte that also ends a
	// code; default 80ms.
	IdleTimeout time.Duration
	// MaxFrame is the longest code in bytes; default 512. Longer input is
	// discarded up to the next terminator and reported, never split.
	MaxFrame int
	// ReconnectMin and ReconnectMax bound the backoff while the port is
	// missing or cannot be opened; default 500ms and 10s.
	ReconnectMin, ReconnectMax time.Duration
}

// ParseTerminator turns a prefix or suffix setting into bytes: "CR", "LF",
// "CRLF" (any case), "none" or "" (nil), or a custom string with the Go
// escapes \xNN, \r, \n, \t and \\ (e.g. "\x03" for ETX).
func ParseTerminator(s string) ([]byte, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "NONE":
		return nil, nil
	case "CR":
		return []byte{'\r'}, nil
	case "LF":
		return []byte{'\n'}, nil
	case "CRLF":
		return []byte{'\r', '\n'}, nil
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("terminator %q: trailing backslash", s)
		}
		i++
		switch s[i] {
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case '\\':
			out = append(out, '\\')
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("terminator %q: \\x needs two hex digits", s)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("terminator %q: \\x needs two hex digits, got %q", s, s[i+1:i+3])
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("terminator %q: unsupported escape \\%c (use \\xNN, \\r, \\n, \\t or \\\\)", s, s[i])
		}
	}
	return out, nil
}

// Validate reports every invalid field, named as in the config file.
// Zero values are valid: they take the defaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	usb := c.USBVID != "" || c.USBPID != "" || c.USBSerial != ""
	switch {
	case c.Port == "" && !usb:
		bad("port: empty: set port, or usb_vid and usb_pid to select the scanner by USB id")
	case c.Port != "" && usb:
		bad("port %q and usb_vid/usb_pid/usb_serial are exclusive: set one or the other", c.Port)
	}
	if _, err := parseUSBID(c.USBVID); c.USBVID != "" && err != nil {
		bad("usb_vid %q: %w", c.USBVID, err)
	}
	if _, err := parseUSBID(c.USBPID); c.USBPID != "" && err != nil {
		bad("usb_pid %q: %w", c.USBPID, err)
	}
	if c.Baud < 0 {
		bad("baud %d: must be positive", c.Baud)
	}
	if c.DataBits != 0 && (c.DataBits < 5 || c.DataBits > 8) {
		bad("data_bits %d: must be 5, 6, 7 or 8", c.DataBits)
	}
	if _, err := parseParity(c.Parity); err != nil {
		bad("parity: %w", err)
	}
	if _, err := parseStopBits(c.StopBits); err != nil {
		bad("stop_bits: %w", err)
	}
	if len(c.Prefix) > maxAffix {
		bad("prefix: %d bytes, at most %d", len(c.Prefix), maxAffix)
	}
	if len(c.Suffix) > maxAffix {
		bad("suffix: %d bytes, at most %d", len(c.Suffix), maxAffix)
	}
	if c.IdleTimeout < 0 {
		bad("idle_timeout %v: must be positive", c.IdleTimeout)
	}
	if c.MaxFrame < 0 || c.MaxFrame > maxMaxFrame {
		bad("max_frame %d: must be between 1 and %d", c.MaxFrame, maxMaxFrame)
	}
	if c.ReconnectMin < 0 {
		bad("reconnect_min %v: must be positive", c.ReconnectMin)
	}
	if c.ReconnectMax < 0 {
		bad("reconnect_max %v: must be positive", c.ReconnectMax)
	}
	if d := c.withDefaults(); c.ReconnectMin >= 0 && c.ReconnectMax >= 0 && d.ReconnectMin > d.ReconnectMax {
		bad("reconnect_min %v is above reconnect_max %v", d.ReconnectMin, d.ReconnectMax)
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.DataBits == 0 {
		c.DataBits = DefaultDataBits
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	// Copies, so a caller reusing its slices cannot change a running source.
	c.Prefix = bytes.Clone(c.Prefix)
	c.Suffix = bytes.Clone(c.Suffix)
	return c
}

// mode is the go.bug.st/serial mode of a validated, defaulted config.
// InitialStatusBits stays nil: setting it makes Open read and write the
// modem bits (TIOCMGET/TIOCMSET), which ptys and some adapters refuse,
// while Linux raises DTR and RTS on open by itself, which is what CDC-ACM
// scanners wait for.
func (c Config) mode() *bugst.Mode {
	p, _ := parseParity(c.Parity)
	s, _ := parseStopBits(c.StopBits)
	return &bugst.Mode{BaudRate: c.Baud, DataBits: c.DataBits, Parity: p, StopBits: s}
}

// lineSettings renders the mode the usual way, e.g. "9600 8N1".
func (c Config) lineSettings() string {
	p := "N"
	if c.Parity != "" {
		p = strings.ToUpper(c.Parity[:1])
	}
	s := c.StopBits
	if s == "" {
		s = "1"
	}
	return fmt.Sprintf("%d %d%s%s", c.Baud, c.DataBits, p, s)
}

// target names what the source looks for, for messages and health.
func (c Config) target() string {
	if c.Port != "" {
		return c.Port
	}
	return "USB " + usbLabel(c.USBVID, c.USBPID, c.USBSerial)
}

func parseParity(s string) (bugst.Parity, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return bugst.NoParity, nil
	case "odd":
		return bugst.OddParity, nil
	case "even":
		return bugst.EvenParity, nil
	case "mark":
		return bugst.MarkParity, nil
	case "space":
		return bugst.SpaceParity, nil
	}
	return 0, fmt.Errorf("%q: must be none, odd, even, mark or space", s)
}

func parseStopBits(s string) (bugst.StopBits, error) {
	switch s {
	case "", "1":
		return bugst.OneStopBit, nil
	case "1.5":
		// go.bug.st/serial refuses 1.5 stop bits on every Unix; say so now
		// rather than at each open.
		if runtime.GOOS != "windows" {
			return 0, fmt.Errorf("%q: 1.5 stop bits are not supported on %s", s, runtime.GOOS)
		}
		return bugst.OnePointFiveStopBits, nil
	case "2":
		return bugst.TwoStopBits, nil
	}
	return 0, fmt.Errorf("%q: must be \"1\", \"1.5\" or \"2\"", s)
}
