package receipt

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/queue"
	"golang.org/x/text/encoding/simplifiedchinese"
)

const (
	gtinA = "06901234567892" // 0 + EAN-13 6901234567892 (valid check digit)
	prodA = "8123456"
	prodB = "8654321"
)

// msfx makes a 20-digit 码上放心 code of product p.
func msfx(p string, n int) string { return fmt.Sprintf("%s%09d%04d", p, n, n%10000) }

// sale is a bill of three products scanned interleaved, one of them a GS1
// code long enough to wrap on any width, a split pack, a product the
// catalogue does not know, and packs without a code.
func sale() (queue.Bill, []queue.Item, []NoCode, Names) {
	b := queue.Bill{Code: "DEV1-20261207-000042", Type: 322}
	longSerial := strings.Repeat("SER", 6) + "XY" // AI 21 at its longest, 20 characters
	items := []queue.Item{
		{Code: msfx(prodA, 1), Kind: "msfx20", Product: prodA},
		{Code: "01" + gtinA + "21" + longSerial + "\x1d" + "10" + strings.Repeat("L", 19) + "7", Kind: "gs1", Product: gtinA},
		{Code: msfx(prodA, 2), Kind: "msfx20", Product: prodA, Units: 6},
		{Code: msfx(prodB, 3), Kind: "msfx20", Product: prodB},
		{Code: msfx(prodA, 4), Kind: "msfx20", Product: prodA},
	}
	noCode := []NoCode{
		{Product: prodB, Packs: 1, Reason: "no_code_stock", Note: "2025年6月购进"},
		{Product: "8999999", Packs: 2, Reason: "unreadable"},
	}
	names := func(p string) (string, bool) {
		switch p {
		case prodA:
			return "阿莫西林胶囊 0.25g*24粒(联邦制药)", true
		case gtinA:
			return "布洛芬缓释胶囊 0.3g*20粒", true
		}
		return "", false
	}
	return b, items, noCode, names
}

func TestBuildGroupsInScanOrder(t *testing.T) {
	b, items, noCode, names := sale()
	r := Build(b, items, noCode, names)
	var got []string
	for _, l := range r.Lines {
		var codes []string
		for _, c := range l.Codes {
			codes = append(codes, c.Code)
		}
		got = append(got, fmt.Sprintf("%d %s %s %v %d", l.No, l.Product, l.Name, codes, len(l.NoCode)))
	}
	want := []string{
		fmt.Sprintf("1 %s 阿莫西林胶囊 0.25g*24粒(联邦制药) [%s %s %s] 0", prodA, items[0].Code, items[2].Code, items[4].Code),
		fmt.Sprintf("2 %s 布洛芬缓释胶囊 0.3g*20粒 [%s] 0", gtinA, items[1].Code),
		fmt.Sprintf("3 %s %s [%s] 1", prodB, prodB, items[3].Code), // unknown: the key
		"4 8999999 8999999 [] 1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.Codes != 5 {
		t.Fatalf("codes = %d, want 5", r.Codes)
	}
	if p := r.Lines[1].Codes[0].Print; p != "(01)"+gtinA+"(21)"+strings.Repeat("SER", 6)+"XY(10)"+strings.Repeat("L", 19)+"7" {
		t.Fatalf("GS1 printed as %q", p)
	}
}

// entry is what a reader of the text finds: a code or a note, by line.
type parsed struct {
	header []string
	lines  []parsedLine
}

type parsedLine struct {
	title   string
	entries []string // codes as printed, and notes ("拆零 6", "无码x1: …")
}

// parseText reads the block back by its documented layout, independently
// of the renderer: codes start at 2 spaces with an ASCII character, the
// rest of a code (or note) is at 4 spaces, a name continues at 3.
func parseText(t *testing.T, text string, width int) parsed {
	t.Helper()
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("text does not end with a line end")
	}
	rows := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	rule := func(c string) string { return strings.Repeat(c, width) }
	if len(rows) < 4 || rows[0] != rule("=") || rows[len(rows)-1] != rule("=") {
		t.Fatalf("block not framed by rules of width %d:\n%s", width, text)
	}
	var p parsed
	i := 1
	for ; i < len(rows) && rows[i] != rule("-"); i++ {
		p.header = append(p.header, rows[i])
	}
	i++
	for ; i < len(rows)-1; i++ {
		row := rows[i]
		if c := Columns(row); c > width {
			t.Fatalf("row %q is %d columns, over %d", row, c, width)
		}
		indent := len(row) - len(strings.TrimLeft(row, " "))
		body := row[indent:]
		switch {
		case indent == 0 && body != "":
			p.lines = append(p.lines, parsedLine{title: body})
		case len(p.lines) == 0:
			t.Fatalf("row %q before any product line", row)
		case indent == 3:
			l := &p.lines[len(p.lines)-1]
			if len(l.entries) > 0 {
				t.Fatalf("name continuation %q after codes", row)
			}
			l.title += body
		case indent == 2:
			l := &p.lines[len(p.lines)-1]
			l.entries = append(l.entries, body)
		case indent == 4:
			l := &p.lines[len(p.lines)-1]
			if len(l.entries) == 0 {
				t.Fatalf("continuation %q with nothing to continue", row)
			}
			l.entries[len(l.entries)-1] += body
		default:
			t.Fatalf("row %q has indent %d, not in the layout", row, indent)
		}
	}
	return p
}

// codesOf lists the codes the reader found, in order (entries starting with
// an ASCII character; notes start with Chinese).
func codesOf(p parsed) []string {
	var out []string
	for _, l := range p.lines {
		for _, e := range l.entries {
			if r, _ := utf8.DecodeRuneInString(e); r < 0x80 {
				out = append(out, e)
			}
		}
	}
	return out
}

func wantPrinted(r Receipt) []string {
	var out []string
	for _, l := range r.Lines {
		for _, c := range l.Codes {
			out = append(out, c.Print)
		}
	}
	return out
}

// checkBlock checks a read-back block against the receipt: every code
// there, once, in order, under the right line, and the notes.
func checkBlock(t *testing.T, r Receipt, p parsed, text string) {
	t.Helper()
	got, want := codesOf(p), wantPrinted(r)
	if !slices.Equal(got, want) {
		t.Fatalf("codes read back:\n%q\nwant:\n%q\ntext:\n%s", got, want, text)
	}
	if len(p.lines) != len(r.Lines) {
		t.Fatalf("%d lines read back, want %d:\n%s", len(p.lines), len(r.Lines), text)
	}
	for i, l := range r.Lines {
		packs := len(l.Codes)
		for _, n := range l.NoCode {
			packs += n.Packs
		}
		// A name may lose a space where it wraps.
		if want := fmt.Sprintf("%d.%sx%d", l.No, strings.ReplaceAll(l.Name, " ", ""), packs); strings.ReplaceAll(p.lines[i].title, " ", "") != want {
			t.Fatalf("line %d title %q, want %q", i+1, p.lines[i].title, want)
		}
		var notes []string
		for _, e := range p.lines[i].entries {
			if strings.HasPrefix(e, "无码") {
				notes = append(notes, e)
			}
		}
		if len(notes) != len(l.NoCode) {
			t.Fatalf("line %d: %d no-code notes read back, want %d: %q", i+1, len(notes), len(l.NoCode), notes)
		}
		for j, n := range l.NoCode {
			if !strings.HasPrefix(notes[j], fmt.Sprintf("无码x%d: %s", n.Packs, ReasonText(n.Reason))) || !strings.Contains(notes[j], n.Note) {
				t.Fatalf("line %d note %q does not say %+v", i+1, notes[j], n)
			}
		}
	}
	// Exactly once in the whole block, not only in the code rows: a code
	// short enough for one row must not appear anywhere else either.
	for _, c := range want {
		if len(c) <= 12 {
			continue
		}
		if n := strings.Count(text, c); n > 1 {
			t.Fatalf("code %s appears %d times", c, n)
		}
	}
	if !strings.Contains(strings.Join(p.header, ""), r.Bill) {
		t.Fatalf("header %q does not name bill %s", p.header, r.Bill)
	}
}

func TestTextHoldsEveryCodeOnce(t *testing.T) {
	b, items, noCode, names := sale()
	r := Build(b, items, noCode, names)
	for _, width := range []int{Width58, Width80, MinWidth, 20, 41, MaxWidth} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			text, err := r.Text(width)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "receipt.txt")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			back, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkBlock(t, r, parseText(t, string(back), width), string(back))
		})
	}
}

func TestBadWidth(t *testing.T) {
	b, items, noCode, names := sale()
	r := Build(b, items, noCode, names)
	for _, w := range []int{0, MinWidth - 1, MaxWidth + 1, -32} {
		if _, err := r.Text(w); err == nil {
			t.Fatalf("width %d accepted", w)
		}
		if _, err := r.Escpos(EscposOptions{Width: w}); err == nil {
			t.Fatalf("escpos width %d accepted", w)
		}
	}
}

// decodeEscpos is a strict reader of the bytes this package sends: it
// knows ESC @, FS &, ESC d n, GS V m [n] and LF, refuses any other control
// byte, and returns the text, decoded from GB18030, and the commands seen.
func decodeEscpos(t *testing.T, data []byte) (string, []string) {
	t.Helper()
	var text bytes.Buffer
	var cmds []string
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == 0x1B && i+1 < len(data) && data[i+1] == '@':
			cmds, i = append(cmds, "ESC @"), i+2
		case c == 0x1C && i+1 < len(data) && data[i+1] == '&':
			cmds, i = append(cmds, "FS &"), i+2
		case c == 0x1B && i+2 < len(data) && data[i+1] == 'd':
			cmds, i = append(cmds, fmt.Sprintf("ESC d %d", data[i+2])), i+3
		case c == 0x1D && i+2 < len(data) && data[i+1] == 'V' && (data[i+2] == 65 || data[i+2] == 66):
			if i+3 >= len(data) {
				t.Fatalf("GS V %d without n", data[i+2])
			}
			cmds, i = append(cmds, fmt.Sprintf("GS V %d %d", data[i+2], data[i+3])), i+4
		case c == 0x1D && i+2 < len(data) && data[i+1] == 'V':
			cmds, i = append(cmds, fmt.Sprintf("GS V %d", data[i+2])), i+3
		case c == '\n':
			text.WriteByte('\n')
			i++
		case c < 0x20 || c == 0x7F:
			t.Fatalf("unexpected control byte 0x%02X at %d", c, i)
		default:
			text.WriteByte(c)
			i++
		}
	}
	utf, err := simplifiedchinese.GB18030.NewDecoder().Bytes(text.Bytes())
	if err != nil {
		t.Fatalf("decoding GB18030: %v", err)
	}
	return string(utf), cmds
}

func TestEscposHoldsEveryCodeOnce(t *testing.T) {
	b, items, noCode, names := sale()
	r := Build(b, items, noCode, names)
	for _, tc := range []struct {
		width int
		cut   bool
		cmds  []string
	}{
		{Width58, false, []string{"ESC @", "FS &"}},
		{Width80, true, []string{"ESC @", "FS &", "ESC d 3", "GS V 66 0"}},
		{MinWidth, true, []string{"ESC @", "FS &", "ESC d 3", "GS V 66 0"}},
	} {
		t.Run(fmt.Sprint(tc.width, tc.cut), func(t *testing.T) {
			data, err := r.Escpos(EscposOptions{Width: tc.width, Cut: tc.cut})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "receipt.bin")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			back, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(back, []byte{0x1B, '@', 0x1C, '&'}) {
				t.Fatalf("does not start with ESC @ FS &: % X", back[:min(8, len(back))])
			}
			text, cmds := decodeEscpos(t, back)
			if !slices.Equal(cmds, tc.cmds) {
				t.Fatalf("commands %q, want %q", cmds, tc.cmds)
			}
			if !strings.Contains(text, "药品追溯码") || !strings.Contains(text, "阿莫西林胶囊") {
				t.Fatalf("Chinese text lost in GB18030:\n%s", text)
			}
			checkBlock(t, r, parseText(t, text, tc.width), text)
		})
	}
}

// A code of any length on any width wraps into pieces that each fit and
// join back into the code.
func TestWrapProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 2026))
	alphabet := []rune("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ()-_./阿莫西林胶囊")
	for range 5000 {
		n := rng.IntN(300)
		width := rng.IntN(110) - 5
		rs := make([]rune, n)
		for i := range rs {
			if rng.IntN(4) == 0 {
				rs[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				rs[i] = alphabet[rng.IntN(10)]
			}
		}
		s := string(rs)
		pieces := Wrap(s, width)
		if got := strings.Join(pieces, ""); got != s {
			t.Fatalf("Wrap(%q, %d) joins to %q", s, width, got)
		}
		for i, p := range pieces {
			if p == "" || Columns(p) > max(width, 2) {
				t.Fatalf("Wrap(%q, %d) piece %d %q: %d columns", s, width, i, p, Columns(p))
			}
			// Greedy: a piece ends only where the next character would not fit.
			if i < len(pieces)-1 {
				next, _ := utf8.DecodeRuneInString(pieces[i+1])
				if Columns(p)+runeColumns(next) <= max(width, 2) {
					t.Fatalf("Wrap(%q, %d) broke piece %q early", s, width, p)
				}
			}
		}
	}
}

// Codes of random lengths through the whole layout, text and ESC/POS, on
// random widths.
func TestRandomCodesRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 42))
	for range 200 {
		var items []queue.Item
		for i := range 1 + rng.IntN(12) {
			n := 1 + rng.IntN(120)
			code := make([]byte, n)
			for j := range code {
				code[j] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"[rng.IntN(34)]
			}
			items = append(items, queue.Item{Code: string(code), Kind: "other", Product: fmt.Sprint(rng.IntN(4)), Seq: i})
		}
		r := Build(queue.Bill{Code: "B1"}, items, nil, nil)
		width := MinWidth + rng.IntN(MaxWidth-MinWidth+1)
		text, err := r.Text(width)
		if err != nil {
			t.Fatal(err)
		}
		checkBlock(t, r, parseText(t, text, width), text)
		data, err := r.Escpos(EscposOptions{Width: width, Cut: rng.IntN(2) == 0})
		if err != nil {
			t.Fatal(err)
		}
		back, _ := decodeEscpos(t, data)
		if back != text {
			t.Fatalf("ESC/POS text differs from the plain text:\n%s\nvs\n%s", back, text)
		}
	}
}

// A control byte in a name or code must not reach the printer as a command.
func TestControlBytesMadeVisible(t *testing.T) {
	items := []queue.Item{{Code: "AB\x1bCD", Kind: "other", Product: "P"}}
	names := func(string) (string, bool) { return "药\x1d品\n名", true }
	r := Build(queue.Bill{Code: "B2"}, items, []NoCode{{Product: "P", Packs: 1, Reason: "other", Note: "x\x07y"}}, names)
	data, err := r.Escpos(EscposOptions{Width: Width58})
	if err != nil {
		t.Fatal(err)
	}
	text, cmds := decodeEscpos(t, data) // fails on a stray control byte
	if !slices.Equal(cmds, []string{"ESC @", "FS &"}) || !strings.Contains(text, `AB\x1bCD`) {
		t.Fatalf("commands %q, text:\n%s", cmds, text)
	}
}
