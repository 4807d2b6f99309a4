package sandbox_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// okModel decodes a successful query's payload (model, models or
// model_list, whichever is set) into v.
func okModel(t *testing.T, a *answer, v any) {
	t.Helper()
	if a.q == nil || !a.q.OK() {
		t.Fatalf("query failed: %s", a)
	}
	raw := a.q.Model
	if raw == nil {
		raw = a.q.Models
	}
	if raw == nil {
		raw = a.q.ModelList
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("payload: %v: %s", err, a)
	}
}

func wantNotFound(t *testing.T, a *answer) {
	t.Helper()
	if a.q == nil || a.q.MsgCode != wire.MsgNoInfo || a.q.OK() || a.q.MsgInfo == "" {
		t.Fatalf("got %s, want %s", a, wire.MsgNoInfo)
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
	up := func(code string) *tcall { return query(wire.MethodQueryUpBillCode, map[string]string{"code": code}) }
	for _, code := range []string{sandbox.DefaultBoxCode, sandbox.DefaultCaseCode, sandbox.DefaultCaseChild} {
		a := up(code).serve(t, s)
		var rows []wire.UpstreamBill
		okModel(t, a, &rows)
		want := wire.UpstreamBill{BillCode: sandbox.DefaultUpBill1, BillTime: "2026-11-20 09:30:00", BillType: 201,
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
	var rows []wire.UpstreamBill
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
	return query(wire.MethodListUpOut, p)
}

func TestListUpOut(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	var page wire.Page[wire.UpOutRow]
	okModel(t, listUpOut(nil).serve(t, s), &page)
	type line struct {
		bill, name string
		count      int
	}
	var got []line
	for _, r := range page.ResultList {
		got = append(got, line{r.BillCode, r.PhysicName, int(r.CodeCount)})
		if r.Status != 1 || r.BillOutID == "" || r.ToUserID != storeEnt || r.ProduceBatchNo == "" || r.ExpireDate == "" {
			t.Errorf("row %+v", r)
		}
	}
	want := []line{
		{sandbox.DefaultUpBill1, "阿莫西林胶囊", 15}, {sandbox.DefaultUpBill1, "布洛芬缓释胶囊", 3},
		{sandbox.DefaultUpBill2, "盐酸曲马多缓释片", 2}, {sandbox.DefaultUpBill2, "布洛芬缓释胶囊", 20},
		{sandbox.DefaultUpBill2, "阿托伐他汀钙片（进口）", 2}, {sandbox.DefaultUpBill3, "复方甘草片", 4},
	}
	if !slices.Equal(got, want) || page.TotalNum != 6 || page.Page != 1 || page.PageSize != 20 {
		t.Fatalf("rows %+v (total %d)", got, page.TotalNum)
	}
	count := func(extra map[string]string) int {
		t.Helper()
		var p wire.Page[wire.UpOutRow]
		okModel(t, listUpOut(extra).serve(t, s), &p)
		if len(p.ResultList) > int(p.PageSize) {
			t.Errorf("page over its size: %+v", p)
		}
		return len(p.ResultList)
	}
	checks := []struct {
		extra map[string]string
		want  int
	}{
		{map[string]string{"page_size": "4", "page": "2"}, 2},
		{map[string]string{"page": "3"}, 0},
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
		return query(wire.MethodListUpOutDetail, map[string]string{"bill_code": billCode})
	}
	var d wire.UpOutDetail
	okModel(t, detail(sandbox.DefaultUpBill1).serve(t, s), &d)
	if d.BillCode != sandbox.DefaultUpBill1 || d.BillType != 201 || d.FromUserID != supplierEnt || d.ToRefUserID != storeRef ||
		len(d.Drugs) != 2 || d.Drugs[0].CodeCount != 15 || len(d.Drugs[0].Codes) != 6 || d.Drugs[0].Codes[0] != sandbox.DefaultBoxCode ||
		d.Drugs[0].Codes[5] != sandbox.DefaultCaseCode || d.Drugs[1].PhysicName != "布洛芬缓释胶囊" {
		t.Errorf("detail = %+v", d)
	}
	c := detail(sandbox.DefaultUpBill1)
	c.p["from_ref_user_id"], c.p["to_ref_user_id"] = sandbox.DefaultSupplierRefEntID, storeRef
	okModel(t, c.serve(t, s), &d)
	c.p["from_ref_user_id"] = sandbox.DefaultWarehouseRefEntID
	wantNotFound(t, c.serve(t, s))
	c = detail(sandbox.DefaultUpBill1)
	c.p["to_ref_user_id"] = sandbox.DefaultWarehouseRefEntID
	if a := c.serve(t, s); a.q == nil || a.q.MsgCode != wire.MsgAuthError {
		t.Errorf("foreign to_ref_user_id: %s", a)
	}
	wantNotFound(t, detail(sandbox.DefaultUpBill4).serve(t, s))
	okModel(t, asWarehouse(detail(sandbox.DefaultUpBill4)).serve(t, s), &d)
	if len(d.Drugs) != 1 || d.Drugs[0].CodeCount != 20 {
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
		for _, r := range statusRows(t, query(wire.MethodQueryBillStatus, p).serve(t, s)) {
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
	c := asWarehouse(query(wire.MethodQueryBillStatus, map[string]string{"begin_date": "2026-11-27", "end_date": "2026-11-27", "bill_type": "A"}))
	if rows := statusRows(t, c.serve(t, s)); len(rows) != 0 {
		t.Errorf("warehouse sees %+v", rows)
	}
	wantNotFound(t, query(wire.MethodQueryUpBillDetail, map[string]string{"bill_code": "ST-none"}).serve(t, s))
	wantNotFound(t, query(wire.MethodListBillProcessPartSuccess, map[string]string{"bill_code": "ST-none"}).serve(t, s))
}

func codeDetail(t *testing.T, s *sandbox.Server, codes ...string) map[string]wire.CodeInfo {
	t.Helper()
	var models []wire.CodeInfo
	okModel(t, query(wire.MethodQueryCodeDetail, map[string]string{"codes": strings.Join(codes, ",")}).serve(t, s), &models)
	out := map[string]wire.CodeInfo{}
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
	if b.Status.CodeStatus != wire.CodeActive || b.Barcode69 != "6900000000014" || b.PkgRatio != "1:10" || b.PackageLevel != 1 ||
		b.Produce.SmallPkgNum != 1 || b.Produce.PhysicType != 3 || b.Drug.PhysicName != "阿莫西林胶囊" || b.Drug.ResProdCode != sandbox.ProductAmoxicillin ||
		b.Status.ParentCode != "" {
		t.Errorf("box = %+v %+v %+v %+v", b, b.Produce, b.Drug, b.Status)
	}
	k := m[sandbox.DefaultCaseCode]
	if k.PackageLevel != 2 || k.Produce.SmallPkgNum != 10 || len(k.Status.ChildCodes) != 10 || k.Status.ChildCodes[0] != sandbox.DefaultCaseChild {
		t.Errorf("case = %+v %+v", k, k.Status)
	}
	if ch := m[sandbox.DefaultCaseChild]; ch.Status.ParentCode != sandbox.DefaultCaseCode {
		t.Errorf("child = %+v", ch.Status)
	}
	if c := m[sandbox.DefaultCancelledCode]; c.Status.CodeStatus != wire.CodeCancelled {
		t.Errorf("cancelled = %+v", c.Status)
	}
	if e := m["123"]; e.Status.CodeStatus != wire.CodeNotExist || e.Drug != nil {
		t.Errorf("malformed = %+v", e)
	}
	if tr := m[tram]; tr.Produce.PhysicType != 2 || tr.PkgRatio != "1" {
		t.Errorf("tramadol = %+v %+v", tr, tr.Produce)
	}
	if g := m[gs1]; g.Drug == nil || g.Drug.PhysicName != "阿托伐他汀钙片（进口）" || g.Status.CodeStatus != wire.CodeActive {
		t.Errorf("GS1 = %+v", g)
	}
	// Receiving, selling and taking back move the status.
	wantAccepted(t, inOut("CD-1", 102, sandbox.DefaultBoxCode, sandbox.DefaultCaseCode).serve(t, s))
	m = codeDetail(t, s, sandbox.DefaultBoxCode, sandbox.DefaultCaseChild)
	if m[sandbox.DefaultBoxCode].Status.CodeStatus != wire.CodeVerified || m[sandbox.DefaultCaseChild].Status.CodeStatus != wire.CodeVerified {
		t.Errorf("after inbound: %+v", m)
	}
	wantAccepted(t, retail("CD-2", 321, sandbox.DefaultBoxCode, sandbox.DefaultCaseChild).serve(t, s))
	m = codeDetail(t, s, sandbox.DefaultBoxCode, sandbox.DefaultCaseChild, sandbox.DefaultCaseCode)
	if m[sandbox.DefaultBoxCode].Status.CodeStatus != wire.CodeSold || m[sandbox.DefaultCaseChild].Status.CodeStatus != wire.CodeSold ||
		m[sandbox.DefaultCaseCode].Status.CodeStatus != wire.CodeVerified {
		t.Errorf("after sale: %+v", m)
	}
	wantAccepted(t, retail("CD-3", 116, sandbox.DefaultBoxCode).serve(t, s))
	if m = codeDetail(t, s, sandbox.DefaultBoxCode); m[sandbox.DefaultBoxCode].Status.CodeStatus != wire.CodeVerified {
		t.Errorf("after return: %+v", m)
	}
}

func TestQueryRelation(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	rel := func(code string) *tcall { return query(wire.MethodQueryRelation, map[string]string{"code": code}) }
	wantNotFound(t, rel(sandbox.DefaultCaseChild).serve(t, s))
	wantAccepted(t, inOut("RL-1", 102, sandbox.DefaultCaseCode, box(3000)).serve(t, s))
	var rows []wire.Relation
	okModel(t, rel(sandbox.DefaultCaseChild).serve(t, s), &rows)
	if len(rows) != 11 {
		t.Fatalf("%d rows, want the case and its 10 boxes", len(rows))
	}
	top := rows[0]
	if top.Code != sandbox.DefaultCaseCode || top.CodeLevel != 1 || top.CodePackLevel != 2 || bool(top.IsSmallest) ||
		top.BoxAmount != 10 || len(top.ChildCodes) != 10 || top.Status != wire.CodeVerified {
		t.Errorf("case row = %+v", top)
	}
	if b := rows[1]; b.Code != sandbox.DefaultCaseChild || b.ParentCode != sandbox.DefaultCaseCode || b.CodeLevel != 2 ||
		b.CodePackLevel != 1 || !bool(b.IsSmallest) || b.BoxAmount != 1 {
		t.Errorf("box row = %+v", b)
	}
	okModel(t, rel(sandbox.DefaultCaseCode).serve(t, s), &rows)
	if len(rows) != 11 {
		t.Errorf("case: %d rows", len(rows))
	}
	okModel(t, rel(box(3000)).serve(t, s), &rows)
	if len(rows) != 1 || rows[0].CodeLevel != 2 || rows[0].ParentCode != "" {
		t.Errorf("loose box: %+v", rows)
	}
	// Only this enterprise's inbounds count.
	wantNotFound(t, asWarehouse(rel(box(3000))).serve(t, s))
	c := rel(box(3000))
	c.p["des_ref_ent_id"] = sandbox.DefaultWarehouseRefEntID
	if a := c.serve(t, s); a.q == nil || a.q.MsgCode != wire.MsgAuthError {
		t.Errorf("foreign des_ref_ent_id: %s", a)
	}
	c.p["des_ref_ent_id"] = storeRef
	okModel(t, c.serve(t, s), &rows)
}

func TestGetEntInfoList(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	ents := func(q string) *answer {
		return query(wire.MethodGetEntInfoList, map[string]string{"query_param": q}).serve(t, s)
	}
	var rows []wire.EntInfo
	okModel(t, ents(`{"ent_name":"沙箱大药房"}`), &rows)
	if len(rows) != 2 || rows[0].RefEntID != sandbox.DefaultWarehouseRefEntID || rows[1].RefEntID != storeRef {
		t.Errorf("by name: %+v", rows)
	}
	okModel(t, ents(`{"org_code":"91320100SBX0000003"}`), &rows)
	if len(rows) != 1 || rows[0].EntID != supplierEnt || rows[0].AuditStatus != 1 || rows[0].SettleStatus != 1 {
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
}
