// Package hid is a scan source for USB scanners read directly over USB
// with github.com/karalabe/usb (hidapi and libusb through cgo), in one of
// two modes:
//
//   - keyboard: the scanner is a keyboard wedge sending boot keyboard
//     reports. Reading the reports ourselves makes the host's keyboard
//     layout, input method and window focus irrelevant; only the layout
//     the scanner itself is set to matters (Config.Layout).
//   - pos: the scanner speaks HID-POS (usage page 0x8C) and sends scanned
//     data reports that keep GS and carry the AIM symbology identifier.
//
// Decoding is pure (keyboard.go, pos.go, layouts.go) and tested on
// recorded report fixtures; the USB glue (usb_cgo.go) is a thin layer
// behind small interfaces so the reader loop is tested with fakes.
//
// # Reading and closing
//
// karalabe/usb's Read blocks without a timeout, and Close while another
// goroutine is inside Read may free the device under it. So each opened
// device has one reader goroutine, and only that goroutine closes the
// device, after its own Read has returned. When Run's context ends, Run
// returns at once; the reader stays parked in Read until the next report
// or an unplug, drops that report and closes the device. Until then a new
// Run cannot open the scanner (the interface is still claimed) and retries
// every PollInterval; the first scan after a restart is the one lost.
//
// # Kernel driver
//
// On Linux hidapi's libusb backend detaches the kernel driver from the
// interface and never re-attaches it: while pda-agent reads a keyboard
// wedge, the scanner no longer types into the desktop, and it types again
// only after a replug. Access needs the udev rule in
// configs/99-pda-scanners.rules (a hidraw rule does not apply: this path
// opens /dev/bus/usb/BBB/DDD).
//
// # Keyboard decoding rules
//
// A character is typed when its key appears in a report and was absent
// from the previous report (counting repeats of a key within one report).
// A report with the same keys as the one before types nothing, whatever
// its modifiers: it is a held key or an idle re-send. So the same
// character twice needs a report without that key in between (a release,
// or another key: reports [1] [2] [1] type "121"); a scanner that sends
// [1] [1] for "11" is read as "1". Likewise [a] then [Shift a] is "a".
//
// Enter and keypad Enter end a code, Tab too when Config.TabEnds is set;
// without a suffix a code ends after IdleTimeout of silence. Caps Lock
// toggles (starting off at open) and swaps case of letters only. GS comes
// either as Ctrl + the key at the US "]" position (usage 0x30) on every
// layout — scanners build control characters from key positions, and on
// de/fr "]" itself needs AltGr, which Windows-style keyboards report as
// Ctrl+Alt, so Ctrl+AltGr is read as AltGr — or as Alt held with keypad
// digits (Alt+0029), decoded on Alt release: 29 is GS, printable ASCII is
// that character, anything else is dropped with a logged note. Keypad
// digits without Alt are digits. Any other Ctrl, Alt or GUI combination,
// an unknown usage or a keyboard rollover error spoils the code in
// progress: it is dropped whole at its end and reported as an error, never
// passed on with a hole. Dead keys (^ ´ ` ¨ ~ on de/fr) followed by Space
// type the accent itself; followed by anything else the code is dropped.
// Non-ASCII characters of a layout (ä, é, £ …) are passed on as UTF-8.
package hid
