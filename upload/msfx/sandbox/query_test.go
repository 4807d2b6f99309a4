package sandbox_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// okModel decodes a successful query's payload (model, models or
// model_list, whichever the answer has) into v.
func okModel(t *testing.T, a *answer, v any) {
	t.Helper()
	if a.q == nil || !a.q.OK() {
		t.Fatalf("query failed: %s", a)
	}
	var raw json.RawMessage
	n := 0
	for _, k := range []string{"model", "models", "model_list"} {
		if r, ok := a.q.fields[k]; ok {
			raw = r
			n++
		}
	}
	if n != 1 {
		t.Fatalf("want exactly one of model, models, model_list: %s", a)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("payload: %v: %s", err, a)
	}
}

func wantNotFound(t *testing.T, a *answer) {
	t.Helper()
	if a.q == nil || a.q.MsgCode != msgNoPatInfo || a.q.OK() || a.q.MsgInfo == "" {
		t.Fatalf("got %s, want %s", a, msgNoPatInfo)
	}
}

// asWarehouse makes a call on behalf of the chain warehouse.
func asWarehouse(c *tcall) *tcall {
	c.p["app_key"], c.secret = sandbox.DefaultWarehouseAppKey, sandbox.DefaultWarehouseSecret
	if _, ok := c.p["ref_ent_id"]; ok {
		c.p["ref_ent_id"] = sandbox.DefaultWarehouseRefEntID
	}
	return c
}

func TestQueryUpBillCode(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	up := func(code string) *tcall { return query(mUpBillCode, map[string]string{"code": code}) }
	for _, code := range []string{sandbox.DefaultBoxCode, sandbox.DefaultCaseCode, sandbox.DefaultCaseChild} {
		a := up(code).serve(t, s)
		var rows []tUpstreamBill
		okModel(t, a, &rows)
		want := tUpstreamBill{BillCode: sandbox.DefaultUpBill1, BillTime: "2026-11-20 09:30:00", BillType: "201",
			FromUserID: supplierEnt, FromRefUserID: sandbox.DefaultSupplierRefEntID, FromUserName: sandbox.DefaultSupplierName,
			ToUserID: storeEnt, ToRefUserID: storeRef, ToUserName: sandbox.DefaultStoreName, RefUserID: sandbox.DefaultSupplierRefEntID}
		if len(rows) != 1 || rows[0] != want {
			t.Errorf("%s: rows %+v", code, rows)
		}
		// This method answers "success", not "response_success".
		if !bytes.Contains(a.data, []byte(`"success":true`)) || bytes.Contains(a.data, []byte("response_success")) {
			t.Errorf("flag: %s", a.data)
		}
	}
	gs1 := sandbox.GS1Code(sandbox.GTINAtorvastatin, "SBX0002")
	var rows []tUpstreamBill
	okModel(t, up(gs1).serve(t, s), &rows)
	if len(rows) != 1 || rows[0].BillCode != sandbox.DefaultUpBill2 {
		t.Errorf("GS1: %+v", rows)
	}
	okModel(t, up("01"+sandbox.GTINAtorvastatin+"10X2605\x1d21SBX0002").serve(t, s), &rows)
	if len(rows) != 1 || rows[0].BillCode != sandbox.DefaultUpBill2 {
		t.Errorf("GS1 with a lot: %+v", rows)
	}
	// The warehouse's bill is not the store's to see.
	whCase := sandbox.MakeCode(sandbox.CaseAmoxicillin, 2)
	wantNotFound(t, up(whCase).serve(t, s))
	okModel(t, asWarehouse(up(whCase)).serve(t, s), &rows)
	if len(rows) != 1 || rows[0].BillCode != sandbox.DefaultUpBill4 {
		t.Errorf("warehouse: %+v", rows)
	}
	wantNotFound(t, up(box(424242)).serve(t, s))
	wantNotFound(t, up("123").serve(t, s))
}

func listUpOut(extra map[string]string) *tcall {
	p := map[string]string{"begin_date": "2026-10-28", "end_date": "2026-11-27"}
	for k, v := range extra {
		p[k] = v
	}
	return query(mListUpOut, p)
}

func TestListUpOut(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	var page tUpOutPage
	okModel(t, listUpOut(nil).serve(t, s), &page)
	type line struct {
		bill, name string
		count      int
	}
	var got []line
	for _, r := range page.ResultList {
		got = append(got, line{r.BillCode, r.PhysicName, int(r.CodeCount)})
		if r.Status != "1" || r.BillOutID < 880000001 || r.ToUserID != storeEnt || r.ProduceBatchNo == "" || r.ExprieDate == "" {
			t.Errorf("row %+v", r)
		}
	}
	want := []line{
		{sandbox.DefaultUpBill1, "阿莫西林胶囊", 15}, {sandbox.DefaultUpBill1, "布洛芬缓释胶囊", 3},
		{sandbox.DefaultUpBill2, "盐酸曲马多缓释片", 2}, {sandbox.DefaultUpBill2, "布洛芬缓释胶囊", 20},
		{sandbox.DefaultUpBill2, "阿托伐他汀钙片（进口）", 2}, {sandbox.DefaultUpBill3, "复方甘草片", 4},
	}
	if !slices.Equal(got, want) || page.TotalNum != 6 {
		t.Fatalf("rows %+v (total %d)", got, page.TotalNum)
	}
	count := func(extra map[string]string) int {
		t.Helper()
		var p tUpOutPage
		c := listUpOut(extra)
		okModel(t, c.serve(t, s), &p)
		if size, _ := strconv.Atoi(c.p["page_size"]); len(p.ResultList) > size {
			t.Errorf("page over its size: %+v", p)
		}
		return len(p.ResultList)
	}
	checks := []struct {
		extra map[string]string
		want  int
	}{
		{map[string]string{"page_size": "4", "page": "2"}, 2},
		{map[string]string{"page": "2"}, 0},
		{map[string]string{"bill_code": sandbox.DefaultUpBill2}, 3},
		{map[string]string{"from_user_id": sandbox.DefaultWarehouseEntID}, 1},
		{map[string]string{"physic_type": "2"}, 1},
		{map[string]string{"bill_type": "203"}, 1},
		{map[string]string{"status": "2"}, 0},
		{map[string]string{"begin_date": "2026-11-26"}, 1},
		{map[string]string{"begin_date": "2026-11-25 14:00:00", "end_date": "2026-11-25 14:00:00"}, 3},
	}
	for _, c := range checks {
		if n := count(c.extra); n != c.want {
			t.Errorf("%v: %d rows, want %d", c.extra, n, c.want)
		}
	}
	// Receiving the warehouse's bill confirms it.
	c := inOut("RK-3", 104, s.World().UpstreamBills()[2].Codes...)
	c.p["from_user_id"] = sandbox.DefaultWarehouseEntID
	wantAccepted(t, c.serve(t, s))
	if n := count(map[string]string{"status": "2"}); n != 1 {
		t.Errorf("after receiving bill 3: %d confirmed rows, want 1", n)
	}
	// Bill 1 has 5 boxes, a case and 3 ibuprofen boxes: receiving the loose
	// boxes is not enough, the case's boxes one by one complete it.
	up1 := s.World().UpstreamBills()[0].Codes
	wantAccepted(t, inOut("RK-1a", 102, append(slices.Clone(up1[:5]), up1[6:]...)...).serve(t, s))
	if n := count(map[string]string{"status": "2", "bill_code": sandbox.DefaultUpBill1}); n != 0 {
		t.Errorf("bill 1 confirmed without its case")
	}
	wantAccepted(t, inOut("RK-1b", 102, s.World().CaseChildren(sandbox.DefaultCaseCode)...).serve(t, s))
	if n := count(map[string]string{"status": "2", "bill_code": sandbox.DefaultUpBill1}); n != 2 {
		t.Errorf("bill 1 not confirmed by its case's boxes: %d rows", n)
	}
	// Receiving a case code confirms a bill listing it.
	wantAccepted(t, inOut("RK-2", 102, s.World().UpstreamBills()[1].Codes...).serve(t, s))
	if n := count(map[string]string{"status": "1"}); n != 0 {
		t.Errorf("%d rows still unconfirmed", n)
	}
}

func TestListUpOutDetail(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	detail := func(billCode string) *tcall {
		return query(mUpOutDetail, map[string]string{"bill_code": billCode})
	}
	var d tUpOutDetail
	okModel(t, detail(sandbox.DefaultUpBill1).serve(t, s), &d)
	if d.BillCode != sandbox.DefaultUpBill1 || d.BillType != "201" || d.EntSendID != supplierEnt || d.EntRecvID != storeEnt ||
		d.EntSendName != sandbox.DefaultSupplierName || len(d.Drugs) != 2 || d.Drugs[0].LeastPkgAmount != "15" ||
		len(d.Drugs[0].Codes) != 6 || d.Drugs[0].Codes[0].Code != sandbox.DefaultBoxCode || d.Drugs[0].Codes[0].CodeLevel != "1" ||
		d.Drugs[0].Codes[5].Code != sandbox.DefaultCaseCode || d.Drugs[0].Codes[5].CodeLevel != "2" || d.Drugs[0].Codes[5].PkgAmount != "10" ||
		d.Drugs[0].ProduceBatchNo != "B26090101" || d.Drugs[0].ValidEndDate != "2028-08-31" || d.Drugs[0].ProduceDate != "2026-09-01" ||
		d.Drugs[1].PhysicName != "布洛芬缓释胶囊" {
		t.Errorf("detail = %+v", d)
	}
	c := detail(sandbox.DefaultUpBill1)
	c.p["from_ref_user_id"] = sandbox.DefaultWarehouseRefEntID
	wantNotFound(t, c.serve(t, s))
	c = detail(sandbox.DefaultUpBill1)
	c.p["to_ref_user_id"] = sandbox.DefaultWarehouseRefEntID
	if a := c.serve(t, s); a.q == nil || a.q.MsgCode != msgAuth {
		t.Errorf("foreign to_ref_user_id: %s", a)
	}
	wantNotFound(t, detail(sandbox.DefaultUpBill4).serve(t, s))
	wh := asWarehouse(detail(sandbox.DefaultUpBill4))
	wh.p["to_ref_user_id"] = sandbox.DefaultWarehouseRefEntID
	okModel(t, wh.serve(t, s), &d)
	if len(d.Drugs) != 1 || d.Drugs[0].LeastPkgAmount != "20" {
		t.Errorf("warehouse detail = %+v", d)
	}
}

func TestQueryBillStatusFilters(t *testing.T) {
	s := newServer(t, sandbox.Options{ProcessAfter: sandbox.ProcessAtOnce})
	wantAccepted(t, inOut("ST-in", 102, box(2000)).serve(t, s))
	wantAccepted(t, retail("ST-sale", 321, box(2000)).serve(t, s))
	wantAccepted(t, retail("ST-back", 116, box(2000)).serve(t, s))
	codes := func(extra map[string]string) string {
		t.Helper()
		p := map[string]string{"begin_date": "2026-11-27", "end_date": "2026-11-27", "bill_type": "A"}
		for k, v := range extra {
			p[k] = v
		}
		var list []string
		for _, r := range statusRows(t, query(mBillStatus, p).serve(t, s)) {
			list = append(list, r.BillCode)
		}
		return strings.Join(list, ",")
	}
	for _, c := range []struct {
		extra map[string]string
		want  string
	}{
		{nil, "ST-in,ST-sale,ST-back"},
		{map[string]string{"bill_type": "AI"}, "ST-in,ST-back"},
		{map[string]string{"bill_type": "AO"}, "ST-sale"},
		{map[string]string{"bill_code": "ST-sale"}, "ST-sale"},
		{map[string]string{"to_user_id": storeEnt}, "ST-in"},
		{map[string]string{"deal_status": "3"}, "ST-in,ST-sale,ST-back"},
		{map[string]string{"deal_status": "0"}, ""},
		{map[string]string{"begin_date": "2026-11-26", "end_date": "2026-11-26"}, ""},
		{map[string]string{"page_size": "2", "page": "2"}, "ST-back"},
	} {
		if got := codes(c.extra); got != c.want {
			t.Errorf("%v: %q, want %q", c.extra, got, c.want)
		}
	}
	// The warehouse sees none of the store's bills.
	c := asWarehouse(query(mBillStatus, map[string]string{"begin_date": "2026-11-27", "end_date": "2026-11-27", "bill_type": "A"}))
	if rows := statusRows(t, c.serve(t, s)); len(rows) != 0 {
		t.Errorf("warehouse sees %+v", rows)
	}
	wantNotFound(t, query(mUpBillDet, map[string]string{"bill_code": "ST-none"}).serve(t, s))
	wantNotFound(t, query(mPartSuccess, map[string]string{"bill_code": "ST-none"}).serve(t, s))
}

func codeDetail(t *testing.T, s *sandbox.Server, codes ...string) map[string]tCodeInfo {
	t.Helper()
	var models []tCodeInfo
	okModel(t, query(mCodeDetail, map[string]string{"codes": strings.Join(codes, ",")}).serve(t, s), &models)
	out := map[string]tCodeInfo{}
	for _, m := range models {
		out[m.Code] = m
	}
	if len(out) != len(models) {
		t.Errorf("a code answered twice: %+v", models)
	}
	return out
}

func TestQueryCodeDetail(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	tram := sandbox.MakeCode(sandbox.ProductTramadol, 3001)
	gs1 := sandbox.GS1Code(sandbox.GTINAtorvastatin, "SBX0001")
	m := codeDetail(t, s, sandbox.DefaultBoxCode, sandbox.DefaultCaseCode, sandbox.DefaultCaseChild,
		sandbox.DefaultCancelledCode, "123", tram, gs1, sandbox.DefaultBoxCode)
	if len(m) != 7 {
		t.Fatalf("%d models, want 7", len(m))
	}
	b := m[sandbox.DefaultBoxCode]
	if b.Status.CodeStatus != "A" || b.PackageLevel != "1" || b.Drug == nil || b.Drug.PhysicName != "阿莫西林胶囊" ||
		b.Drug.PhysicTypeDesc != "普药" || b.Drug.Exprie != "24" || b.Maker == nil || b.Maker.EntName != "沙箱制药有限公司" ||
		b.Produce == nil || len(b.Produce.List) != 1 || b.Produce.List[0].BatchNo != "B26090101" ||
		b.Produce.List[0].ProduceDateStr != "2026-09-01" || b.Produce.List[0].ExpireDate != "2028-08-31" || b.Produce.List[0].PkgAmount != "1" {
		t.Errorf("box = %+v %+v %+v", b, b.Drug, b.Produce)
	}
	k := m[sandbox.DefaultCaseCode]
	if k.PackageLevel != "2" || k.Produce == nil || k.Produce.List[0].PkgAmount != "10" {
		t.Errorf("case = %+v", k)
	}
	if ch := m[sandbox.DefaultCaseChild]; ch.Status.CodeStatus != "A" || ch.PackageLevel != "1" {
		t.Errorf("child = %+v", ch)
	}
	if c := m[sandbox.DefaultCancelledCode]; c.Status.CodeStatus != "C" {
		t.Errorf("cancelled = %+v", c.Status)
	}
	if e := m["123"]; e.Status.CodeStatus != "E" || e.Drug != nil || e.Produce != nil || e.Maker != nil {
		t.Errorf("malformed = %+v", e)
	}
	if tr := m[tram]; tr.Drug == nil || tr.Drug.PhysicTypeDesc != "特药" {
		t.Errorf("tramadol = %+v", tr)
	}
	if g := m[gs1]; g.Drug == nil || g.Drug.PhysicName != "阿托伐他汀钙片（进口）" || g.Status.CodeStatus != "A" {
		t.Errorf("GS1 = %+v", g)
	}
	// Receiving, selling and taking back move the status.
	wantAccepted(t, inOut("CD-1", 102, sandbox.DefaultBoxCode, sandbox.DefaultCaseCode).serve(t, s))
	m = codeDetail(t, s, sandbox.DefaultBoxCode, sandbox.DefaultCaseChild)
	if m[sandbox.DefaultBoxCode].Status.CodeStatus != "I" || m[sandbox.DefaultCaseChild].Status.CodeStatus != "I" {
		t.Errorf("after inbound: %+v", m)
	}
	wantAccepted(t, retail("CD-2", 321, sandbox.DefaultBoxCode, sandbox.DefaultCaseChild).serve(t, s))
	m = codeDetail(t, s, sandbox.DefaultBoxCode, sandbox.DefaultCaseChild, sandbox.DefaultCaseCode)
	if m[sandbox.DefaultBoxCode].Status.CodeStatus != "O" || m[sandbox.DefaultCaseChild].Status.CodeStatus != "O" ||
		m[sandbox.DefaultCaseCode].Status.CodeStatus != "I" {
		t.Errorf("after sale: %+v", m)
	}
	wantAccepted(t, retail("CD-3", 116, sandbox.DefaultBoxCode).serve(t, s))
	if m = codeDetail(t, s, sandbox.DefaultBoxCode); m[sandbox.DefaultBoxCode].Status.CodeStatus != "I" {
		t.Errorf("after return: %+v", m)
	}
}

func TestQueryRelation(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	rel := func(code string) *tcall { return query(mRelation, map[string]string{"code": code}) }
	// Known once through an inbound: the store's own, or the supplier's
	// (the code is on a bill shipped to the store).
	wantNotFound(t, rel(box(3000)).serve(t, s))
	var rels []tRelation
	okModel(t, rel(sandbox.DefaultCaseChild).serve(t, s), &rels)
	if len(rels) != 1 || len(rels[0].Rows) != 11 {
		t.Fatalf("shipped to the store: want the case and its 10 boxes: %+v", rels)
	}
	wantAccepted(t, inOut("RL-1", 102, sandbox.DefaultCaseCode, box(3000)).serve(t, s))
	okModel(t, rel(box(3000)).serve(t, s), &rels)
	if len(rels) != 1 {
		t.Fatalf("after the store's inbound: %+v", rels)
	}
	okModel(t, rel(sandbox.DefaultCaseChild).serve(t, s), &rels)
	if len(rels) != 1 || len(rels[0].Rows) != 11 {
		t.Fatalf("want one relation with the case and its 10 boxes: %+v", rels)
	}
	r := rels[0]
	top := r.Rows[0]
	if top.Code != sandbox.DefaultCaseCode || top.CodeLevel != "1" || top.CodePackLevel != "2" || top.Status != "I" || top.ParentCode != "" {
		t.Errorf("case row = %+v", top)
	}
	if b := r.Rows[1]; b.Code != sandbox.DefaultCaseChild || b.ParentCode != sandbox.DefaultCaseCode || b.CodeLevel != "2" || b.CodePackLevel != "1" {
		t.Errorf("box row = %+v", b)
	}
	if r.IsSmallest != "true" || len(r.Pkg.CodeList) != 1 || r.Pkg.CodeList[0] != sandbox.DefaultCaseChild ||
		len(r.Produce) != 1 || r.Produce[0].BatchNo != "B26090101" {
		t.Errorf("box relation = %+v", r)
	}
	okModel(t, rel(sandbox.DefaultCaseCode).serve(t, s), &rels)
	if r := rels[0]; len(r.Rows) != 11 || r.IsSmallest != "false" || len(r.Pkg.CodeList) != 10 || r.Produce[0].PkgAmount != "10" {
		t.Errorf("case: %+v", r)
	}
	okModel(t, rel(box(3000)).serve(t, s), &rels)
	if r := rels[0]; len(r.Rows) != 1 || r.Rows[0].CodeLevel != "2" || r.Rows[0].ParentCode != "" {
		t.Errorf("loose box: %+v", r)
	}
	// Only this enterprise's inbounds count.
	whRel := asWarehouse(rel(box(3000)))
	whRel.p["des_ref_ent_id"] = sandbox.DefaultWarehouseRefEntID
	wantNotFound(t, whRel.serve(t, s))
	c := rel(box(3000))
	c.p["des_ref_ent_id"] = sandbox.DefaultWarehouseRefEntID
	if a := c.serve(t, s); a.q == nil || a.q.MsgCode != msgAuth {
		t.Errorf("foreign des_ref_ent_id: %s", a)
	}
	c.p["des_ref_ent_id"] = storeRef
	okModel(t, c.serve(t, s), &rels)
}

func TestGetEntInfoList(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	ents := func(q string) *answer {
		return query(mEntInfoList, map[string]string{"query_param": q}).serve(t, s)
	}
	var rows []tEntInfo
	okModel(t, ents(`{"ent_name":"沙箱大药房"}`), &rows)
	if len(rows) != 2 || rows[0].RefEntID != sandbox.DefaultWarehouseRefEntID || rows[1].RefEntID != storeRef {
		t.Errorf("by name: %+v", rows)
	}
	okModel(t, ents(`{"org_code":"91320100SBX0000003"}`), &rows)
	if len(rows) != 1 || rows[0].EntID != supplierEnt || rows[0].AuditStatus != 1 || rows[0].SettleStatus != 1 ||
		rows[0].UniqueCode != "91320100SBX0000003" {
		t.Errorf("by org_code: %+v", rows)
	}
	okModel(t, ents(`{"ent_id":"`+storeEnt+`"}`), &rows)
	if len(rows) != 1 || rows[0].RefEntID != storeRef || rows[0].EntName != sandbox.DefaultStoreName {
		t.Errorf("by ent_id: %+v", rows)
	}
	okModel(t, ents(`{"par_ref_ent_id":"`+sandbox.DefaultWarehouseRefEntID+`"}`), &rows)
	if len(rows) != 1 || rows[0].RefEntID != storeRef {
		t.Errorf("by parent: %+v", rows)
	}
	// Half-width brackets do not match full-width ones: match by id.
	wantNotFound(t, ents(`{"ent_name":"沙箱大药房(城南店)"}`))
	wantNotFound(t, ents(`{"medical_code":"H32010000001"}`))
	wantNotFound(t, ents(`{"ent_name":"沙箱大药房","org_code":"91320100SBX0000003"}`))
	// Without query_param: the caller itself.
	okModel(t, query(mEntInfoList, map[string]string{}).serve(t, s), &rows)
	if len(rows) != 1 || rows[0].RefEntID != storeRef {
		t.Errorf("without query_param: %+v", rows)
	}
	// ref_ent_id is the caller's own.
	a := query(mEntInfoList, map[string]string{"ref_ent_id": sandbox.DefaultSupplierRefEntID}).serve(t, s)
	if a.q == nil || a.q.MsgCode != msgAuth {
		t.Errorf("foreign ref_ent_id: %s", a)
	}
}

// A box recorded under another product: codedetail names that drug, the
// code's own prefix notwithstanding; the world refuses what is not a loose
// box or names no other registered product.
func TestReportAsProduct(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	w := s.World()
	relabelled := sandbox.MakeCode(sandbox.ProductAmoxicillin, 4001)
	own := sandbox.MakeCode(sandbox.ProductAmoxicillin, 4002)
	for _, bad := range []struct {
		prefix, code string
	}{
		{"8999999", relabelled},                              // no such product
		{sandbox.ProductAmoxicillin, relabelled},             // its own product
		{sandbox.ProductIbuprofen, "123"},                    // not a code
		{sandbox.ProductIbuprofen, sandbox.DefaultCaseCode},  // a case
		{sandbox.ProductIbuprofen, sandbox.DefaultCaseChild}, // a box inside a case
		{sandbox.ProductIbuprofen, sandbox.GS1Code(sandbox.GTINAtorvastatin, "SBX0001")},
	} {
		if err := w.ReportAsProduct(bad.prefix, bad.code); err == nil {
			t.Errorf("ReportAsProduct(%s, %s) accepted", bad.prefix, bad.code)
		}
	}
	if m := codeDetail(t, s, relabelled); m[relabelled].Drug.PhysicName != "阿莫西林胶囊" {
		t.Fatalf("a refused ReportAsProduct changed the world: %+v", m[relabelled].Drug)
	}
	if err := w.ReportAsProduct(sandbox.ProductIbuprofen, relabelled); err != nil {
		t.Fatal(err)
	}
	m := codeDetail(t, s, relabelled, own)
	r, o := m[relabelled], m[own]
	if r.Drug == nil || r.Drug.PhysicName != "布洛芬缓释胶囊" || r.Drug.ApprovalLicenceNo != "国药准字H00000002" ||
		r.Drug.DrugEntBaseInfoID != sandbox.ProductIbuprofen || r.Status.CodeStatus != "A" || r.PackageLevel != "1" {
		t.Errorf("relabelled box = %+v %+v", r, r.Drug)
	}
	if o.Drug == nil || o.Drug.PhysicName != "阿莫西林胶囊" || o.Drug.ApprovalLicenceNo != "国药准字H00000001" {
		t.Errorf("another box of the prefix = %+v", o.Drug)
	}
}
