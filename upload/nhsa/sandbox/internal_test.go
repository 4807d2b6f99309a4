package sandbox

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale int
		want  int64
		ok    bool
	}{
		{"1", 4, 10000, true},
		{"1.5", 4, 15000, true},
		{"0.0001", 4, 1, true},
		{"12.5000", 4, 125000, true},
		{"-2", 4, -20000, true},
		{"0", 4, 0, true},
		{"1.00001", 4, 0, false},
		{"1e2", 4, 0, false},
		{"01", 4, 0, false},
		{".5", 4, 0, false},
		{"1.", 4, 0, false},
		{"", 4, 0, false},
		{"-", 4, 0, false},
		{"1234567890123", 4, 0, false},
		{"123456789012.1234", 4, 1234567890121234, true},
		{"1.123456", 6, 1123456, true},
	} {
		got, ok := parseDecimal(tc.in, tc.scale)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseDecimal(%q, %d) = %d, %v; want %d, %v", tc.in, tc.scale, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBadCode(t *testing.T) {
	for code, bad := range map[string]bool{
		"81234567890123456789":      false,
		"0106912345678901\x1d21ABC": false,
		"":                          true,
		strings.Repeat("1", 100):    false,
		strings.Repeat("1", 101):    true,
		strings.Repeat("码", 100):    false,
		" 8123":                     true,
		"8123\t":                    true,
		"81\x0023":                  true,
		"81\u008523":                true,
		"AB-12/34":                  false,
	} {
		if got := badCode(code) != ""; got != bad {
			t.Errorf("badCode(%q) = %q", code, badCode(code))
		}
	}
}

// TestTables: every field of a table has a JSON type, every string
// field a length unless its format fixes it, names are unique, and every
// required field is a field, so that an edit cannot silently loosen the
// checks.
func TestTables(t *testing.T) {
	fixed := map[string]bool{"inf_time": true, "manu_date": true, "expy_end": true, "sel_retn_time": true,
		"purc_retn_stoin_time": true}
	for name, table := range map[string][]field{"request": requestFields(), "purcinfo": purchaseFields(),
		"selinfo": saleFields(), "data": deleteFields()} {
		seen := map[string]bool{}
		for _, f := range table {
			if f.kind == kindNone || seen[f.name] {
				t.Errorf("%s.%s: kind %d, listed before %v", name, f.name, f.kind, seen[f.name])
			}
			seen[f.name] = true
			if f.kind == kindString && f.max == 0 && !fixed[f.name] {
				t.Errorf("%s.%s has no length limit", name, f.name)
			}
		}
	}
	schemas, err := buildSchemas(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for infno, sc := range schemas {
		for _, f := range sc.required {
			if sc.fields[f] == kindNone {
				t.Errorf("%s: required %s is not a field", infno, f)
			}
		}
	}
	if !slices.Contains(schemas[infSale].required, "rtal_docno") ||
		!slices.Contains(schemas[infPurchaseReturn].required, "purc_invo_no") ||
		slices.Contains(schemas[infSaleReturn].required, "psn_cert_type") {
		t.Error("the published tables' required fields are not the defaults")
	}
	h, lens, req, err := buildHeader(nil, nil, false)
	if err != nil || h["input"] != kindRaw || h["msgid"] != kindString || lens["msgid"] != 30 ||
		slices.Contains(req, "signtype") || slices.Contains(req, "recer_sys_code") || slices.Contains(req, "input") {
		t.Errorf("request table: %v %v %v %v", h, lens, req, err)
	}
}

func TestRequireRelax(t *testing.T) {
	schemas, err := buildSchemas([]string{"3506.psn_cert_type", "request.signtype"}, []string{"3505.rtal_docno"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(schemas[infSaleReturn].required, "psn_cert_type") ||
		slices.Contains(schemas[infSale].required, "rtal_docno") {
		t.Errorf("3505 %v / 3506 %v", schemas[infSale].required, schemas[infSaleReturn].required)
	}
	// The defaults are not changed by an earlier profile.
	if d, _ := buildSchemas(nil, nil); !slices.Contains(d[infSale].required, "rtal_docno") {
		t.Error("Relax leaked into the defaults")
	}
	_, _, req, err := buildHeader([]string{"request.signtype"}, []string{"request.opter_name"}, true)
	if err != nil || !slices.Contains(req, "signtype") || !slices.Contains(req, "recer_sys_code") ||
		slices.Contains(req, "opter_name") {
		t.Errorf("header required %v, %v", req, err)
	}
	for _, bad := range [][2][]string{
		{{"3505.no_such_field"}, nil},
		{{"3599.rtal_docno"}, nil},
		{nil, {"3505.fixmedins_bchno"}},
		{nil, {"3507.inv_data_type"}},
		{{"request.no_such"}, nil},
		{nil, {"request.msgid"}},
	} {
		_, err1 := buildSchemas(bad[0], bad[1])
		_, _, _, err2 := buildHeader(bad[0], bad[1], false)
		if err1 == nil && err2 == nil {
			t.Errorf("Require %v Relax %v accepted", bad[0], bad[1])
		}
	}
}

func TestNonceStorePrunes(t *testing.T) {
	n := nonceStore{seen: make(map[string]time.Time)}
	t0 := time.Unix(1_800_000_000, 0)
	w := time.Minute
	for i := range 1500 {
		if !n.add(strings.Repeat("n", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), t0, w) {
			t.Fatalf("nonce %d not fresh", i)
		}
	}
	if n.add(strings.Repeat("n", 0)+"a"+time.Duration(0).String(), t0.Add(w), w) {
		t.Error("replay inside two windows accepted")
	}
	// Much later, old entries go when the map grows.
	later := t0.Add(3 * w)
	for i := range 3000 {
		n.add("late"+time.Duration(i).String(), later, w)
	}
	if len(n.seen) > 3100 {
		t.Errorf("store holds %d nonces", len(n.seen))
	}
	if !n.add("a0s", later, w) {
		t.Error("a nonce older than two windows stayed refused")
	}
}

func TestCanonical(t *testing.T) {
	a := canonical([]byte(`{"b":1.50,"a":{"y":null,"x":[{"k":null,"j":"v"}]},"c":null}`))
	b := canonical([]byte(` { "a" : { "x" : [ { "j" : "v" } ] } , "b" : 1.50 } `))
	if a != b || a != `{"a":{"x":[{"j":"v"}]},"b":1.50}` {
		t.Errorf("canonical: %s vs %s", a, b)
	}
}

func TestMsgidStorePrunes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	o := TestOptions(SchemeNone, EnvelopePlain)
	o.Now = func() time.Time { return now }
	s := New(o)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range 1000 {
		s.storeLocked(&fsiReq{msgid: "old" + time.Duration(i).String(), at: now}, []byte("{}"), now)
	}
	later := now.Add(2*DefaultWindow + time.Second)
	for i := range 100 {
		s.storeLocked(&fsiReq{msgid: "new" + time.Duration(i).String(), at: later}, []byte("{}"), later)
	}
	if len(s.msgids) != 100 {
		t.Errorf("%d msgids kept, want the 100 recent ones", len(s.msgids))
	}
}
