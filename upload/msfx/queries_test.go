package msfx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// want checks that p holds every expected parameter.
func wantParams(t *testing.T, method string, p map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s: %s = %q, want %q", shortMethod(method), k, p[k], v)
		}
	}
}

func TestQueryUpBillCode(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		wantParams(t, m, p, map[string]string{"method": wire.MethodQueryUpBillCode, "ref_ent_id": ownRef})
		if p["code"] != codeA {
			return 200, queryNotFound(m)
		}
		return 200, queryOK(m, map[string]any{"model_list": []map[string]any{{
			"bill_code": "XS20261127001", "bill_time": "2026-11-26 16:00:00", "bill_type": 201,
			"from_user_id": supplierEnt, "from_ref_user_id": "310000000000000001", "from_user_name": "上海某医药有限公司",
			"to_user_id": ownEnt, "to_ref_user_id": ownRef, "ref_user_id": "310000000000000001",
		}}})
	})
	c := newTestClient(t, g.URL(), nil)
	rows, err := c.QueryUpBillCode(context.Background(), codeA)
	if err != nil || len(rows) != 1 || rows[0].BillCode != "XS20261127001" || rows[0].BillType != 201 || rows[0].FromUserID != supplierEnt {
		t.Fatalf("rows %+v, %v", rows, err)
	}
	rows, err = c.QueryUpBillCode(context.Background(), codeB)
	if err != nil || rows != nil {
		t.Fatalf("not found: %+v, %v", rows, err)
	}
}

func TestListUpOut(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		wantParams(t, m, p, map[string]string{"ref_ent_id": ownRef, "begin_date": "2026-11-20", "end_date": "2026-11-27",
			"bill_type": "201", "status": "1", "page": "2", "page_size": "10", "from_user_id": supplierEnt})
		for _, k := range []string{"physic_type", "bill_code", "produce_batch_no"} {
			if _, ok := p[k]; ok {
				t.Errorf("zero option %s sent", k)
			}
		}
		return 200, queryOK(m, map[string]any{"model": map[string]any{"total_num": "11", "page": 2, "page_size": 10, "result_list": []map[string]any{{
			"bill_code": "XS001", "bill_type": "201", "bill_out_id": 9001, "physic_name": "阿莫西林胶囊", "exprie_date": "2028-01-31",
			"code_count": 20, "status": "1", "from_user_id": supplierEnt,
		}}}})
	})
	c := newTestClient(t, g.URL(), nil)
	// 2026-11-20 00:30 China time is still the 19th in UTC: days are China days.
	begin := time.Date(2026, 11, 19, 16, 30, 0, 0, time.UTC)
	page, err := c.ListUpOut(context.Background(), begin, finished, ListUpOutOptions{FromUserID: supplierEnt, BillType: 201, Status: 1, Page: 2, PageSize: 10})
	if err != nil || page.TotalNum != 11 || len(page.ResultList) != 1 {
		t.Fatalf("page %+v, %v", page, err)
	}
	r := page.ResultList[0]
	if r.BillOutID != 9001 || r.Status != 1 || r.ExpireDate != "2028-01-31" || r.CodeCount != 20 {
		t.Errorf("row %+v", r)
	}
}

func TestListUpOutDetail(t *testing.T) {
	const caseCode, unknownCase = "83000000000000000001", "83000000000000000002"
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		if m == wire.MethodQueryRelation {
			wantParams(t, m, p, map[string]string{"ref_ent_id": ownRef, "des_ref_ent_id": ownRef})
			if p["code"] != caseCode {
				return 200, queryNotFound(m)
			}
			// The case, a middle pack and two boxes: only code_pack_level 1
			// rows are packs.
			return 200, queryOK(m, map[string]any{"model_list": []map[string]any{{"is_smallest": "false", "code_relation_list": []map[string]any{
				{"code": caseCode, "code_level": "1", "code_pack_level": "3"},
				{"code": "83000000000000000009", "parent_code": caseCode, "code_level": "2", "code_pack_level": "2"},
				{"code": codeA, "parent_code": "83000000000000000009", "code_level": "3", "code_pack_level": "1"},
				{"code": codeB, "parent_code": "83000000000000000009", "code_level": "3", "code_pack_level": "1"},
			}}}})
		}
		wantParams(t, m, p, map[string]string{"ref_ent_id": ownRef, "from_ref_user_id": "310000000000000001", "to_ref_user_id": ownRef})
		if p["bill_code"] != "XS001" {
			return 200, queryNotFound(m)
		}
		return 200, queryOK(m, map[string]any{"model": map[string]any{"bill_code": "XS001", "bill_type": "201",
			"drug_infos_dto_list": []map[string]any{{"physic_name": "阿莫西林胶囊", "least_pkg_amount": "3", "valid_end_date": "2028-01-31",
				"code_info_list_dto_list": []map[string]any{
					{"code": codeC, "code_level": "1"}, {"code": caseCode, "code_level": "3"}, {"code": unknownCase, "code_level": "2"},
				}}}}})
	})
	c := newTestClient(t, g.URL(), nil)
	d, found, err := c.ListUpOutDetail(context.Background(), "XS001", "310000000000000001", "")
	if err != nil || !found || len(d.Lines) != 1 {
		t.Fatalf("detail %+v, %v, %v", d, found, err)
	}
	want := []Pack{{Code: codeC}, {Code: codeA, Case: caseCode}, {Code: codeB, Case: caseCode}, {Code: unknownCase}}
	if got := d.Lines[0].Packs; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("packs %v, want %v", got, want)
	}
	if len(d.Unexpanded) != 1 || d.Unexpanded[0] != unknownCase || d.Lines[0].Drug.ValidEndDate != "2028-01-31" {
		t.Errorf("unexpanded %v, line %+v", d.Unexpanded, d.Lines[0].Drug)
	}
	if n := len(g.CallsTo(wire.MethodQueryRelation)); n != 2 {
		t.Errorf("%d relation calls, want one per case", n)
	}
	d, found, err = c.ListUpOutDetail(context.Background(), "XS404", "310000000000000001", "")
	if err != nil || found || d != nil {
		t.Fatalf("not found: %+v, %v, %v", d, found, err)
	}
}

func TestQueryBillStatusPaged(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		wantParams(t, m, p, map[string]string{"bill_code": "RK001", "bill_type": "A", "begin_date": "2026-11-26", "end_date": "2026-11-28", "page_size": "50"})
		page, _ := strconv.Atoi(p["page"])
		n := 50
		if page == 2 {
			n = 1
		}
		rows := make([]map[string]any, n)
		for i := range rows {
			rows[i] = map[string]any{"bill_code": fmt.Sprintf("RK001-%d-%d", page, i), "result_type": "3"}
		}
		return 200, queryOK(m, map[string]any{"model": map[string]any{"total_num": 51, "result_list": rows}})
	})
	c := newTestClient(t, g.URL(), nil)
	rows, err := c.QueryBillStatus(context.Background(), "RK001", finished.Add(-24*time.Hour), finished.Add(24*time.Hour))
	if err != nil || len(rows) != 51 || rows[0].ResultType != 3 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	if n := len(g.Calls()); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestQueryUpBillDetail(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch p["bill_code"] {
		case "LS001":
			return 200, queryOK(m, map[string]any{"model": map[string]any{"bill_code": "LS001", "bill_type": "321", "bill_chk_in_out_detail_list_d_t_o_list": []map[string]any{{"physic_name": "阿莫西林胶囊", "min_pkg_count": "1"}}}})
		case "LS002":
			return 200, queryOK(m, map[string]any{"model": map[string]any{"bill_code": "LS002_1"}})
		}
		return 200, queryNotFound(m)
	})
	c := newTestClient(t, g.URL(), nil)
	d, found, err := c.QueryUpBillDetail(context.Background(), "LS001")
	if err != nil || !found || d.BillCode != "LS001" || len(d.Lines) != 1 {
		t.Fatalf("found: %+v %v %v", d, found, err)
	}
	d, found, err = c.QueryUpBillDetail(context.Background(), "LS404")
	if err != nil || found || d != nil {
		t.Fatalf("not found: %+v %v %v", d, found, err)
	}
	// An answer about another bill is not "found".
	if _, found, err = c.QueryUpBillDetail(context.Background(), "LS002"); err == nil || found {
		t.Fatalf("mismatched bill: %v %v", found, err)
	}
}

func TestQueryCodeDetailBatches(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		codes := strings.Split(p["codes"], ",")
		if len(codes) > wire.MaxCodesPerCodeDetail {
			t.Errorf("%d codes in one call", len(codes))
		}
		models := make([]map[string]any, len(codes))
		for i, code := range codes {
			models[i] = map[string]any{"code": code, "package_level": "1",
				"code_status_type_d_t_o": map[string]any{"code_status": "A"}}
		}
		return 200, queryOK(m, map[string]any{"models": models})
	})
	c := newTestClient(t, g.URL(), nil)
	codes := fakeCodes(2500)
	infos, err := c.QueryCodeDetail(context.Background(), codes)
	if err != nil || len(infos) != 2500 || string(infos[2499].Code) != codes[2499] || infos[0].Status.CodeStatus != wire.CodeActive {
		t.Fatalf("%d infos, %v", len(infos), err)
	}
	if n := len(g.Calls()); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}

func TestQueryRelation(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		wantParams(t, m, p, map[string]string{"code": codeA, "ref_ent_id": ownRef, "des_ref_ent_id": ownRef})
		return 200, queryOK(m, map[string]any{"model_list": []map[string]any{{"is_smallest": "true", "code_relation_list": []map[string]any{
			{"code": codeA, "parent_code": codeB, "code_level": "2", "code_pack_level": "1"},
		}}}})
	})
	c := newTestClient(t, g.URL(), nil)
	rels, err := c.QueryRelation(context.Background(), codeA)
	if err != nil || len(rels) != 1 || len(rels[0].CodeRelationList) != 1 || rels[0].CodeRelationList[0].ParentCode != codeB {
		t.Fatalf("%+v %v", rels, err)
	}
	if v, ok := rels[0].IsSmallestPack(); !v || !ok {
		t.Errorf("is_smallest %q read as %v %v", rels[0].IsSmallest, v, ok)
	}
}

func TestListBillProcessPartSuccessCollectsPages(t *testing.T) {
	// Rows at model.result, fields at the top level of the response (the
	// SDK's layout); pages says how many pages there are, even when a page
	// is full.
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		wantParams(t, m, p, map[string]string{"ref_ent_id": ownRef, "bill_code": "LS004", "page_size": "100"})
		page, _ := strconv.Atoi(p["page"])
		rows := make([]map[string]any, 100)
		for i := range rows {
			rows[i] = map[string]any{"code": fmt.Sprintf("c%d-%d", page, i), "error_code": "E1", "error_code_desc": "码未激活"}
		}
		return 200, wrapped(m, map[string]any{"msg_code": "SUCCESS", "response_success": true,
			"model": map[string]any{"result": rows, "pages": 2, "total_num": 200, "page": page, "page_size": 100}})
	})
	c := newTestClient(t, g.URL(), nil)
	rows, err := c.ListBillProcessPartSuccess(context.Background(), "LS004")
	if err != nil || len(rows) != 200 || rows[199].Code != "c2-99" {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	if n := len(g.Calls()); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestGetEntInfoList(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		var q wire.EntQuery
		if err := json.Unmarshal([]byte(p["query_param"]), &q); err != nil || q.OrgCode != "91310000MA1FL0000X" {
			t.Errorf("query_param %q", p["query_param"])
		}
		wantParams(t, m, p, map[string]string{"ref_ent_id": ownRef})
		return 200, queryOK(m, map[string]any{"model": []map[string]any{
			{"ent_id": ownEnt, "ref_ent_id": ownRef, "ent_name": "某某大药房（长宁店）", "unique_code": "91310000MA1FL0000X", "audit_status": 1, "settle_status": "1"},
		}})
	})
	c := newTestClient(t, g.URL(), nil)
	ents, err := c.GetEntInfoList(context.Background(), wire.EntQuery{OrgCode: "91310000MA1FL0000X"})
	if err != nil || len(ents) != 1 || ents[0].EntID != ownEnt || ents[0].SettleStatus != 1 || ents[0].UniqueCode != "91310000MA1FL0000X" {
		t.Fatalf("%+v %v", ents, err)
	}
	if _, err := c.GetEntInfoList(context.Background(), wire.EntQuery{}); err == nil {
		t.Errorf("empty query accepted")
	}
	if len(g.Calls()) != 1 {
		t.Errorf("empty query reached the gateway")
	}
}

func TestQuerySimplifiedAndErrors(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		if p["simplify"] != "true" {
			t.Errorf("simplify not sent")
		}
		if p["code"] == codeB {
			return 200, ansISV
		}
		return 200, `{"result":{"msg_code":"SUCCESS","response_success":true,"model_list":[{"is_smallest":"1"}]},"request_id":"r"}`
	})
	c := newTestClient(t, g.URL(), func(cf *Config) { cf.Simplify = true })
	rels, err := c.QueryRelation(context.Background(), codeA)
	if err != nil || len(rels) != 1 {
		t.Fatalf("%+v %v", rels, err)
	}
	_, err = c.QueryRelation(context.Background(), codeB)
	var e *Error
	if !errors.As(err, &e) || e.Class != upload.Permanent || e.SubCode != "isv.invalid-parameter" {
		t.Fatalf("error %v", err)
	}
	// Call exposes the raw body for methods without a typed wrapper.
	body, err := c.Call(context.Background(), "alibaba.alihealth.drug.lsyd.searchbill", map[string]string{"bill_code": "X"})
	if err != nil || !strings.Contains(string(body), `"result"`) {
		t.Fatalf("Call: %s %v", body, err)
	}
}

// TestListAnswersUnderOtherNames: list queries answered under another
// method's payload name (model, model_list, models) are still read.
func TestListAnswersUnderOtherNames(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		switch m {
		case wire.MethodQueryUpBillCode:
			return 200, queryOK(m, map[string]any{"model": map[string]any{"bill_code": "XS1"}})
		case wire.MethodQueryCodeDetail:
			return 200, queryOK(m, map[string]any{"model_list": []map[string]any{{"code": codeA}}})
		case wire.MethodQueryRelation:
			return 200, queryOK(m, map[string]any{"model": []map[string]any{{"is_smallest": "true"}}})
		case wire.MethodGetEntInfoList:
			return 200, queryOK(m, map[string]any{"model_list": []map[string]any{{"ent_id": ownEnt}}})
		}
		return 200, queryNotFound(m)
	})
	c := newTestClient(t, g.URL(), nil)
	ctx := context.Background()
	if rows, err := c.QueryUpBillCode(ctx, codeA); err != nil || len(rows) != 1 || rows[0].BillCode != "XS1" {
		t.Errorf("upbillcode %+v %v", rows, err)
	}
	if rows, err := c.QueryCodeDetail(ctx, []string{codeA}); err != nil || len(rows) != 1 || rows[0].Code != codeA {
		t.Errorf("codedetail %+v %v", rows, err)
	}
	if rows, err := c.QueryRelation(ctx, codeA); err != nil || len(rows) != 1 || rows[0].IsSmallest != "true" {
		t.Errorf("relation %+v %v", rows, err)
	}
	if rows, err := c.GetEntInfoList(ctx, wire.EntQuery{EntName: "x"}); err != nil || len(rows) != 1 || rows[0].EntID != ownEnt {
		t.Errorf("getentinfolist %+v %v", rows, err)
	}
}

// TestUnreadablePayloadIsRetried: a list answered with a number is no
// shape any source allows; the call is retried, not taken as empty.
func TestUnreadablePayloadIsRetried(t *testing.T) {
	g := newGateway(t, func(m string, p map[string]string) (int, string) {
		return 200, queryOK(m, map[string]any{"models": 7})
	})
	c := newTestClient(t, g.URL(), nil)
	_, err := c.QueryCodeDetail(context.Background(), []string{codeA})
	var e *Error
	if !errors.As(err, &e) || e.Class != upload.Retry {
		t.Fatalf("error %v", err)
	}
}

// TestListUpOutDetailCaseExpansionFailures: a refused relation query
// leaves the case as one pack; a transient failure fails the detail, so a
// receiving never starts with a case silently missing its boxes.
func TestListUpOutDetailCaseExpansionFailures(t *testing.T) {
	const caseCode = "83000000000000000001"
	for _, tt := range []struct {
		name    string
		answer  func(m string) (int, string)
		wantErr bool
	}{
		{"refused", func(m string) (int, string) {
			return 200, queryOK(m, map[string]any{"msg_code": "FAIL_BIZ_NOT_CURRENT_OPERATE_CODE", "msg_info": "非当前企业操作码", "response_success": false})
		}, false},
		{"busy", func(m string) (int, string) {
			return 200, topErrBody(15, "Remote service error", "isp.system-busy", "系统繁忙")
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, func(m string, p map[string]string) (int, string) {
				if m == wire.MethodQueryRelation {
					return tt.answer(m)
				}
				return 200, queryOK(m, map[string]any{"model": map[string]any{"bill_code": "XS1",
					"drug_infos_dto_list": []map[string]any{{"code_info_list_dto_list": []map[string]any{{"code": caseCode, "code_level": "2"}}}}}})
			})
			c := newTestClient(t, g.URL(), nil)
			d, found, err := c.ListUpOutDetail(context.Background(), "XS1", "310000000000000001", "")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error: %+v", d)
				}
				return
			}
			if err != nil || !found || len(d.Lines) != 1 || len(d.Lines[0].Packs) != 1 || d.Lines[0].Packs[0] != (Pack{Code: caseCode}) ||
				len(d.Unexpanded) != 1 {
				t.Fatalf("detail %+v, %v, %v", d, found, err)
			}
		})
	}
}
