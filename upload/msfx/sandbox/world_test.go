package sandbox_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

func TestDefaultConstants(t *testing.T) {
	w := sandbox.DefaultWorld()
	if c := sandbox.MakeCode(sandbox.ProductAmoxicillin, 1001); c != sandbox.DefaultBoxCode {
		t.Errorf("DefaultBoxCode = %s, MakeCode gives %s", sandbox.DefaultBoxCode, c)
	}
	if c := sandbox.MakeCode(sandbox.CaseAmoxicillin, 1); c != sandbox.DefaultCaseCode {
		t.Errorf("DefaultCaseCode = %s, MakeCode gives %s", sandbox.DefaultCaseCode, c)
	}
	if c := sandbox.MakeCode(sandbox.ProductAmoxicillin, 9999); c != sandbox.DefaultCancelledCode {
		t.Errorf("DefaultCancelledCode = %s, MakeCode gives %s", sandbox.DefaultCancelledCode, c)
	}
	kids := w.CaseChildren(sandbox.DefaultCaseCode)
	if len(kids) != 10 || kids[0] != sandbox.DefaultCaseChild || !strings.HasPrefix(kids[9], sandbox.ProductAmoxicillin+"900000019") {
		t.Errorf("children = %v", kids)
	}
	for _, k := range kids {
		if p := w.Parent(k); p != sandbox.DefaultCaseCode {
			t.Errorf("Parent(%s) = %q", k, p)
		}
	}
	ents := w.Enterprises()
	if len(ents) != 3 {
		t.Fatalf("enterprises = %+v", ents)
	}
	for _, e := range ents {
		if len(e.EntID) != 32 || e.EntID == e.RefEntID {
			t.Errorf("enterprise %+v", e)
		}
	}
	if e, ok := w.Enterprise(sandbox.DefaultStoreRefEntID); !ok || e.AppKey != sandbox.DefaultStoreAppKey || e.EntID != sandbox.DefaultStoreEntID {
		t.Errorf("store = %+v", e)
	}
	for app := range sandbox.DefaultApps() {
		found := false
		for _, e := range ents {
			found = found || e.AppKey == app
		}
		if !found {
			t.Errorf("default app %s has no enterprise", app)
		}
	}
	ps := w.Products()
	if len(ps) != 5 || !ps[3].Special || ps[0].Special || ps[4].GTIN != sandbox.GTINAtorvastatin {
		t.Errorf("products = %+v", ps)
	}
	ups := w.UpstreamBills()
	want := []string{sandbox.DefaultUpBill1, sandbox.DefaultUpBill2, sandbox.DefaultUpBill3, sandbox.DefaultUpBill4}
	for i, u := range ups {
		if u.BillCode != want[i] || u.BillOutID == 0 {
			t.Errorf("upstream %d = %+v", i, u)
		}
	}
	// Copies: changing them does not change the world.
	ups[0].Codes[0] = "x"
	if w.UpstreamBills()[0].Codes[0] != sandbox.DefaultBoxCode {
		t.Error("UpstreamBills shares memory")
	}
}

func TestDefaultWorldAt(t *testing.T) {
	day := time.Date(2027, 3, 2, 23, 30, 0, 0, time.UTC) // 2027-03-03 07:30 in China
	ups := sandbox.DefaultWorldAt(day).UpstreamBills()
	if got := ups[0].BillTime.Format("2006-01-02 15:04 -0700"); got != "2027-02-24 09:30 +0800" {
		t.Errorf("bill 1 dated %s", got)
	}
	if got := ups[2].BillTime.Format("2006-01-02 15:04"); got != "2027-03-02 16:00" {
		t.Errorf("bill 3 dated %s", got)
	}
	// A nil World is the default world dated from Now.
	s := sandbox.New(sandbox.Options{Now: func() time.Time { return day }})
	var rows []tUpstreamBill
	a := query(mUpBillCode, map[string]string{"code": sandbox.DefaultBoxCode})
	a.p["timestamp"] = day.In(cst).Format(tsLayout)
	okModel(t, a.serve(t, s), &rows)
	if len(rows) != 1 || rows[0].BillTime != "2027-02-24 09:30:00" {
		t.Errorf("rows = %+v", rows)
	}
}

func TestWorldValidation(t *testing.T) {
	w := sandbox.DefaultWorld()
	okEnt := sandbox.Enterprise{RefEntID: "330000000000000001", EntID: "0123456789abcdef0123456789abcdef", Name: "新店"}
	bad := []struct {
		name string
		err  error
	}{
		{"ref not digits", w.AddEnterprise(sandbox.Enterprise{RefEntID: "A1", EntID: okEnt.EntID, Name: "x"})},
		{"ent_id uppercase", w.AddEnterprise(sandbox.Enterprise{RefEntID: "1", EntID: strings.ToUpper(okEnt.EntID), Name: "x"})},
		{"ent_id short", w.AddEnterprise(sandbox.Enterprise{RefEntID: "1", EntID: "abc", Name: "x"})},
		{"no name", w.AddEnterprise(sandbox.Enterprise{RefEntID: "1", EntID: okEnt.EntID})},
		{"org code length", w.AddEnterprise(sandbox.Enterprise{RefEntID: "1", EntID: okEnt.EntID, Name: "x", OrgCode: "123"})},
		{"ref taken", w.AddEnterprise(sandbox.Enterprise{RefEntID: sandbox.DefaultStoreRefEntID, EntID: okEnt.EntID, Name: "x"})},
		{"ent taken", w.AddEnterprise(sandbox.Enterprise{RefEntID: "1", EntID: sandbox.DefaultStoreEntID, Name: "x"})},
		{"app taken", w.AddEnterprise(sandbox.Enterprise{RefEntID: "1", EntID: okEnt.EntID, Name: "x", AppKey: sandbox.DefaultStoreAppKey})},
		{"prefix and GTIN", w.AddProduct(sandbox.Product{Prefix: "8200000", GTIN: sandbox.GTINAtorvastatin, Name: "x"})},
		{"neither", w.AddProduct(sandbox.Product{Name: "x"})},
		{"prefix not 8", w.AddProduct(sandbox.Product{Prefix: "7200000", Name: "x"})},
		{"prefix short", w.AddProduct(sandbox.Product{Prefix: "820000", Name: "x"})},
		{"bad GTIN", w.AddProduct(sandbox.Product{GTIN: "04012345000017", Name: "x"})},
		{"no name", w.AddProduct(sandbox.Product{Prefix: "8200000"})},
		{"prefix taken", w.AddProduct(sandbox.Product{Prefix: sandbox.ProductAmoxicillin, Name: "x"})},
		{"prefix is a case prefix", w.AddProduct(sandbox.Product{Prefix: sandbox.CaseIbuprofen, Name: "x"})},
		{"case without size", w.AddProduct(sandbox.Product{Prefix: "8200000", CasePrefix: "8200001", Name: "x"})},
		{"size without case", w.AddProduct(sandbox.Product{Prefix: "8200000", CaseSize: 5, Name: "x"})},
		{"case = box", w.AddProduct(sandbox.Product{Prefix: "8200000", CasePrefix: "8200000", CaseSize: 5, Name: "x"})},
		{"GS1 with case", w.AddProduct(sandbox.Product{GTIN: "00000000000000", CasePrefix: "8200001", CaseSize: 5, Name: "x"})},
		{"upstream unknown to", w.AddUpstreamBill(sandbox.UpstreamBill{BillCode: "U", BillType: 201, FromRefEntID: sandbox.DefaultSupplierRefEntID, ToRefEntID: "1", Codes: []string{box(1)}})},
		{"upstream inbound type", w.AddUpstreamBill(sandbox.UpstreamBill{BillCode: "U", BillType: 102, FromRefEntID: sandbox.DefaultSupplierRefEntID, ToRefEntID: sandbox.DefaultStoreRefEntID, Codes: []string{box(1)}})},
		{"upstream no codes", w.AddUpstreamBill(sandbox.UpstreamBill{BillCode: "U", BillType: 201, FromRefEntID: sandbox.DefaultSupplierRefEntID, ToRefEntID: sandbox.DefaultStoreRefEntID})},
		{"upstream unknown code", w.AddUpstreamBill(sandbox.UpstreamBill{BillCode: "U", BillType: 201, FromRefEntID: sandbox.DefaultSupplierRefEntID, ToRefEntID: sandbox.DefaultStoreRefEntID, Codes: []string{"80000000000000000000"}})},
		{"upstream cancelled code", w.AddUpstreamBill(sandbox.UpstreamBill{BillCode: "U", BillType: 201, FromRefEntID: sandbox.DefaultSupplierRefEntID, ToRefEntID: sandbox.DefaultStoreRefEntID, Codes: []string{sandbox.DefaultCancelledCode}})},
		{"upstream code twice", w.AddUpstreamBill(sandbox.UpstreamBill{BillCode: "U", BillType: 201, FromRefEntID: sandbox.DefaultSupplierRefEntID, ToRefEntID: sandbox.DefaultStoreRefEntID, Codes: []string{box(1), box(1)}})},
		{"upstream bill code taken", w.AddUpstreamBill(sandbox.UpstreamBill{BillCode: sandbox.DefaultUpBill1, BillType: 201, FromRefEntID: sandbox.DefaultSupplierRefEntID, ToRefEntID: sandbox.DefaultStoreRefEntID, Codes: []string{box(1)}})},
		{"upstream case with its box", w.AddUpstreamBill(sandbox.UpstreamBill{BillCode: "U", BillType: 201, FromRefEntID: sandbox.DefaultSupplierRefEntID, ToRefEntID: sandbox.DefaultStoreRefEntID, Codes: []string{sandbox.DefaultCaseChild, sandbox.DefaultCaseCode}})},
		{"cancel unknown", w.CancelCodes("123")},
	}
	for _, b := range bad {
		if b.err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
	if err := w.AddEnterprise(okEnt); err != nil {
		t.Error(err)
	}
	if err := w.AddProduct(sandbox.Product{Prefix: "8200000", CasePrefix: "8200001", CaseSize: 3, Name: "测试药"}); err != nil {
		t.Error(err)
	}
	if err := w.AddProduct(sandbox.Product{Prefix: "8912399", Name: "特药"}); err != nil || !w.Products()[6].Special {
		t.Errorf("89 prefix not special: %v", err)
	}
	if len(w.Enterprises()) != 4 || len(w.Products()) != 7 || len(w.UpstreamBills()) != 4 {
		t.Errorf("failed additions changed the world")
	}
}

// TestCaseRules: only canonical case codes are activated; boxes are in a
// case only with the canonical check digits and a 9-serial.
func TestCaseRules(t *testing.T) {
	w := sandbox.DefaultWorld()
	if err := w.AddProduct(sandbox.Product{Prefix: "8200000", CasePrefix: "8200001", CaseSize: 3, Name: "三盒一箱"}); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, sandbox.Options{World: w})
	canonical := sandbox.MakeCode("8200001", 5)
	forged := canonical[:16] + fmt.Sprintf("%04d", (mustInt(canonical[16:])+1)%10000)
	kids := w.CaseChildren(canonical)
	if len(kids) != 3 || kids[0] != sandbox.MakeCode("8200000", 900000015) {
		t.Fatalf("children %v", kids)
	}
	if w.CaseChildren(forged) != nil || w.CaseChildren(kids[0]) != nil {
		t.Error("children of a forged case or of a box")
	}
	// The last full case fits under 999999999; the one after does not exist.
	last := sandbox.MakeCode("8200001", 33333332)
	if len(w.CaseChildren(last)) != 3 || w.CaseChildren(sandbox.MakeCode("8200001", 33333333)) != nil {
		t.Error("case range")
	}
	invented := "82000009000000150000" // right 9-serial, wrong check digits: a loose box
	if w.Parent(invented) != "" && invented != kids[0] {
		t.Errorf("invented box has parent %s", w.Parent(invented))
	}
	if w.Parent(box(15)) != "" {
		t.Error("a small serial has a parent")
	}
	a := inOut("CR-1", 102, forged, canonical, kids[2], invented).serve(t, s)
	wantAccepted(t, a)
	info := errorInfo(t, a)
	if info["1"] != forged || info["6"] != kids[2]+"(下级);"+canonical+"(上级)" || len(info) != 2 {
		t.Errorf("code_check_error_info = %v", info)
	}
}

func mustInt(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestWorldGrowsWhileServing: tests and the demo may add to the world
// while the sandbox answers.
func TestWorldGrowsWhileServing(t *testing.T) {
	r, hc := start(t, sandbox.Options{})
	w := r.World()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			err := w.AddUpstreamBill(sandbox.UpstreamBill{BillCode: fmt.Sprintf("GROW-%d", i), BillType: 201, BillTime: clock,
				FromRefEntID: sandbox.DefaultSupplierRefEntID, ToRefEntID: sandbox.DefaultStoreRefEntID, Codes: []string{box(50000 + i)}})
			if err != nil {
				t.Error(err)
			}
		}
	})
	for i := range 50 {
		a := mustSend(t, listUpOut(map[string]string{"page_size": "100"}), hc, r.URL())
		if a.q == nil || !a.q.OK() {
			t.Fatalf("listupout %d: %s", i, a)
		}
	}
	wg.Wait()
	var page tUpOutPage
	okModel(t, mustSend(t, listUpOut(map[string]string{"page_size": "100"}), hc, r.URL()), &page)
	if page.TotalNum != 56 {
		t.Errorf("total %d rows, want 56", page.TotalNum)
	}
}
