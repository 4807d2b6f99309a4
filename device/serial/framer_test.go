package serial

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// idle in a test's input stands for the line going idle (Flush).
const idle = "<idle>"

// runFramer feeds chunks (idle = Flush) and returns the frames and the
// number of errors.
func runFramer(t *testing.T, f *Framer, chunks []string) ([]string, int) {
	t.Helper()
	var got []string
	nerr := 0
	for _, c := range chunks {
		if c == idle {
			if fr, ok := f.Flush(); ok {
				got = append(got, string(fr))
			}
			continue
		}
		frames, errs := f.Feed([]byte(c))
		for _, fr := range frames {
			got = append(got, string(fr))
		}
		for _, err := range errs {
			if !errors.Is(err, ErrFrameTooLong) {
				t.Errorf("error %v is not ErrFrameTooLong", err)
			}
		}
		nerr += len(errs)
	}
	return got, nerr
}

// bytewise splits s into one-byte chunks.
func bytewise(s string) []string { return strings.Split(s, "") }

func TestFramer(t *testing.T) {
	const stx, etx = "\x02", "\x03"
	tests := []struct {
		name           string
		prefix, suffix string
		max            int
		in             []string
		want           []string
		errs           int
	}{
		{name: "CR", suffix: "\r", in: []string{"ABC\r"}, want: []string{"ABC"}},
		{name: "LF", suffix: "\n", in: []string{"ABC\n"}, want: []string{"ABC"}},
		{name: "CRLF", suffix: "\r\n", in: []string{"ABC\r\nDEF\r\n"}, want: []string{"ABC", "DEF"}},
		{name: "CRLF setting, bare CR", suffix: "\r\n", in: []string{"ABC\rDEF\r"}, want: []string{"ABC", "DEF"}},
		{name: "CRLF setting, bare LF", suffix: "\r\n", in: []string{"ABC\nDEF\n"}, want: []string{"ABC", "DEF"}},
		{name: "CRLF setting, mixed ends", suffix: "\r\n", in: []string{"A\r\nB\rC\nD\n\rE\r\n"}, want: []string{"A", "B", "C", "D", "E"}},
		{name: "CR setting, CRLF scanner", suffix: "\r", in: []string{"ABC\r\nDEF\r\n"}, want: []string{"ABC", "DEF"}},
		{name: "LF setting, CRLF scanner", suffix: "\n", in: []string{"ABC\r\nDEF\r\n"}, want: []string{"ABC", "DEF"}},
		{name: "CR setting, LF scanner falls back to idle", suffix: "\r", in: []string{"ABC\n", idle}, want: []string{"ABC\n"}},
		{name: "none + idle", in: []string{"ABC", "DEF", idle, "GHI", idle, idle}, want: []string{"ABCDEF", "GHI"}},
		{name: "idle ends a frame despite a suffix", suffix: "\r", in: []string{"ABC", idle, "DEF\r"}, want: []string{"ABC", "DEF"}},
		{name: "STX prefix, ETX suffix", prefix: stx, suffix: etx, in: []string{stx + "ABC" + etx + stx + "DEF" + etx}, want: []string{"ABC", "DEF"}},
		{name: "prefix missing", prefix: stx, suffix: etx, in: []string{stx + "ABC" + etx + "DEF" + etx}, want: []string{"ABC", "DEF"}},
		{name: "multi-byte prefix broken off is data", prefix: "AB", suffix: "\r", in: []string{"ACD\rABCD\r"}, want: []string{"ACD", "CD"}},
		{name: "lone prefix then idle", prefix: stx, suffix: etx, in: []string{stx, idle, stx + etx}, want: nil},
		{name: "byte by byte", prefix: stx, suffix: etx, in: bytewise(stx + "]d2010695\x1d21AB" + etx + stx + "X" + etx), want: []string{"]d2010695\x1d21AB", "X"}},
		{name: "CRLF split across reads", suffix: "\r\n", in: []string{"ABC\r", "\nDEF\r", "\n"}, want: []string{"ABC", "DEF"}},
		{name: "custom two-byte suffix split", suffix: etx + "\r", in: []string{"A" + etx + "B" + etx, "\rDEF" + etx, "\r"}, want: []string{"A" + etx + "B", "DEF"}},
		{name: "custom suffix cut short at idle", suffix: "##", in: []string{"ABC#", idle, "D#E##"}, want: []string{"ABC", "D#E"}},
		{name: "two frames in one read", suffix: "\r", in: []string{"ABC\rDEF\rGH"}, want: []string{"ABC", "DEF"}},
		{name: "garbage between frames", suffix: "\r", in: []string{"\x00\x00ABC\r\x00\x07\x1b\r\n\x7fDEF\r\x00"}, want: []string{"ABC", "DEF"}},
		{name: "control bytes inside a frame kept", suffix: "\r", in: []string{"AB\x00C\x04\r"}, want: []string{"AB\x00C\x04"}},
		{name: "GS kept, also first", suffix: "\r\n", in: []string{"]d201069\x1d21ABC\r\n\x1d0106\r\n"}, want: []string{"]d201069\x1d21ABC", "\x1d0106"}},
		{name: "empty frames dropped", suffix: "\r", in: []string{"\r\r\r", idle}, want: nil},
		{name: "exactly max", suffix: "\r", max: 5, in: []string{"ABCDE\r"}, want: []string{"ABCDE"}},
		{name: "over-long discarded to terminator", suffix: "\r", max: 5, in: []string{"ABCDEFGHIJKLMNOP", "QRS\rXYZ\r"}, want: []string{"XYZ"}, errs: 1},
		{name: "over-long CRLF", suffix: "\r\n", max: 3, in: []string{"ABCD\r\nXY\r\n"}, want: []string{"XY"}, errs: 1},
		{name: "over-long without suffix ends at idle", max: 5, in: []string{"ABCDEFG", "HIJ", idle, "XY", idle}, want: []string{"XY"}, errs: 1},
		{name: "over-long, suffix split", suffix: etx + "\r", max: 3, in: []string{"ABCDE" + etx, "\rOK" + etx + "\r"}, want: []string{"OK"}, errs: 1},
		{name: "two over-long frames", suffix: "\r", max: 2, in: []string{"ABC\rDEF\rGH\r"}, want: []string{"GH"}, errs: 2},
		{name: "max with CRLF under LF setting", suffix: "\n", max: 3, in: []string{"ABC\r\n", "ABC\r", idle}, want: []string{"ABC", "ABC"}},
		{name: "max with custom suffix", suffix: "##", max: 3, in: []string{"ABC##", "ABC#", idle, "ABCD#"}, want: []string{"ABC", "ABC"}, errs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFramer([]byte(tt.prefix), []byte(tt.suffix), tt.max)
			got, nerr := runFramer(t, f, tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("frames %q, want %q", got, tt.want)
			}
			if nerr != tt.errs {
				t.Errorf("%d errors, want %d", nerr, tt.errs)
			}
			// Splitting the input differently changes nothing.
			var split []string
			for _, c := range tt.in {
				if c == idle {
					split = append(split, c)
				} else {
					split = append(split, bytewise(c)...)
				}
			}
			got2, nerr2 := runFramer(t, NewFramer([]byte(tt.prefix), []byte(tt.suffix), tt.max), split)
			if !slices.Equal(got2, tt.want) || nerr2 != tt.errs {
				t.Errorf("byte by byte: frames %q errors %d, want %q %d", got2, nerr2, tt.want, tt.errs)
			}
		})
	}
}

func TestFramerResetAndPending(t *testing.T) {
	f := NewFramer([]byte{0x02}, []byte("\r"), 0)
	if f.Pending() != 0 {
		t.Fatalf("new framer pending %d", f.Pending())
	}
	f.Feed([]byte("\x00\x00")) // noise is not a frame
	if f.Pending() != 0 {
		t.Fatalf("pending %d after noise", f.Pending())
	}
	f.Feed([]byte("\x02ABC"))
	if f.Pending() != 4 {
		t.Fatalf("pending %d, want 4", f.Pending())
	}
	f.Reset()
	if f.Pending() != 0 {
		t.Fatalf("pending %d after reset", f.Pending())
	}
	frames, _ := f.Feed([]byte("DEF\r"))
	if len(frames) != 1 || string(frames[0]) != "DEF" {
		t.Fatalf("after reset got %q, want [DEF]: a partial frame must not be glued on", frames)
	}
	// Frames are fresh slices: later input must not change them.
	frames2, _ := f.Feed([]byte("XYZ\r"))
	if string(frames[0]) != "DEF" || string(frames2[0]) != "XYZ" {
		t.Fatalf("frames alias the buffer: %q %q", frames, frames2)
	}
}

func TestParseTerminator(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{"", "", false}, {"none", "", false}, {"NONE", "", false},
		{"CR", "\r", false}, {"lf", "\n", false}, {"CRLF", "\r\n", false}, {" crlf ", "\r\n", false},
		{`\x03`, "\x03", false}, {`\r\n`, "\r\n", false}, {`\t`, "\t", false}, {`\\`, `\`, false},
		{`\x02\x1D`, "\x02\x1d", false}, {"#", "#", false}, {`END\x0d`, "END\r", false},
		{`\x0`, "", true}, {`\xZZ`, "", true}, {`\q`, "", true}, {`abc\`, "", true}, {`\0`, "", true},
	}
	for _, tt := range tests {
		got, err := ParseTerminator(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseTerminator(%q) error %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("ParseTerminator(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got, _ := ParseTerminator("none"); got != nil {
		t.Errorf("none gives %q, want nil", got)
	}
}
