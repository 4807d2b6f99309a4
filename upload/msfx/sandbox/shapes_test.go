package sandbox_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

// shapeCalls are one successful call per method against a world where every
// list has rows: the store received DefaultUpBill1's case and a loose box
// in SHP-1 (with one malformed code, so part success has a row).
func shapeCalls(t *testing.T, s *sandbox.Server, simplify bool, layout string) map[string]*answer {
	t.Helper()
	out := map[string]*answer{}
	run := func(c *tcall) *answer {
		t.Helper()
		if simplify {
			c.p["simplify"] = "true"
		}
		c.layout = layout
		a := c.serve(t, s)
		out[c.p["method"]] = a
		return a
	}
	wantAccepted(t, run(inOut("SHP-1", 102, sandbox.DefaultCaseCode, box(5000), "123")))
	wantAccepted(t, run(retail("SHP-2", 321, box(5000))))
	for _, c := range []*tcall{
		query(mUpBillCode, map[string]string{"code": sandbox.DefaultBoxCode}),
		listUpOut(nil),
		query(mUpOutDetail, map[string]string{"bill_code": sandbox.DefaultUpBill1}),
		billStatus("SHP-1"),
		query(mUpBillDet, map[string]string{"bill_code": "SHP-1"}),
		query(mCodeDetail, map[string]string{"codes": sandbox.DefaultBoxCode + "," + sandbox.DefaultCaseCode}),
		query(mRelation, map[string]string{"code": sandbox.DefaultCaseChild}),
		query(mPartSuccess, map[string]string{"bill_code": "SHP-1"}),
		query(mEntInfoList, map[string]string{"query_param": `{"ent_id":"` + storeEnt + `"}`}),
	} {
		if a := run(c); a.q == nil || !a.q.OK() {
			t.Fatalf("%s: %s", c.p["method"], a)
		}
	}
	return out
}

// checkKeys compares one object with a declared type, and every element
// of a list with its item type.
func checkKeys(t *testing.T, where string, raw json.RawMessage, typ string) {
	t.Helper()
	if diff := sameKeys(raw, typ); diff != "" {
		t.Errorf("%s: %s", where, diff)
	}
}

func checkEach(t *testing.T, where string, raw json.RawMessage, typ string, each func(i int, item json.RawMessage)) {
	t.Helper()
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
		t.Errorf("%s: want a non-empty list: %v %s", where, err, raw)
		return
	}
	for i, it := range items {
		w := fmt.Sprintf("%s[%d]", where, i)
		checkKeys(t, w, it, typ)
		if each != nil {
			each(i, it)
		}
	}
}

func field(t *testing.T, raw json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not an object: %s", raw)
	}
	return m[name]
}

// checkDeclaredFields checks every answer's payload against the SDK
// domain types, field for field, down through the lists.
func checkDeclaredFields(t *testing.T, got map[string]*answer) {
	t.Helper()
	q := func(m string) map[string]json.RawMessage { return got[m].q.fields }
	payloadKeys := func(m string, keys ...string) {
		t.Helper()
		want := append([]string{"msg_code", "msg_info", successFlag(m)}, keys...)
		var have []string
		for k := range q(m) {
			have = append(have, k)
		}
		if len(have) != len(want) {
			t.Errorf("%s payload keys %v, want %v", m, have, want)
		}
		for _, k := range keys {
			if _, ok := q(m)[k]; !ok {
				t.Errorf("%s payload without %s", m, k)
			}
		}
	}
	payloadKeys(mUpBillCode, "model_list")
	checkEach(t, "upbillcode model_list", q(mUpBillCode)["model_list"], "BillUpstreamDTO", nil)

	payloadKeys(mListUpOut, "model")
	checkKeys(t, "listupout model", q(mListUpOut)["model"], "ListupoutPageInfoDto")
	checkEach(t, "listupout result_list", field(t, q(mListUpOut)["model"], "result_list"), "BillUpOutDetailDo",
		func(_ int, it json.RawMessage) {
			if id := string(field(t, it, "bill_out_id")); id == "" || id[0] == '"' {
				t.Errorf("bill_out_id %s is not a JSON number (SDK int64)", id)
			}
			if st := string(field(t, it, "status")); st[0] != '"' {
				t.Errorf("status %s is not a JSON string (SDK *string)", st)
			}
		})

	payloadKeys(mUpOutDetail, "model")
	checkKeys(t, "detail model", q(mUpOutDetail)["model"], "BillUpOutDetailDto")
	checkEach(t, "detail drug_infos_dto_list", field(t, q(mUpOutDetail)["model"], "drug_infos_dto_list"), "DrugInfosDto",
		func(i int, it json.RawMessage) {
			checkEach(t, fmt.Sprintf("detail drug %d codes", i), field(t, it, "code_info_list_dto_list"), "CodeInfoListDto", nil)
		})

	payloadKeys(mBillStatus, "model")
	checkKeys(t, "billstatus model", q(mBillStatus)["model"], "BillstatusPageInfoDto")
	checkEach(t, "billstatus result_list", field(t, q(mBillStatus)["model"], "result_list"), "BillDealStatusSearchDo", nil)

	payloadKeys(mUpBillDet, "model")
	checkKeys(t, "upbilldetail model", q(mUpBillDet)["model"], "BillInOutDetailDto")
	checkEach(t, "upbilldetail lines", field(t, q(mUpBillDet)["model"], "bill_chk_in_out_detail_list_d_t_o_list"),
		"Billchkinoutdetaillistdtolist", func(i int, it json.RawMessage) {
			checkEach(t, fmt.Sprintf("upbilldetail line %d codes", i), field(t, it, "code_and_parent_list"), "Codeandparentlist", nil)
		})

	payloadKeys(mCodeDetail, "models")
	checkEach(t, "codedetail models", q(mCodeDetail)["models"], "CodeFullInfoDto", func(i int, it json.RawMessage) {
		w := fmt.Sprintf("codedetail %d", i)
		checkKeys(t, w+" drug", field(t, it, "drug_ent_base_d_t_o"), "DrugEntBaseDto")
		pi := field(t, it, "code_produce_info_d_t_o")
		checkKeys(t, w+" produce", pi, "CodeProduceInfoDto")
		checkEach(t, w+" produce_info_list", field(t, pi, "produce_info_list"), "CodedetailProduceInfoDto", nil)
	})

	payloadKeys(mRelation, "model_list")
	checkEach(t, "relation model_list", q(mRelation)["model_list"], "CodeRelationDto", func(i int, it json.RawMessage) {
		w := fmt.Sprintf("relation %d", i)
		checkKeys(t, w+" active", field(t, it, "code_active_info_dto"), "CodeActiveInfoDto")
		checkEach(t, w+" code_relation_list", field(t, it, "code_relation_list"), "CodeInfo", nil)
		checkEach(t, w+" base_info_list", field(t, field(t, it, "base_infos_dto"), "base_info_list"), "BaseInfoDto", nil)
		checkEach(t, w+" produce_info_list", field(t, it, "produce_info_list"), "RelationProduceInfoDto", nil)
		var list []string
		if err := json.Unmarshal(field(t, field(t, it, "pkg_info_dto"), "code_list"), &list); err != nil || len(list) == 0 {
			t.Errorf("%s code_list: %v", w, err)
		}
		if s := string(field(t, it, "is_smallest")); s != `"true"` && s != `"false"` {
			t.Errorf("%s is_smallest %s is not a string", w, s)
		}
	})

	pm, _ := json.Marshal(q(mPartSuccess))
	checkKeys(t, "partsuccess payload", pm, "PartSuccessResponse")
	checkKeys(t, "partsuccess model", q(mPartSuccess)["model"], "PartSuccessPageInfoDTO")
	checkEach(t, "partsuccess result", field(t, q(mPartSuccess)["model"], "result"), "BillProcessPartSuccessExcelDTO", nil)

	payloadKeys(mEntInfoList, "model")
	checkEach(t, "getentinfolist model", q(mEntInfoList)["model"], "TopEntInfoRespDto", nil)
}

// TestShapesAndLayouts runs every method in both list shapes (simplify
// true: plain arrays, no wrapper; false: the <method>_response wrapper and
// lists as {item: [...]}) and every layout (declared, all in result, all at
// the top level), checking the answers field by field against the SDK.
func TestShapesAndLayouts(t *testing.T) {
	for _, simplify := range []bool{false, true} {
		for _, lay := range []struct {
			opt  sandbox.Layout
			want string // "" = the SDK's declared layout per method
		}{{sandbox.LayoutDeclared, ""}, {sandbox.LayoutResult, "result"}, {sandbox.LayoutTopLevel, "top"}} {
			t.Run(fmt.Sprintf("simplify=%v/%s", simplify, lay.opt), func(t *testing.T) {
				s := newServer(t, sandbox.Options{ProcessAfter: sandbox.ProcessAtOnce, Layout: lay.opt})
				got := shapeCalls(t, s, simplify, lay.want)
				if len(got) != len(allMethods) {
					t.Fatalf("%d methods answered, want %d", len(got), len(allMethods))
				}
				for _, m := range allMethods {
					a := got[m]
					want := lay.want
					if want == "" {
						want = map[bool]string{true: "top", false: "result"}[topLevelDeclared(m)]
					}
					if a.layout != want {
						t.Errorf("%s: layout %s, want %s", m, a.layout, want)
					}
					wrapped := strings.Contains(string(a.data), `"`+strings.ReplaceAll(m, ".", "_")+`_response"`)
					if wrapped == simplify {
						t.Errorf("%s: wrapper present %v with simplify=%v: %s", m, wrapped, simplify, a.data)
					}
				}
				checkDeclaredFields(t, got)
			})
		}
	}
}

// TestClassicListShapeOnTheWire pins the classic shape's bytes for a few
// lists named in the metadata, apart from the decoder's unwrapping.
func TestClassicListShapeOnTheWire(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	wantAccepted(t, inOut("CL-1", 102, sandbox.DefaultCaseCode).serve(t, s))
	for _, tc := range []struct {
		c    *tcall
		want []string
	}{
		{listUpOut(nil), []string{`"result_list":{"bill_up_out_detail_do":[{`}},
		{query(mUpOutDetail, map[string]string{"bill_code": sandbox.DefaultUpBill1}),
			[]string{`"drug_infos_dto_list":{"drug_infos_dto":[{`, `"code_info_list_dto_list":{"code_info_list_dto":[{`}},
		{query(mCodeDetail, map[string]string{"codes": sandbox.DefaultBoxCode}),
			[]string{`"models":{"code_full_info_dto":[{`, `"produce_info_list":{"produce_info_dto":[{`}},
		{query(mRelation, map[string]string{"code": sandbox.DefaultCaseCode}),
			[]string{`"model_list":{"code_relation_dto":[{`, `"code_list":{"string":["`}},
	} {
		a := tc.c.serve(t, s)
		for _, w := range tc.want {
			if !strings.Contains(string(a.data), w) {
				t.Errorf("%s: no %s in %s", tc.c.p["method"], w, a.data)
			}
		}
		tc.c.p["simplify"] = "true"
		a = tc.c.serve(t, s)
		for _, w := range tc.want {
			key, _, _ := strings.Cut(w, ":")
			if !strings.Contains(string(a.data), key+":[") {
				t.Errorf("simplify=true %s: %s is not a plain array: %s", tc.c.p["method"], key, a.data)
			}
		}
	}
}

// TestLayoutPerMethod switches single methods away from their declared
// layout, leaving the others as the SDK declares them.
func TestLayoutPerMethod(t *testing.T) {
	s := newServer(t, sandbox.Options{ProcessAfter: sandbox.ProcessAtOnce, Layouts: map[string]sandbox.Layout{
		mPartSuccess: sandbox.LayoutResult, mBillStatus: sandbox.LayoutTopLevel, mInOut: sandbox.LayoutResult}})
	c := inOut("LP-1", 102, box(6000))
	c.layout = "result"
	wantAccepted(t, c.serve(t, s))
	c = retail("LP-2", 321, box(6000)) // declared: top level
	wantAccepted(t, c.serve(t, s))
	c = billStatus("LP-1")
	c.layout = "top"
	if rows := statusRows(t, c.serve(t, s)); len(rows) != 1 || rows[0].ResultType != "3" {
		t.Errorf("billstatus at the top level: %+v", rows)
	}
	c = query(mPartSuccess, map[string]string{"bill_code": "LP-1"})
	c.layout = "result"
	if pp := partPage(t, c.serve(t, s)); pp.TotalNum != 0 || pp.Page != 1 {
		t.Errorf("partsuccess in result: %+v", pp)
	}
	c = query(mUpBillDet, map[string]string{"bill_code": "LP-1"}) // declared: result
	if a := c.serve(t, s); a.q == nil || !a.q.OK() {
		t.Errorf("upbilldetail: %s", a)
	}
	if got := sandbox.DeclaredLayout(mPartSuccess); got != sandbox.LayoutTopLevel {
		t.Errorf("DeclaredLayout(partsuccess) = %v", got)
	}
	if got := sandbox.DeclaredLayout(mBillStatus); got != sandbox.LayoutResult {
		t.Errorf("DeclaredLayout(billstatus) = %v", got)
	}
}

// sdkRequired are the parameters the SDK request types mark
// required:"true" (ability2939/request/<Method>Request.go); upbillcode's
// are optional there and required by the sandbox (nothing to look up
// without them).
var sdkRequired = map[string][]string{
	mInOut:       {"bill_code", "bill_time", "bill_type", "physic_type", "ref_user_id", "from_user_id", "to_user_id", "trace_codes", "client_type"},
	mRetail:      {"bill_code", "bill_time", "bill_type", "ref_user_id", "trace_codes"},
	mUpBillCode:  {"code", "ref_ent_id"},
	mListUpOut:   {"ref_ent_id", "begin_date", "end_date", "page_size", "page"},
	mUpOutDetail: {"ref_ent_id", "bill_code", "from_ref_user_id", "to_ref_user_id"},
	mBillStatus:  {"ref_ent_id", "begin_date", "end_date", "bill_type", "page_size", "page"},
	mUpBillDet:   {"bill_code", "ref_ent_id"},
	mCodeDetail:  {"ref_ent_id", "codes"},
	mRelation:    {"ref_ent_id", "code", "des_ref_ent_id"},
	mPartSuccess: {"ref_ent_id", "page", "page_size"},
	mEntInfoList: {"ref_ent_id"},
}

func TestRequiredParamsAsDeclared(t *testing.T) {
	s := newServer(t, sandbox.Options{})
	valid := map[string]func() *tcall{
		mInOut:       func() *tcall { return inOut("RQ-1", 102, box(7000)) },
		mRetail:      func() *tcall { return retail("RQ-2", 321, box(7001)) },
		mUpBillCode:  func() *tcall { return query(mUpBillCode, map[string]string{"code": sandbox.DefaultBoxCode}) },
		mListUpOut:   func() *tcall { return listUpOut(nil) },
		mUpOutDetail: func() *tcall { return query(mUpOutDetail, map[string]string{"bill_code": sandbox.DefaultUpBill1}) },
		mBillStatus:  func() *tcall { return billStatus("RQ-1") },
		mUpBillDet:   func() *tcall { return query(mUpBillDet, map[string]string{"bill_code": "RQ-1"}) },
		mCodeDetail:  func() *tcall { return query(mCodeDetail, map[string]string{"codes": sandbox.DefaultBoxCode}) },
		mRelation:    func() *tcall { return query(mRelation, map[string]string{"code": sandbox.DefaultBoxCode}) },
		mPartSuccess: func() *tcall { return query(mPartSuccess, map[string]string{}) },
		mEntInfoList: func() *tcall { return query(mEntInfoList, map[string]string{}) },
	}
	for _, m := range allMethods {
		for _, name := range sdkRequired[m] {
			c := valid[m]()
			if _, ok := c.p[name]; !ok {
				t.Fatalf("%s: the valid call lacks %s", m, name)
			}
			delete(c.p, name)
			a := c.serve(t, s)
			if a.err == nil || a.err.Code != 40 || a.err.SubCode != "isv.missing-parameter" || !strings.Contains(a.err.SubMsg, name) {
				t.Errorf("%s without %s: %s", m, name, a)
			}
		}
		// The complete call passes the parameter checks.
		if a := valid[m]().serve(t, s); a.err != nil {
			t.Errorf("%s complete: %s", m, a)
		}
	}
}
