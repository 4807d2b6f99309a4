package hid

// event is one outcome of decoding: a finished code, a code dropped with
// the reason, or a note about something skipped inside a code.
type event struct {
	code      []byte
	symbology string
	err       error
	note      string
}

// decoder turns reports into events. Implementations are pure state
// machines: no I/O, no clock.
type decoder interface {
	// feed decodes one report as read from the device.
	feed(report []byte) []event
	// flush ends the code in progress after the idle timeout.
	flush() []event
	// pending reports a code in progress, which the idle timeout ends.
	pending() bool
}

// maxCode bounds one code in bytes; longer input is dropped, never split.
// Trace codes are at most a few dozen bytes.
const maxCode = 512

// controlFree reports the first byte of b that is a control character
// other than GS, or -1. Codes never carry other controls.
func controlFree(b []byte) int {
	for i, c := range b {
		if (c < 0x20 && c != gs) || c == 0x7F {
			return i
		}
	}
	return -1
}

// gs is the GS1 group separator.
const gs = 0x1D
