package receipt

import (
	"bytes"
	"fmt"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// ESC/POS commands used (Epson ESC/POS; the Chinese-mode command of the
// printers sold in China, e.g. Rongta RP32x "Command Set", Xprinter):
var (
	escInit    = []byte{0x1B, 0x40}             // ESC @: initialise the printer
	fsHanziOn  = []byte{0x1C, 0x26}             // FS &: Chinese (汉字) character mode, GB18030/GBK bytes
	escFeed    = []byte{0x1B, 0x64}             // ESC d n: print and feed n lines
	gsCutFeedB = []byte{0x1D, 0x56, 0x42, 0x00} // GS V 66 0: feed to the cutter and cut (partial)
)

// EscposOptions shape the printer bytes.
type EscposOptions struct {
	Width int
	// Cut feeds the paper past the cutter and cuts after the block; off
	// when the block goes in the middle of the POS's own receipt.
	Cut bool
}

// Escpos is the block as ESC/POS bytes: initialise, Chinese mode, each text
// line in GB18030 followed by LF, then optionally feed and cut.
func (r Receipt) Escpos(o EscposOptions) ([]byte, error) {
	lines, err := r.TextLines(o.Width)
	if err != nil {
		return nil, err
	}
	enc := simplifiedchinese.GB18030.NewEncoder()
	var b bytes.Buffer
	b.Write(escInit)
	b.Write(fsHanziOn)
	for _, l := range lines {
		gb, err := enc.String(l)
		if err != nil {
			return nil, fmt.Errorf("receipt: encoding %q in GB18030: %w", l, err)
		}
		b.WriteString(gb)
		b.WriteByte('\n')
	}
	if o.Cut {
		b.Write(escFeed)
		b.WriteByte(3)
		b.Write(gsCutFeedB)
	}
	return b.Bytes(), nil
}
