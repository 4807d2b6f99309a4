package nhsa

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// purchaseItems: A/L1 ×3, B/L2, A/L3, A/L1 again → rows A/L1 (4), B/L2, A/L3.
func purchaseItems() []queue.Item {
	return []queue.Item{
		item(1, code(prodA, 1), prodA, "L1", 0), item(2, code(prodA, 2), prodA, "L1", 0), item(3, code(prodA, 3), prodA, "L1", 0),
		item(4, code(prodB, 1), prodB, "L2", 0), item(5, code(prodA, 4), prodA, "L3", 0), item(6, code(prodA, 5), prodA, "L1", 0),
	}
}

func codesOf(ti []fsi.TracInfo) []string {
	var out []string
	for _, x := range ti {
		out = append(out, x.DrugTracCodg)
	}
	return out
}

func TestRows3503(t *testing.T) {
	for _, withCodes := range []bool{false, true} {
		g := newGW(t, AuthNone, EnvelopePlain)
		cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
		cfg.PurchaseTraceCodes = withCodes
		c := mustNew(t, cfg)
		b := bill("PDA1-260127-00001", billtype.Purchase, map[string]string{"nhsa.dynt_no": "SH-778", "nhsa.finl_trns_pric." + prodB: "3.2"})
		out := deliver(t, c, b, purchaseItems())
		if out.Class != upload.Done || out.Ref != "370200202601271015301234567890" {
			t.Fatalf("outcome %v %q: %s", out.Class, out.Ref, out.Message)
		}
		reqs := g.requests()
		if len(reqs) != 1 || reqs[0].FSI.Infno != fsi.InfPurchase {
			t.Fatalf("requests: %+v", reqs)
		}
		rows := sentPurchases(t, reqs[0])
		if len(rows) != 3 {
			t.Fatalf("%d rows, want 3", len(rows))
		}
		want := []struct {
			bchno, product, lot string
			cnt                 float64
		}{{"PDA12601270000101", "H-0001", "L1", 4}, {"PDA12601270000102", "H-0002", "L2", 1}, {"PDA12601270000103", "H-0001", "L3", 1}}
		for i, w := range want {
			r := rows[i]
			if r.FixmedinsBchno != w.bchno || r.FixmedinsHilistID != w.product || r.ManuLotnum != w.lot || r.PurcRetnCnt != w.cnt {
				t.Errorf("row %d: %+v", i+1, r)
			}
			if r.SplerName != "华东医药供应链有限公司" || r.SplerPmtno != "浙AA5710001" || r.PurcRetnStoinTime != "2026-01-27 10:15:30" ||
				r.PurcRetnOpterName != "张三" || r.ProdGeayFlag != "0" || r.ManuDate != "2025-07-01" || r.ExpyEnd != "2027-06-30" ||
				r.DyntNo != "SH-778" || r.MedinsProdPurcNo != "" {
				t.Errorf("row %d: %+v", i+1, r)
			}
			if withCodes != (r.DrugTracInfo != nil) {
				t.Errorf("row %d: drugtracinfo %v with PurchaseTraceCodes=%v", i+1, r.DrugTracInfo, withCodes)
			}
		}
		if r := rows[0]; r.MedListCodg != "XJ01CAA040A001010101445" || r.FixmedinsHilistName != "阿莫西林胶囊" || r.RxFlag != "1" ||
			r.Aprvno != "国药准字H20003263" || r.ProdentpName != "某某制药有限公司" || r.FinlTrnsPric != nil {
			t.Errorf("row 1 product data: %+v", r)
		}
		if p := rows[1].FinlTrnsPric; p == nil || *p != 3.2 {
			t.Errorf("row 2 price %v", p)
		}
		if withCodes {
			if got := codesOf(rows[0].DrugTracInfo); !reflect.DeepEqual(got, []string{code(prodA, 1), code(prodA, 2), code(prodA, 3), code(prodA, 5)}) {
				t.Errorf("row 1 codes %v", got)
			}
		}
	}
}

// saleItems: A/L1 whole ×2, A/L1 split 6+4 units, B/L2 whole.
func saleItems() []queue.Item {
	return []queue.Item{
		item(1, code(prodA, 11), prodA, "L1", 0), item(2, code(prodA, 12), prodA, "L1", 6),
		item(3, code(prodA, 13), prodA, "L1", 0), item(4, code(prodB, 11), prodB, "L2", 0),
		item(5, code(prodA, 14), prodA, "L1", 4),
	}
}

func TestRows3505Split(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	out := deliver(t, c, bill("PDA1-260127-00002", billtype.RetailSale, saleAttrs()), saleItems())
	if out.Class != upload.Done {
		t.Fatalf("outcome %v: %s", out.Class, out.Message)
	}
	r0 := g.requests()[0]
	if r0.FSI.Infno != fsi.InfSale || r0.FSI.InsuplcAdmdvs != "370100" {
		t.Fatalf("infno %s insuplc %s", r0.FSI.Infno, r0.FSI.InsuplcAdmdvs)
	}
	rows := sentSales(t, r0)
	if len(rows) != 3 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	want := []struct {
		bchno, trdn, lot string
		cnt              float64
		codes            []string
	}{
		{"PDA12601270000201", "0", "L1", 2, []string{code(prodA, 11), code(prodA, 13)}},
		{"PDA12601270000202", "1", "L1", 10, []string{code(prodA, 12), code(prodA, 14)}},
		{"PDA12601270000203", "0", "L2", 1, []string{code(prodB, 11)}},
	}
	for i, w := range want {
		r := rows[i]
		if r.FixmedinsBchno != w.bchno || r.MedinsProdSelNo != w.bchno || r.TrdnFlag != w.trdn || r.ManuLotnum != w.lot || r.SelRetnCnt != w.cnt ||
			!reflect.DeepEqual(codesOf(r.DrugTracInfo), w.codes) {
			t.Errorf("row %d: %+v", i+1, r)
		}
		if r.SetlID != "SETL20260127000001" || r.MdtrtSn != "MDTRT20260127000001" || r.PsnNo != "37000019800101123" ||
			r.PsnCertType != "02" || r.Certno != "370203198001011234" || r.PsnName != "王五" || r.HiFeesetlType != "1" ||
			r.MdtrtSetlType != "1" || r.PrscDrName != "赵医生" || r.Rxno != "RX0001" || r.RxCircFlag != "0" ||
			r.PharName != "李药师" || r.PharPracCertNo != "ZY2019370200123" || r.PharCertType != "01" ||
			r.SelRetnTime != "2026-01-27 10:15:30" || r.SelRetnOpterName != "张三" || r.StooutNo != "PDA1-260127-00002" ||
			r.RtalDocno != "PDA1-260127-00002" {
			t.Errorf("row %d person/settlement data: %+v", i+1, r)
		}
	}
	// The POS's receipt number wins over the bill code.
	attrs := saleAttrs()
	attrs["nhsa.rtal_docno"] = "POS-R-000917"
	if out := deliver(t, c, bill("PDA1-260127-00003", billtype.RetailSale, attrs), saleItems()); out.Class != upload.Done {
		t.Fatalf("with rtal_docno: %v %s", out.Class, out.Message)
	}
	if r := sentSales(t, g.requests()[1]); r[0].RtalDocno != "POS-R-000917" || r[2].RtalDocno != "POS-R-000917" {
		t.Errorf("rtal_docno %q", r[0].RtalDocno)
	}
	if p := rows[0].FinlTrnsPric; p == nil || *p != 12.5 {
		t.Errorf("price %v", p)
	}
	if rows[2].FinlTrnsPric != nil || rows[2].DrugProdBarc != "" || rows[0].DrugProdBarc != "6901234567892" {
		t.Errorf("product data: %+v / %+v", rows[0], rows[2])
	}
}

// A split item never shares a row with whole packs, even alone.
func TestGroupItemsSplitApart(t *testing.T) {
	items := []queue.Item{item(1, "a", prodA, "L", 3), item(2, "b", prodA, "L", 0), item(3, "c", prodA, "M", 0), item(4, "a2", prodA, "L", 2)}
	gs := groupItems(items, nil)
	if len(gs) != 3 || !gs[0].split || gs[0].count() != 5 || gs[1].split || gs[1].count() != 1 || gs[2].lot != "M" {
		t.Fatalf("groups %+v", gs)
	}
	// Duplicate scans of one pack count once.
	dup := []queue.Item{item(1, "a", prodA, "L", 0), item(2, "a", prodA, "L", 0)}
	if g := groupItems(dup, nil)[0]; g.count() != 1 || len(g.tracInfo()) != 1 {
		t.Fatalf("duplicate pack counted twice: %+v", g)
	}
}

func TestRowBchno(t *testing.T) {
	for n, want := range map[int]string{1: "S01", 9: "S09", 10: "S10", 99: "S99", 100: "S100", 123: "S123"} {
		if got := rowBchno("S", n); got != want {
			t.Errorf("row %d: %q, want %q", n, got, want)
		}
	}
	// Codes of device ids of A-Z and 0-9 keep the first release's form;
	// ids differing only by '-', '_' or case never share a stem, even
	// compared without case.
	for code, want := range map[string]string{
		"PDA1-260127-00001":  "PDA126012700001",
		"PDA-1-260127-00001": "PDA-01-26012700001",
		"pda1-260127-00001":  "-P-D-A1-26012700001",
		"PDA_1-260127-00001": "PDA-11-26012700001",
		"POS-RECEIPT-778":    "POS-0RECEIPT-0778-",
		"PDA126012700001":    "PDA126012700001-",
		"T01-260127-1234567": "T012601271234567",
		"店1-260127-00001":    "-X005E971-",
	} {
		if got := bchnoPrefix(code); !strings.HasPrefix(got, want) && got != want {
			t.Errorf("bchnoPrefix(%q) = %q, want %q", code, got, want)
		}
	}
	codes := []string{"PDA1-260127-00001", "PDA-1-260127-00001", "pda1-260127-00001", "Pda1-260127-00001", "PDA_1-260127-00001",
		"P-DA1-260127-00001", "PDA1-260127-00002", "PDA126012700001", "pda126012700001", "PDA1-2601-2700001", "A-B-260127-00001", "A-b-260127-00001"}
	seen := map[string]string{}
	for _, code := range codes {
		for _, row := range []int{1, 10, 100} {
			k := strings.ToUpper(rowBchno(bchnoPrefix(code), row))
			if other, dup := seen[k]; dup {
				t.Errorf("%s row %d and %s share fixmedins_bchno %s", code, row, other, k)
			}
			seen[k] = code
		}
	}
}

// The original sale "PDA1-260120-00007" had rows 01 B/L2, 02 A/L1 whole,
// 03 A/L1 split; "PDA1-251201-00003" is pruned.
func originalSale() []queue.Item {
	return []queue.Item{
		item(1, code(prodB, 21), prodB, "L2", 0), item(2, code(prodA, 21), prodA, "L1", 0),
		item(3, code(prodA, 22), prodA, "L1", 0), item(4, code(prodA, 23), prodA, "L1", 5),
	}
}

func TestRows3506References(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	f := &fixture{originals: map[string][]queue.Item{"PDA1-260120-00007": originalSale()}}
	c := mustNew(t, baseConfig(f, g.srv.URL, testCatalogue(t)))
	ret := func(seq int, c, p, lot string, units int, ref string) queue.Item {
		it := item(seq, c, p, lot, units)
		it.Ref = ref
		return it
	}
	items := []queue.Item{
		ret(1, code(prodA, 22), prodA, "L1", 0, "PDA1-260120-00007"), // original row 02
		ret(2, code(prodA, 23), prodA, "L1", 2, "PDA1-260120-00007"), // split: row 03
		ret(3, code(prodB, 31), prodB, "L2", 0, "PDA1-251201-00003"), // pruned: first row + memo
		ret(4, code(prodB, 21), prodB, "L2", 0, "PDA1-260120-00007"), // row 01
		ret(5, code(prodB, 99), prodB, "L2", 0, "PDA1-260120-00007"), // not on the original: first row + memo
	}
	attrs := map[string]string{"nhsa.mdtrt_sn": "MDTRT20260127000009", "nhsa.setl_id": "SETL9", "nhsa.psn_no": "P9"}
	out := deliver(t, c, bill("PDA1-260127-00003", billtype.CustomerReturn, attrs), items)
	if out.Class != upload.Done {
		t.Fatalf("outcome %v: %s", out.Class, out.Message)
	}
	if !strings.Contains(out.Message, "PDA1-251201-00003 is no longer available") || !strings.Contains(out.Message, "is not on the original sale bill") {
		t.Errorf("message does not tell about the fallbacks: %s", out.Message)
	}
	r0 := g.requests()[0]
	if r0.FSI.Infno != fsi.InfSaleReturn {
		t.Fatal(r0.FSI.Infno)
	}
	rows := sentSales(t, r0)
	want := []struct {
		bchno, ref, trdn string
		cnt              float64
		memo             string
	}{
		{"PDA12601270000301", "PDA12601200000702", "0", 1, ""},
		{"PDA12601270000302", "PDA12601200000703", "1", 2, ""},
		{"PDA12601270000303", "PDA12512010000301", "0", 1, "原销售单PDA1-251201-00003明细已不可查"},
		{"PDA12601270000304", "PDA12601200000701", "0", 2, "原销售单PDA1-260120-00007中未找到追溯码" + code(prodB, 99)},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.FixmedinsBchno != w.bchno || r.MedinsProdSelNo != w.ref || r.TrdnFlag != w.trdn || r.SelRetnCnt != w.cnt ||
			(w.memo == "") != (r.Memo == "") || !strings.Contains(r.Memo, w.memo) {
			t.Errorf("row %d: %+v", i+1, r)
		}
		if r.MdtrtSn != "MDTRT20260127000009" || r.PharName != "" || r.HiFeesetlType != "" || r.SelRetnTime != "2026-01-27 10:15:30" {
			t.Errorf("row %d: 3506 fields %+v", i+1, r)
		}
	}
	// Reconciliation rebuilds the same keys and codes from the items.
	rebuilt, err := c.SentRows(context.Background(), bill("PDA1-260127-00003", billtype.CustomerReturn, nil), items, false)
	if err != nil || len(rebuilt) != len(rows) {
		t.Fatalf("rebuilt %+v %v", rebuilt, err)
	}
	for i, r := range rebuilt {
		if r.Bchno != rows[i].FixmedinsBchno || !reflect.DeepEqual(r.Codes, codesOf(rows[i].DrugTracInfo)) {
			t.Errorf("rebuilt row %d: %+v, sent %s %v", i+1, r, rows[i].FixmedinsBchno, codesOf(rows[i].DrugTracInfo))
		}
	}
}

func TestRows3504References(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	f := &fixture{originals: map[string][]queue.Item{"PDA1-260110-00002": purchaseItems()}}
	c := mustNew(t, baseConfig(f, g.srv.URL, testCatalogue(t)))
	back := item(1, code(prodA, 4), prodA, "L3", 0) // the purchase's row 03
	back.Ref = "PDA1-260110-00002"
	noRef := item(2, code(prodB, 50), prodB, "L2", 0) // ledger knows no purchase: attr fallback
	// Without the supplier's invoice number (purc_invo_no, required in
	// 3504's tables) the bill is held with the reason, nothing sent.
	held := deliver(t, c, bill("PDA1-260127-00004", billtype.SupplierReturn, map[string]string{"nhsa.medins_prod_purc_no": "ERP-PO-77"}),
		[]queue.Item{back, noRef})
	if held.Class != upload.Retry || !strings.Contains(held.Message, "held back") || !strings.Contains(held.Message, "purc_invo_no: bill attr nhsa.purc_invo_no is empty") || len(g.requests()) != 0 {
		t.Fatalf("3504 without purc_invo_no: %v %s", held.Class, held.Message)
	}
	out := deliver(t, c, bill("PDA1-260127-00004", billtype.SupplierReturn, map[string]string{"nhsa.medins_prod_purc_no": "ERP-PO-77", "nhsa.purc_invo_no": "INV-0091"}),
		[]queue.Item{back, noRef})
	if out.Class != upload.Done {
		t.Fatalf("outcome %v: %s", out.Class, out.Message)
	}
	r0 := g.requests()[0]
	rows := sentPurchases(t, r0)
	if r0.FSI.Infno != fsi.InfPurchaseReturn || len(rows) != 2 || rows[0].MedinsProdPurcNo != "PDA12601100000203" ||
		rows[1].MedinsProdPurcNo != "ERP-PO-77" || rows[0].SplerName != "华东医药供应链有限公司" || rows[0].PurcRetnCnt != 1 || rows[1].PurcInvoNo != "INV-0091" {
		t.Fatalf("3504 rows: %+v", rows)
	}
}

func TestNotAnNHSABillType(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	for _, typ := range []int{201, 204, 322, 999} { // 104 调拨入库 is a 3502 stock change now
		out := deliver(t, c, bill("PDA1-260127-00005", typ, nil), purchaseItems())
		if out.Class != upload.Permanent || !strings.Contains(out.Message, "not a 医保 进销存 bill type") {
			t.Errorf("type %d: %v %s", typ, out.Class, out.Message)
		}
	}
	if n := len(g.requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestRefusedBills(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	c := mustNew(t, baseConfig(&fixture{}, g.srv.URL, testCatalogue(t)))
	long := item(1, strings.Repeat("9", 101), prodA, "L1", 0)
	cases := []struct {
		name  string
		bill  queue.Bill
		items []queue.Item
		want  string
	}{
		// 16-character prefix, 7-digit day number: 16+6+7+2 = 31.
		{"bchno too long", bill("ABCDEFGHIJKLMNOP-260127-1234567", billtype.Purchase, nil), purchaseItems(), "fixmedins_bchno ABCDEFGHIJKLMNOP260127123456703 (the bill code's stem + row number) is 31 characters"},
		{"code too long", bill("PDA1-260127-00006", billtype.Purchase, nil), []queue.Item{long}, "drug_trac_codg allows 100"},
		{"no items", bill("PDA1-260127-00007", billtype.Purchase, nil), nil, "no items"},
	}
	for _, tc := range cases {
		out := deliver(t, c, tc.bill, tc.items)
		if out.Class != upload.Permanent || !strings.Contains(out.Message, tc.want) {
			t.Errorf("%s: %v %s", tc.name, out.Class, out.Message)
		}
	}
	// 30 characters exactly is fine.
	out := deliver(t, c, bill("ABCDEFGHIJKLMNOP-260127-123456", billtype.Purchase, nil), purchaseItems())
	if out.Class != upload.Done {
		t.Errorf("30-character bchno: %v %s", out.Class, out.Message)
	}
	if n := len(g.requests()); n != 1 {
		t.Fatalf("%d requests sent, want 1", n)
	}
}

func TestItemsLookupFailureIsRetry(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	cfg := baseConfig(&fixture{}, g.srv.URL, testCatalogue(t))
	cfg.Items = func(context.Context, string) ([]queue.Item, bool, error) { return nil, false, context.DeadlineExceeded }
	c := mustNew(t, cfg)
	it := item(1, code(prodA, 1), prodA, "L1", 0)
	it.Ref = "PDA1-260120-00007"
	out := deliver(t, c, bill("PDA1-260127-00008", billtype.CustomerReturn, saleAttrs()), []queue.Item{it})
	if out.Class != upload.Retry || !strings.Contains(out.Message, "not sent") || len(g.requests()) != 0 {
		t.Fatalf("%v %s", out.Class, out.Message)
	}
}

// TestRows3506LegacyStem: a device whose id has a '-' changed stems with
// the injective encoding; a return of a sale that an older agent sent
// refers to the rows under the first release's stem, one of a sale sent
// by this version under the new stem.
func TestRows3506LegacyStem(t *testing.T) {
	g := newGW(t, AuthNone, EnvelopePlain)
	const oldSale, newSale = "PDA-1-260120-00007", "PDA-1-260121-00001"
	f := &fixture{originals: map[string][]queue.Item{oldSale: originalSale(), newSale: originalSale()}}
	cfg := baseConfig(f, g.srv.URL, testCatalogue(t))
	cfg.LegacyStem = func(_ context.Context, billCode string) (bool, error) { return billCode == oldSale, nil }
	c := mustNew(t, cfg)
	ret := func(seq int, ref string) queue.Item {
		it := item(seq, code(prodA, 22), prodA, "L1", 0)
		it.Ref = ref
		return it
	}
	attrs := map[string]string{"nhsa.mdtrt_sn": "MDTRT20260127000009", "nhsa.setl_id": "SETL9", "nhsa.psn_no": "P9"}
	for i, c2 := range []struct{ ref, want string }{
		{oldSale, "PDA12601200000702"},
		{newSale, bchnoPrefix(newSale) + "02"},
	} {
		out := deliver(t, c, bill(fmt.Sprintf("PDA-1-260127-0000%d", i+1), billtype.CustomerReturn, attrs), []queue.Item{ret(1, c2.ref)})
		if out.Class != upload.Done {
			t.Fatalf("%s: outcome %v: %s", c2.ref, out.Class, out.Message)
		}
		rows := sentSales(t, g.requests()[i])
		if len(rows) != 1 || rows[0].MedinsProdSelNo != c2.want {
			t.Errorf("return of %s refers to %+v, want %s", c2.ref, rows, c2.want)
		}
	}
	if bchnoPrefix(newSale) == legacyBchnoPrefix(newSale) {
		t.Fatal("the test needs an id whose stem changed")
	}
	for _, c3 := range []struct {
		progress string
		legacy   bool
	}{{"", true}, {`{"v":1,"state":"answered"}`, true}, {`{"v":2,"state":"answered"}`, false}, {"garbage", false}} {
		if got := LegacyProgress(c3.progress); got != c3.legacy {
			t.Errorf("LegacyProgress(%q) = %v", c3.progress, got)
		}
	}
}
