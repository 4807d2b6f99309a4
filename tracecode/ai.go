package tracecode

import (
	"fmt"
	"strconv"
)

// valueCheck names a content rule of an AI beyond length, charset and
// check digit.
type valueCheck uint8

const (
	chkNone        valueCheck = iota
	chkDate0                  // YYMMDD, DD may be 00 ("day not given")
	chkDate                   // YYMMDD, a real day
	chkDateHHMM               // YYMMDD HHMM (7003)
	chkDateOptHHMM            // YYMMDD [HHMM] (7011)
	chkDateOptDate            // YYMMDD [YYMMDD] (7007)
	chkDateHHOpt              // YYMMDDHH [MM[SS]] (8008)
	chkZeroFirst              // leading digit must be 0 (8003)
	chkPieceTotal             // N14 then piece N2 and total N2 (8006, 8026)
	chkMult3                  // a list of 3-digit country codes (423, 425)
)

// aiSpec describes one GS1 application identifier.
type aiSpec struct {
	ai       string
	title    string
	min, max int        // value length bounds; min == max for fixed length
	digits   int        // leading value characters that must be digits
	csum     int        // leading digits forming a GS1 mod-10 key, 0 = none
	check    valueCheck // further content rule
	predef   bool       // predefined length: no separator ever follows
}

// aiTable maps each supported AI to its description. Built once at package
// initialisation and only read afterwards. Formats follow the GS1 General
// Specifications / GS1 Barcode Syntax Dictionary; AIs not listed are
// rejected as unknown rather than guessed at.
var aiTable = buildAITable()

func buildAITable() map[string]*aiSpec {
	t := make(map[string]*aiSpec, 400)
	add := func(s aiSpec) {
		if _, dup := t[s.ai]; dup {
			panic("tracecode: duplicate AI " + s.ai)
		}
		s.predef = predefinedLength(s.ai)
		t[s.ai] = &s
	}
	num := func(ai, title string, n int) { add(aiSpec{ai: ai, title: title, min: n, max: n, digits: n}) }
	numVar := func(ai, title string, n int) { add(aiSpec{ai: ai, title: title, min: 1, max: n, digits: n}) }
	alnum := func(ai, title string, n int) { add(aiSpec{ai: ai, title: title, min: 1, max: n}) }
	key := func(ai, title string, n int) { add(aiSpec{ai: ai, title: title, min: n, max: n, digits: n, csum: n}) }
	date := func(ai, title string) { add(aiSpec{ai: ai, title: title, min: 6, max: 6, digits: 6, check: chkDate0}) }

	key("00", "SSCC", 18)
	key("01", "GTIN", 14)
	key("02", "CONTENT", 14)
	alnum("10", "BATCH/LOT", 20)
	date("11", "PROD DATE")
	date("12", "DUE DATE")
	date("13", "PACK DATE")
	date("15", "BEST BEFORE")
	date("16", "SELL BY")
	date("17", "EXPIRY")
	num("20", "VARIANT", 2)
	alnum("21", "SERIAL", 20)
	alnum("22", "CPV", 20)
	alnum("235", "TPX", 28)
	alnum("240", "ADDITIONAL ID", 30)
	alnum("241", "CUST. PART No.", 30)
	numVar("242", "MTO VARIANT", 6)
	alnum("243", "PCN", 20)
	alnum("250", "SECONDARY SERIAL", 30)
	alnum("251", "REF. TO SOURCE", 30)
	add(aiSpec{ai: "253", title: "GDTI", min: 13, max: 30, digits: 13, csum: 13})
	alnum("254", "GLN EXTENSION", 20)
	add(aiSpec{ai: "255", title: "GCN", min: 13, max: 25, digits: 25, csum: 13})
	numVar("30", "VAR. COUNT", 8)
	// Trade and logistic measures: 31nn–36nn, decimal-point indicator 0–5.
	measures := []string{
		"310", "311", "312", "313", "314", "315", "316",
		"320", "321", "322", "323", "324", "325", "326", "327", "328", "329",
		"330", "331", "332", "333", "334", "335", "336", "337",
		"340", "341", "342", "343", "344", "345", "346", "347", "348", "349",
		"350", "351", "352", "353", "354", "355", "356", "357",
		"360", "361", "362", "363", "364", "365", "366", "367", "368", "369",
	}
	for _, m := range measures {
		for d := '0'; d <= '5'; d++ {
			num(m+string(d), "MEASURE", 6)
		}
	}
	numVar("37", "COUNT", 8)
	for d := '0'; d <= '9'; d++ {
		numVar("390"+string(d), "AMOUNT", 15)
		add(aiSpec{ai: "391" + string(d), title: "AMOUNT", min: 4, max: 18, digits: 18})
		numVar("392"+string(d), "PRICE", 15)
		add(aiSpec{ai: "393" + string(d), title: "PRICE", min: 4, max: 18, digits: 18})
	}
	for d := '0'; d <= '3'; d++ {
		num("394"+string(d), "PRCNT OFF", 4)
	}
	for d := '0'; d <= '5'; d++ {
		num("395"+string(d), "PRICE/UoM", 6)
	}
	alnum("400", "ORDER NUMBER", 30)
	alnum("401", "GINC", 30)
	key("402", "GSIN", 17)
	alnum("403", "ROUTE", 30)
	for _, ai := range []string{"410", "411", "412", "413", "414", "415", "416", "417"} {
		key(ai, "GLN", 13)
	}
	alnum("420", "SHIP TO POST", 20)
	add(aiSpec{ai: "421", title: "SHIP TO POST", min: 4, max: 12, digits: 3})
	num("422", "ORIGIN", 3)
	add(aiSpec{ai: "423", title: "COUNTRY - INITIAL PROCESS", min: 3, max: 15, digits: 15, check: chkMult3})
	num("424", "COUNTRY - PROCESS", 3)
	add(aiSpec{ai: "425", title: "COUNTRY - DISASSEMBLY", min: 3, max: 15, digits: 15, check: chkMult3})
	num("426", "COUNTRY - FULL PROCESS", 3)
	alnum("427", "ORIGIN SUBDIVISION", 3)
	num("7001", "NSN", 13)
	alnum("7002", "MEAT CUT", 30)
	add(aiSpec{ai: "7003", title: "EXPIRY TIME", min: 10, max: 10, digits: 10, check: chkDateHHMM})
	numVar("7004", "ACTIVE POTENCY", 4)
	alnum("7005", "CATCH AREA", 12)
	add(aiSpec{ai: "7006", title: "FIRST FREEZE DATE", min: 6, max: 6, digits: 6, check: chkDate})
	add(aiSpec{ai: "7007", title: "HARVEST DATE", min: 6, max: 12, digits: 12, check: chkDateOptDate})
	alnum("7008", "AQUATIC SPECIES", 3)
	alnum("7009", "FISHING GEAR TYPE", 10)
	alnum("7010", "PROD METHOD", 2)
	add(aiSpec{ai: "7011", title: "TEST BY DATE", min: 6, max: 10, digits: 10, check: chkDateOptHHMM})
	alnum("7020", "REFURB LOT", 20)
	alnum("7021", "FUNC STAT", 20)
	alnum("7022", "REV STAT", 20)
	alnum("7023", "GIAI - ASSEMBLY", 30)
	for d := '0'; d <= '9'; d++ {
		add(aiSpec{ai: "703" + string(d), title: "PROCESSOR", min: 4, max: 30, digits: 3})
	}
	alnum("710", "NHRN PZN", 20)
	alnum("711", "NHRN CIP", 20)
	alnum("712", "NHRN CN", 20)
	alnum("713", "NHRN DRN", 20)
	alnum("714", "NHRN AIM", 20)
	alnum("715", "NHRN NDC", 20)
	alnum("7240", "PROTOCOL", 20)
	num("8001", "DIMENSIONS", 14)
	alnum("8002", "CMT No.", 20)
	add(aiSpec{ai: "8003", title: "GRAI", min: 14, max: 30, digits: 14, csum: 14, check: chkZeroFirst})
	alnum("8004", "GIAI", 30)
	num("8005", "PRICE PER UNIT", 6)
	add(aiSpec{ai: "8006", title: "ITIP", min: 18, max: 18, digits: 18, csum: 14, check: chkPieceTotal})
	alnum("8007", "IBAN", 34)
	add(aiSpec{ai: "8008", title: "PROD TIME", min: 8, max: 12, digits: 12, check: chkDateHHOpt})
	alnum("8012", "VERSION", 20)
	alnum("8013", "GMN", 25)
	key("8017", "GSRN - PROVIDER", 18)
	key("8018", "GSRN - RECIPIENT", 18)
	numVar("8019", "SRIN", 10)
	alnum("8020", "REF No.", 25)
	add(aiSpec{ai: "8026", title: "ITIP CONTENT", min: 18, max: 18, digits: 18, csum: 14, check: chkPieceTotal})
	alnum("8200", "PRODUCT URL", 70)
	alnum("90", "INTERNAL", 30)
	for d := '1'; d <= '9'; d++ {
		alnum("9"+string(d), "INTERNAL", 90)
	}
	return t
}

// predefinedLength reports whether ai is in the GS1 predefined-length table
// (first two digits 00–04, 11–20, 31–36, 41): no separator follows these.
func predefinedLength(ai string) bool {
	switch ai[:2] {
	case "00", "01", "02", "03", "04",
		"11", "12", "13", "14", "15", "16", "17", "18", "19", "20",
		"31", "32", "33", "34", "35", "36", "41":
		return true
	}
	return false
}

// lookupAI returns the AI starting at data[p:], or nil. The table is
// prefix-free (no AI is a prefix of another), so at most one length fits.
func lookupAI(data string, p int) *aiSpec {
	for n := 2; n <= 4 && p+n <= len(data); n++ {
		if !isDigit(data[p+n-1]) || !isDigit(data[p]) {
			return nil
		}
		if s, ok := aiTable[data[p:p+n]]; ok {
			return s
		}
	}
	return nil
}

// fixed reports whether the value has a single allowed length.
func (s *aiSpec) fixed() bool { return s.min == s.max }

// name is the AI as shown in messages, e.g. "AI 17 (EXPIRY)".
func (s *aiSpec) name() string { return "AI " + s.ai + " (" + s.title + ")" }

// charOK reports whether c may stand at index i of the value.
func (s *aiSpec) charOK(i int, c byte) bool {
	if i < s.digits {
		return isDigit(c)
	}
	return cset82[c]
}

// cset82 is the GS1 AI encodable character set 82.
var cset82 = func() (t [256]bool) {
	for _, c := range []byte(`!"%&'()*+,-./:;<=>?_`) {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
		t[c+'a'-'A'] = true
	}
	return t
}()

// validate checks a complete value: length, characters, check digit and
// content. pos is the 1-based position of the value in the GS1 data.
func (s *aiSpec) validate(v string, pos int) *Error {
	if v == "" {
		return errf(ReasonBadAIValue, "%s at position %d is empty", s.name(), pos)
	}
	if len(v) < s.min {
		if s.fixed() {
			return errf(ReasonBadAIValue, "%s at position %d must be %d characters, found %d (%s): the code is cut off or damaged; scan it again",
				s.name(), pos, s.min, len(v), quote(v))
		}
		return errf(ReasonBadAIValue, "%s at position %d must be at least %d characters, found %d (%s)",
			s.name(), pos, s.min, len(v), quote(v))
	}
	if len(v) > s.max {
		if s.fixed() {
			return errf(ReasonBadAIValue, "%s at position %d must be exactly %d characters, found %d (%s): a GS separator after it is probably missing",
				s.name(), pos, s.max, len(v), quote(v))
		}
		return errf(ReasonBadAIValue, "%s at position %d is %d characters long, at most %d are allowed (%s): a GS separator after it was probably lost; configure the scanner to send GS or a substitute",
			s.name(), pos, len(v), s.max, quote(v))
	}
	for i := 0; i < len(v); i++ {
		if s.charOK(i, v[i]) {
			continue
		}
		at := pos + i
		if v[i] == gsByte {
			return errf(ReasonBadAIValue, "%s at position %d: a GS separator at position %d cuts the value short (%s)", s.name(), pos, at, quote(v))
		}
		if i < s.digits {
			return errf(ReasonBadAIValue, "%s at position %d must be digits here, found %s at position %d", s.name(), pos, describeChar(v[i:]), at)
		}
		return errf(ReasonBadAIValue, "%s at position %d: %s at position %d is not allowed in GS1 data", s.name(), pos, describeChar(v[i:]), at)
	}
	if r, msg := s.content(v); r != "" {
		return &Error{Reason: r, Msg: fmt.Sprintf("%s at position %d: %s", s.name(), pos, msg)}
	}
	return nil
}

// content checks the check digit and the AI-specific rule of a value whose
// length and characters are already valid. It returns "" if it is fine.
func (s *aiSpec) content(v string) (Reason, string) {
	if s.csum > 0 {
		k := v[:s.csum]
		want := mod10(k[:len(k)-1])
		if got := k[len(k)-1]; got != want {
			r := ReasonBadAIValue
			what := "key"
			if s.ai == "01" || s.ai == "02" {
				r, what = ReasonBadGTINCheck, "GTIN"
			}
			return r, fmt.Sprintf("%s %s has a wrong check digit: expected %c, found %c; the code was misread or misprinted, scan it again",
				what, k, want, got)
		}
	}
	switch s.check {
	case chkDate0:
		return dateProblem(v, true)
	case chkDate:
		return dateProblem(v, false)
	case chkDateHHMM:
		if r, m := dateProblem(v[:6], false); r != "" {
			return r, m
		}
		return timeProblem(v[6:])
	case chkDateOptHHMM:
		if len(v) != 6 && len(v) != 10 {
			return ReasonBadAIValue, fmt.Sprintf("%s must be YYMMDD or YYMMDDHHMM, found %d digits", v, len(v))
		}
		if r, m := dateProblem(v[:6], false); r != "" {
			return r, m
		}
		if len(v) == 10 {
			return timeProblem(v[6:])
		}
	case chkDateOptDate:
		if len(v) != 6 && len(v) != 12 {
			return ReasonBadAIValue, fmt.Sprintf("%s must be YYMMDD or YYMMDDYYMMDD, found %d digits", v, len(v))
		}
		if r, m := dateProblem(v[:6], false); r != "" {
			return r, m
		}
		if len(v) == 12 {
			return dateProblem(v[6:], false)
		}
	case chkDateHHOpt:
		if len(v) != 8 && len(v) != 10 && len(v) != 12 {
			return ReasonBadAIValue, fmt.Sprintf("%s must be YYMMDDHH, YYMMDDHHMM or YYMMDDHHMMSS, found %d digits", v, len(v))
		}
		if r, m := dateProblem(v[:6], false); r != "" {
			return r, m
		}
		if h := atoi2(v[6:8]); h > 23 {
			return ReasonBadDate, fmt.Sprintf("hour %02d does not exist", h)
		}
		for i := 8; i < len(v); i += 2 {
			if m := atoi2(v[i : i+2]); m > 59 {
				return ReasonBadDate, fmt.Sprintf("minute/second %02d does not exist", m)
			}
		}
	case chkZeroFirst:
		if v[0] != '0' {
			return ReasonBadAIValue, fmt.Sprintf("%s must start with 0", quote(v))
		}
	case chkPieceTotal:
		piece, total := atoi2(v[14:16]), atoi2(v[16:18])
		if piece == 0 || total == 0 || piece > total {
			return ReasonBadAIValue, fmt.Sprintf("piece %02d of %02d is impossible", piece, total)
		}
	case chkMult3:
		if len(v)%3 != 0 {
			return ReasonBadAIValue, fmt.Sprintf("%s must be a list of 3-digit country codes", v)
		}
	}
	return "", ""
}

// mod10 returns the GS1 check digit for the digits d (the key without its
// check digit): weights 3,1,3,… from the right, check = (10 − sum mod 10) mod 10.
func mod10(d string) byte {
	sum := 0
	for i := len(d) - 1; i >= 0; i -= 2 {
		sum += 3 * int(d[i]-'0')
	}
	for i := len(d) - 2; i >= 0; i -= 2 {
		sum += int(d[i] - '0')
	}
	return byte('0' + (10-sum%10)%10)
}

// fullYear maps YY to a year with a fixed window: 00–50 → 2000–2050,
// 51–99 → 1951–1999. GS1's own rule slides with the current date; a fixed
// window keeps Parse free of the clock and is right for drug expiry and
// production dates for decades.
func fullYear(yy int) int {
	if yy <= 50 {
		return 2000 + yy
	}
	return 1900 + yy
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// dateProblem checks a YYMMDD value; day00 allows DD = 00.
func dateProblem(v string, day00 bool) (Reason, string) {
	y, m, d := fullYear(atoi2(v[:2])), atoi2(v[2:4]), atoi2(v[4:6])
	if m < 1 || m > 12 {
		return ReasonBadDate, fmt.Sprintf("date %s (YYMMDD) has month %02d, which does not exist; the code was misread, scan it again", v, m)
	}
	if d == 0 && day00 {
		return "", ""
	}
	if d < 1 || d > daysIn(y, m) {
		return ReasonBadDate, fmt.Sprintf("date %s (YYMMDD) has day %02d, which does not exist in %04d-%02d; the code was misread, scan it again", v, d, y, m)
	}
	return "", ""
}

func timeProblem(v string) (Reason, string) {
	if h, m := atoi2(v[:2]), atoi2(v[2:4]); h > 23 || m > 59 {
		return ReasonBadDate, fmt.Sprintf("time %s (HHMM) does not exist", v)
	}
	return "", ""
}

// isoDate formats a valid YYMMDD value as YYYY-MM-DD; day 00 becomes the
// last day of the month (GS1: "day not specified", read as end of month so
// an expiry is never taken as earlier than printed).
func isoDate(v string) string {
	if len(v) != 6 {
		return ""
	}
	y, m, d := fullYear(atoi2(v[:2])), atoi2(v[2:4]), atoi2(v[4:6])
	if d == 0 {
		d = daysIn(y, m)
	}
	return strconv.Itoa(y) + "-" + v[2:4] + "-" + strconv.Itoa(d/10) + strconv.Itoa(d%10)
}

// atoi2 converts two ASCII digits.
func atoi2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
