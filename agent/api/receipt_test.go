package api

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/receipt"
	"golang.org/x/text/encoding/simplifiedchinese"
)

const receiptProducts = `key,name,med_list_codg,hilist_id,hilist_name,rx_flag,aprvno,maker,spec,units,key_variety
8101235,阿莫西林胶囊 0.25g*24粒,XJ01CAA040A001010100395,A0001,阿莫西林胶囊,1,国药准字H13023964,沙箱药业,0.25g*24粒,24,否
`

// codeRows are the rows of a text block that start a code (two spaces,
// then an ASCII character): every code here fits on one row.
func codeRows(text string) []string {
	var out []string
	for _, row := range strings.Split(text, "\n") {
		if body, ok := strings.CutPrefix(row, "  "); ok && body != "" && body[0] != ' ' && body[0] < 0x80 {
			out = append(out, body)
		}
	}
	return out
}

func TestReceipt(t *testing.T) {
	products := filepath.Join(t.TempDir(), "products.csv")
	if err := os.WriteFile(products, []byte(receiptProducts), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, envOpts{env: []string{"PDA_CATALOGUE_PRODUCTS=" + products}})
	var opened struct {
		Bill struct {
			Code string `json:"bill_code"`
		} `json:"bill"`
	}
	e.ok("POST", "/v1/sessions", map[string]any{"session": "till", "kind": "sale"}, &opened)
	bill := opened.Bill.Code
	path := "/v1/bills/" + bill + "/receipt"

	e.scan("till", codeA, "accepted")
	// An open bill has no receipt yet.
	e.fails("GET", path, nil, 409, "not_finished")
	e.scan("till", codeB, "accepted")
	e.scan("till", codeC, "accepted")
	e.ok("POST", "/v1/sessions/till/finish", nil, nil)
	// Grouped by product in the order of first scan: both amoxicillin
	// boxes on line 1, named from the catalogue; ibuprofen by its key.
	wantCodes := []string{codeA, codeC, codeB}

	status, text := e.call("GET", path, nil)
	if status != 200 || !slices.Equal(codeRows(string(text)), wantCodes) || !strings.Contains(string(text), "1.阿莫西林胶囊 0.25g*24粒 x2") ||
		!strings.Contains(string(text), "2.8393331 x1") || !strings.Contains(string(text), bill) {
		t.Fatalf("text: %d\n%s", status, text)
	}
	for _, row := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		if receipt.Columns(row) > receipt.Width58 {
			t.Fatalf("row %q over 32 columns", row)
		}
	}
	status, wide := e.call("GET", path+"?format=text&width=48", nil)
	if status != 200 || !strings.HasPrefix(string(wide), strings.Repeat("=", 48)+"\n") || !slices.Equal(codeRows(string(wide)), wantCodes) {
		t.Fatalf("width 48: %d\n%s", status, wide)
	}

	var rc receipt.Receipt
	e.ok("GET", path+"?format=json", nil, &rc)
	var got []string
	for _, l := range rc.Lines {
		for _, c := range l.Codes {
			got = append(got, c.Print)
		}
	}
	if rc.Bill != bill || rc.Codes != 3 || !slices.Equal(got, wantCodes) || rc.Lines[0].Name != "阿莫西林胶囊 0.25g*24粒" {
		t.Fatalf("json %+v", rc)
	}

	status, esc := e.call("GET", path+"?format=escpos&width=48&cut=true", nil)
	if status != 200 || !bytes.HasPrefix(esc, []byte{0x1B, '@', 0x1C, '&'}) || !bytes.HasSuffix(esc, []byte{0x1D, 'V', 66, 0}) {
		t.Fatalf("escpos: %d % X", status, esc[:min(len(esc), 16)])
	}
	body := bytes.TrimSuffix(bytes.TrimPrefix(esc, []byte{0x1B, '@', 0x1C, '&'}), []byte{0x1B, 'd', 3, 0x1D, 'V', 66, 0})
	utf, err := simplifiedchinese.GB18030.NewDecoder().Bytes(body)
	if err != nil || string(utf) != string(wide) {
		t.Fatalf("escpos text (%v) differs from the 48-column text:\n%s", err, utf)
	}

	for _, q := range []string{"?format=pdf", "?width=8", "?width=abc", "?width=200", "?cut=maybe"} {
		e.fails("GET", path+q, nil, 400, "bad_request")
	}
	e.fails("GET", "/v1/bills/NOPE-1/receipt", nil, 404, "not_found")
	e.fails("GET", path, nil, 401, "unauthorized", request{token: ptr("")})
}
