package tracecode

import (
	"strings"
)

const (
	gsByte = 0x1D
	gs     = "\x1d"
)

// field is one parsed GS1 element.
type field struct {
	spec  *aiSpec
	value string
	pos   int // 1-based position of the AI in the GS1 data
}

// isGS1Symbology reports whether sym is an AIM identifier announcing FNC1
// in first position, i.e. a GS1 element string.
func isGS1Symbology(sym string) bool {
	switch sym {
	case "]d2", "]C1", "]Q3", "]e0":
		return true
	}
	return false
}

// looksGS1 reports whether data without a GS1 symbology identifier or
// leading GS should still be read as GS1: the human-readable "(01)…" form,
// a leading "01"+14 digits, or digits followed somewhere by a GS.
func looksGS1(data string) bool {
	if strings.HasPrefix(data, "(") {
		return true
	}
	if len(data) >= 16 && strings.HasPrefix(data, "01") && allDigits(data[2:16]) {
		return true
	}
	return len(data) >= 2 && isDigit(data[0]) && isDigit(data[1]) && strings.Contains(data, gs)
}

// parseGS1 fills c from GS1 data (AIM identifier and leading GS already
// removed, substitutes already replaced). trusted means a GS was seen (or
// the rules vouch for the scanner), so GS-less fields need no separator.
func parseGS1(c *Code, data string, trusted bool) *Error {
	c.Kind = KindGS1
	var (
		fields []field
		err    *Error
	)
	switch {
	case data == "":
		return errf(ReasonEmpty, "the GS1 code contains no data after its separator")
	case data[0] == '(':
		fields, err = parseHRI(data)
	case trusted || strings.Contains(data, gs):
		fields, err = parseElements(data)
	default:
		fields, err = parseUnseparated(data)
	}
	if err != nil {
		if msfxPattern(strings.ReplaceAll(data, gs, "")) {
			err.Msg += " (the data looks like a 码上放心 code with a GS1 symbology identifier or separator: check the scanner's GS1/FNC1 output settings)"
		}
		return err
	}
	return buildGS1(c, fields)
}

// parseElements reads an element string in which separators are trusted:
// predefined-length AIs take their fixed length, every other AI runs to the
// next GS or the end.
func parseElements(data string) ([]field, *Error) {
	var out []field
	for p := 0; p < len(data); {
		if data[p] == gsByte {
			return nil, errf(ReasonBadSyntax, "two GS separators in a row at position %d of the GS1 data (%s): the code is damaged", p+1, quote(data))
		}
		aiPos := p
		s := lookupAI(data, p)
		if s == nil {
			return nil, unknownAI(data, p)
		}
		start := p + len(s.ai)
		var v string
		if s.predef {
			end := start + s.max
			if end > len(data) {
				end = len(data)
			}
			v = data[start:end]
			p = end
			if p < len(data) && data[p] == gsByte {
				p++ // a superfluous GS after a predefined-length AI changes nothing
			}
		} else {
			end := strings.IndexByte(data[start:], gsByte)
			if end < 0 {
				end = len(data)
			} else {
				end += start
			}
			v = data[start:end]
			p = end
			if p < len(data) {
				p++
			}
		}
		if err := s.validate(v, start+1); err != nil {
			return nil, err
		}
		if err := dupCheck(out, s, aiPos+1); err != nil {
			return nil, err
		}
		out = append(out, field{spec: s, value: v, pos: aiPos + 1})
	}
	return out, nil
}

// parseHRI reads the human-readable form "(01)…(17)…(10)…(21)…".
// Parentheses never occur in the data, so each value runs to the next "(".
func parseHRI(data string) ([]field, *Error) {
	var out []field
	for p := 0; p < len(data); {
		if data[p] != '(' {
			return nil, errf(ReasonBadSyntax, "expected \"(\" at position %d of the human-readable GS1 code %s", p+1, quote(data))
		}
		closeAt := strings.IndexByte(data[p:], ')')
		if closeAt < 0 {
			return nil, errf(ReasonBadSyntax, "the \"(\" at position %d of %s is never closed", p+1, quote(data))
		}
		closeAt += p
		ai := data[p+1 : closeAt]
		s, ok := aiTable[ai]
		if !ok {
			return nil, errf(ReasonUnknownAI, "unknown GS1 application identifier (%s) at position %d of %s: check the digits in parentheses", Printable(ai), p+1, quote(data))
		}
		start := closeAt + 1
		end := strings.IndexByte(data[start:], '(')
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		v := data[start:end]
		if i := strings.IndexAny(v, ")"+gs); i >= 0 {
			return nil, errf(ReasonBadSyntax, "%s at position %d: unexpected %s inside the value of the human-readable GS1 code", s.name(), start+i+1, describeChar(v[i:]))
		}
		if err := s.validate(v, start+1); err != nil {
			return nil, err
		}
		if err := dupCheck(out, s, p+1); err != nil {
			return nil, err
		}
		out = append(out, field{spec: s, value: v, pos: p + 1})
		p = end
	}
	return out, nil
}

// dupCheck rejects a second occurrence of the same AI.
func dupCheck(have []field, s *aiSpec, pos int) *Error {
	for _, f := range have {
		if f.spec == s {
			return errf(ReasonDuplicateAI, "%s appears twice (again near position %d): the code is damaged or two codes were joined", s.name(), pos)
		}
	}
	return nil
}

// unknownAI describes data[p:], where no known AI starts.
func unknownAI(data string, p int) *Error {
	end := p + 4
	if end > len(data) {
		end = len(data)
	}
	if !isDigit(data[p]) {
		return errf(ReasonUnknownAI, "expected a GS1 application identifier (digits) at position %d of the GS1 data, found %s", p+1, describeChar(data[p:]))
	}
	return errf(ReasonUnknownAI, "unknown GS1 application identifier at position %d of the GS1 data (it starts %s): the code is damaged, a GS separator was lost, or it uses an AI this agent does not know",
		p+1, quote(data[p:end]+"…"))
}

// splitBudget caps the search over lost-separator readings. Real codes need
// a few dozen steps; running out is reported as ambiguous, never accepted.
const splitBudget = 1 << 14

// parseUnseparated reads GS1 data that contains no GS although separators
// may have been lost. Every reading in which each non-predefined field ends
// at some valid length is considered; the data is accepted only if exactly
// one reading is a complete, valid element string.
func parseUnseparated(data string) ([]field, *Error) {
	sp := newSplitter(data)
	sp.search()
	switch {
	case sp.count == 1 && !sp.exhausted:
		return sp.found[0], nil
	case sp.count == 0 && !sp.exhausted:
		// Report the problem of the plain reading (each variable field to the
		// end): it names the first thing that is wrong.
		if _, err := parseElements(data); err != nil {
			return nil, err
		}
		return nil, errf(ReasonBadSyntax, "the GS1 data %s cannot be read", quote(data))
	}
	if len(sp.found) >= 2 {
		return nil, errf(ReasonAmbiguousSeparator,
			"the GS1 code can be read in more than one way because the scanner dropped the GS (FNC1) separators between its fields: %s or %s. Configure the scanner to send GS or a visible substitute (e.g. <GS>) and add that substitute to the rules, or connect it over serial/HID-POS; if the scanner is known to pass GS, mark it GS-reliable",
			hri(sp.found[0]), hri(sp.found[1]))
	}
	return nil, errf(ReasonAmbiguousSeparator,
		"the GS1 code has too many possible readings because the GS (FNC1) separators between its fields were lost: configure the scanner to send GS or a visible substitute (e.g. <GS>) and add that substitute to the rules")
}

// splitter enumerates the readings of GS-less GS1 data. Positions are
// nodes, each valid (AI, value) an edge; live[p] memoises whether the end
// is reachable from p at all, so the walk never enters dead branches.
type splitter struct {
	data      string
	spec      []*aiSpec // AI at each position, once computed
	ends      [][]int   // value ends of the AI at each position, longest first
	state     []uint8   // 0 unknown, 1 live, 2 dead
	done      []bool    // ends computed
	path      []field
	found     [][]field
	count     int
	budget    int
	exhausted bool
}

func newSplitter(data string) *splitter {
	n := len(data)
	return &splitter{
		data:   data,
		spec:   make([]*aiSpec, n),
		ends:   make([][]int, n),
		state:  make([]uint8, n+1),
		done:   make([]bool, n),
		budget: splitBudget,
	}
}

// edges returns the ends of every valid value of the AI at p (memoised).
func (sp *splitter) edges(p int) []int {
	if sp.done[p] {
		return sp.ends[p]
	}
	sp.done[p] = true
	s := lookupAI(sp.data, p)
	if s == nil {
		return nil
	}
	sp.spec[p] = s
	start := p + len(s.ai)
	var out []int
	for l := 1; l <= s.max && start+l <= len(sp.data); l++ {
		if !s.charOK(l-1, sp.data[start+l-1]) {
			break
		}
		if l < s.min {
			continue
		}
		if r, _ := s.content(sp.data[start : start+l]); r == "" {
			out = append(out, start+l)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	sp.ends[p] = out
	return out
}

// live reports whether some reading (ignoring duplicate AIs) runs from p
// to the end of the data.
func (sp *splitter) live(p int) bool {
	if p == len(sp.data) {
		return true
	}
	switch sp.state[p] {
	case 1:
		return true
	case 2:
		return false
	}
	ok := false
	for _, e := range sp.edges(p) {
		if sp.live(e) {
			ok = true
			break
		}
	}
	sp.state[p] = 2
	if ok {
		sp.state[p] = 1
	}
	return ok
}

func (sp *splitter) search() {
	if sp.live(0) {
		sp.walk(0)
	}
}

// walk counts complete readings from p, stopping at two. Duplicate AIs are
// pruned here rather than in live, which keeps live a pure function of p.
func (sp *splitter) walk(p int) {
	if p == len(sp.data) {
		sp.count++
		sp.found = append(sp.found, append([]field(nil), sp.path...))
		return
	}
	s := sp.spec[p]
	for _, f := range sp.path {
		if f.spec == s {
			return
		}
	}
	start := p + len(s.ai)
	for _, e := range sp.ends[p] {
		if !sp.live(e) {
			continue
		}
		if sp.budget--; sp.budget < 0 {
			sp.exhausted = true
			return
		}
		sp.path = append(sp.path, field{spec: s, value: sp.data[start:e], pos: p + 1})
		sp.walk(e)
		sp.path = sp.path[:len(sp.path)-1]
		if sp.count >= 2 || sp.exhausted {
			return
		}
	}
}

// hri renders fields in the human-readable "(AI)value" form for messages.
func hri(fields []field) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString("(" + f.spec.ai + ")")
		b.WriteString(Printable(f.value))
	}
	return b.String()
}

// buildGS1 fills c from parsed fields and checks that they identify a pack.
func buildGS1(c *Code, fields []field) *Error {
	c.AIs = make(map[string]string, len(fields))
	c.Order = make([]string, 0, len(fields))
	for _, f := range fields {
		c.AIs[f.spec.ai] = f.value
		c.Order = append(c.Order, f.spec.ai)
	}
	c.GTIN = c.AIs["01"]
	c.Product = c.GTIN
	c.Serial = c.AIs["21"]
	c.Lot = c.AIs["10"]
	c.Expiry = isoDate(c.AIs["17"])
	c.Production = isoDate(c.AIs["11"])
	if c.GTIN == "" {
		return errf(ReasonMissingGTIN, "the GS1 code %s has no GTIN (AI 01), so it does not identify a drug pack; scan the code on the smallest sales pack", hri(fields))
	}
	if c.Serial == "" {
		return errf(ReasonMissingSerial, "the GS1 code %s has no serial number (AI 21): a GS1 code without serial identifies a product, not a pack; if the pack's code does carry a serial, the scanner dropped the GS separator: configure a substitute", hri(fields))
	}
	// Normalized: AI 01 first (so the string is recognisable as GS1 on its
	// own, see looksGS1), the rest in scanned order.
	ordered := make([]field, 0, len(fields))
	for _, f := range fields {
		if f.spec.ai == "01" {
			ordered = append(ordered, f)
		}
	}
	for _, f := range fields {
		if f.spec.ai != "01" {
			ordered = append(ordered, f)
		}
	}
	var b strings.Builder
	for i, f := range ordered {
		b.WriteString(f.spec.ai)
		b.WriteString(f.value)
		if !f.spec.predef && i < len(ordered)-1 {
			b.WriteByte(gsByte)
		}
	}
	c.Normalized = b.String()
	c.Key = "01" + c.GTIN + "21" + c.Serial
	return nil
}
