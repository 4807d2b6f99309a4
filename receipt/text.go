package receipt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pda-agent/pda-agent/tracecode"
)

// Columns is the printed width of s: one column for ASCII, two for any
// other character. Chinese receipt printers print every character that
// takes more than one byte in GB18030 at full width, not only Hanzi
// (KevinGong2013/Printer release 5.1.1 notes, "every character that
// encodes to more than one byte is counted as two cells").
func Columns(s string) int {
	n := 0
	for _, r := range s {
		n += runeColumns(r)
	}
	return n
}

func runeColumns(r rune) int {
	if r < 0x80 {
		return 1
	}
	return 2
}

// Wrap cuts s into pieces of at most width columns, never splitting a
// character and never dropping one: joining the pieces gives s back. A
// width below 2 is taken as 2, so a wide character always fits.
func Wrap(s string, width int) []string {
	if s == "" {
		return nil
	}
	width = max(width, 2)
	var out []string
	start, cols := 0, 0
	for i, r := range s {
		w := runeColumns(r)
		if cols+w > width {
			out = append(out, s[start:i])
			start, cols = i, 0
		}
		cols += w
	}
	return append(out, s[start:])
}

// CheckWidth tells whether width is a width this package renders.
func CheckWidth(width int) error {
	if width < MinWidth || width > MaxWidth {
		return fmt.Errorf("receipt: width %d is outside %d-%d columns (58 mm paper: %d, 80 mm: %d)", width, MinWidth, MaxWidth, Width58, Width80)
	}
	return nil
}

// Text is the block as plain text lines of at most width columns, each
// ended by "\n". The layout, which a POS may parse:
//
//	================================   the block's first line
//	药品追溯码(共N个)
//	单号 <bill code>
//	--------------------------------
//	1.<product name> x<packs>         long names continue at 3 spaces
//	  <code>                          a code starts at 2 spaces
//	    <rest of a long code>         and continues at 4
//	  拆零 <units>                     units sold from a split pack
//	  无码x<packs>: <reason> <note>    packs without a code (note continues at 4)
//	================================   the block's last line
func (r Receipt) Text(width int) (string, error) {
	lines, err := r.TextLines(width)
	if err != nil {
		return "", err
	}
	return strings.Join(lines, "\n") + "\n", nil
}

// TextLines is Text as lines, without line ends.
func (r Receipt) TextLines(width int) ([]string, error) {
	if err := CheckWidth(width); err != nil {
		return nil, err
	}
	var out []string
	// add wraps s: its first line inset by first, the rest by rest.
	add := func(s string, first, rest int) {
		pieces := Wrap(s, width-first)
		if len(pieces) == 0 {
			return
		}
		out = append(out, strings.Repeat(" ", first)+pieces[0])
		for _, p := range Wrap(s[len(pieces[0]):], width-rest) {
			out = append(out, strings.Repeat(" ", rest)+p)
		}
	}
	out = append(out, strings.Repeat("=", width))
	add(fmt.Sprintf("药品追溯码(共%d个)", r.Codes), 0, 0)
	add("单号 "+printable(r.Bill), 0, 0)
	out = append(out, strings.Repeat("-", width))
	for _, l := range r.Lines {
		packs := len(l.Codes)
		for _, n := range l.NoCode {
			packs += n.Packs
		}
		out = append(out, nameLines(strconv.Itoa(l.No)+"."+printable(l.Name)+" x"+strconv.Itoa(packs), width)...)
		for _, c := range l.Codes {
			add(c.Print, codeInset, contInset)
			if c.Units > 0 {
				add("拆零 "+strconv.Itoa(c.Units), codeInset, contInset)
			}
		}
		for _, n := range l.NoCode {
			s := fmt.Sprintf("无码x%d: %s", n.Packs, ReasonText(n.Reason))
			if note := strings.TrimSpace(printable(n.Note)); note != "" {
				s += " " + note
			}
			add(s, codeInset, contInset)
		}
	}
	out = append(out, strings.Repeat("=", width))
	return out, nil
}

// nameLines wraps a product line: the name continues at nameInset, and a
// piece of it that would start with spaces loses them (a name is read, not
// looked up, so the space at a line break may go).
func nameLines(s string, width int) []string {
	pieces := Wrap(s, width)
	if len(pieces) <= 1 {
		return pieces
	}
	out := []string{pieces[0]}
	rest := strings.TrimLeft(strings.Join(pieces[1:], ""), " ")
	for _, p := range Wrap(rest, width-nameInset) {
		if p = strings.TrimLeft(p, " "); p != "" {
			out = append(out, strings.Repeat(" ", nameInset)+p)
		}
	}
	return out
}

// printable makes control characters visible: on a printer they would be
// commands.
func printable(s string) string { return tracecode.Printable(s) }
