package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// Layout is where an answer's payload fields (model, msg_code, msg_info,
// response_success …) sit in the response object.
type Layout int

const (
	// LayoutDeclared answers in the layout the public SDK declares for the
	// method (DeclaredLayout).
	LayoutDeclared Layout = iota
	// LayoutResult nests the payload in a "result" object, as the SDK
	// declares for the queries (e.g. response/…QueryBillstatusResponse.go).
	LayoutResult
	// LayoutTopLevel puts the payload fields at the top level of the
	// response, as the SDK declares for the uploads and
	// listbillprocesspartsuccess (response/…ListbillprocesspartsuccessResponse.go).
	LayoutTopLevel
)

// String names the layout in test output.
func (l Layout) String() string {
	switch l {
	case LayoutDeclared:
		return "declared"
	case LayoutResult:
		return "result"
	case LayoutTopLevel:
		return "top-level"
	}
	return fmt.Sprintf("layout(%d)", int(l))
}

// DeclaredLayout is the layout golgys0621/topsdk ability2939/response
// declares for a served method: top level for uploadinoutbill, uploadretail
// and listbillprocesspartsuccess (fields on …Response itself), "result"
// for every other method (…Response.Result).
func DeclaredLayout(method string) Layout {
	switch method {
	case methodUploadInOutBill, methodUploadRetail, methodListBillProcessPartSuccess:
		return LayoutTopLevel
	}
	return LayoutResult
}

// listItems maps, per method, each list field to the XML name of its items:
// the classic (non-simplified) TOP JSON wraps a list as {item: [...]}.
// The names are bububa/opentaobao's xml:"list>item" tags in model/drugtrace
// (the type names in snake case); the two marked inferred have no tag
// there and follow the same rule.
var listItems = map[string]map[string]string{
	methodQueryUpBillCode: {"model_list": "bill_upstream_dto"},
	methodListUpOut:       {"result_list": "bill_up_out_detail_do"},
	methodListUpOutDetail: {"drug_infos_dto_list": "drug_infos_dto", "code_info_list_dto_list": "code_info_list_dto"},
	methodQueryBillStatus: {"result_list": "bill_deal_status_search_do"},
	methodQueryUpBillDetail: {"bill_chk_in_out_detail_list_d_t_o_list": "billchkinoutdetaillistdtolist",
		"code_and_parent_list": "codeandparentlist"},
	methodQueryCodeDetail: {"models": "code_full_info_dto", "produce_info_list": "produce_info_dto"},
	methodQueryRelation: {"model_list": "code_relation_dto", "code_relation_list": "code_info", "code_list": "string",
		"base_info_list": "base_info_dto", "produce_info_list": "produce_info_dto"},
	methodListBillProcessPartSuccess: {"result": "bill_process_part_success_excel_dto"}, // inferred
	methodGetEntInfoList:             {"model": "top_ent_info_resp_dto"},                // inferred
	methodSearchBill:                 {"result_list": "bill_chk_in_out_do"},             // inferred
	methodQueryBillCount:             {"model_list": "bill_type_count_d_t_o"},           // inferred
	methodQueryUpOutBillCount:        {"model_list": "bill_type_count_d_t_o"},           // inferred
	methodQueryUpOutBillLog:          {"result_list": "bill_up_out_log_d_t_o"},          // inferred
}

// ListItemName is the XML item name under which a list field of a method
// is wrapped when the request does not ask for simplify=true ("" if the
// field is not a list of that method).
func ListItemName(method, field string) string { return listItems[method][field] }

// layoutFor is the layout the server answers a method in.
func (s *Server) layoutFor(method string) Layout {
	l := s.layout
	if v, ok := s.layouts[method]; ok && v != LayoutDeclared {
		l = v
	}
	if l == LayoutDeclared {
		l = DeclaredLayout(method)
	}
	return l
}

// fields is a payload's JSON object.
type fields map[string]any

// payload returns the JSON fields of a method's answer.
func payloadFields(body any) fields {
	switch b := body.(type) {
	case *queryModel:
		f := fields{"msg_code": b.MsgCode, "msg_info": b.MsgInfo, b.successKey: b.success}
		if b.payloadKey != "" && b.payload != nil {
			f[b.payloadKey] = b.payload
		}
		return f
	case fields:
		return b
	}
	// uploadAnswer and partSuccessAnswer are structs: their own fields.
	return toFields(body)
}

// toFields turns a struct into its JSON object.
func toFields(v any) fields {
	data, err := json.Marshal(v)
	if err != nil {
		return fields{}
	}
	var f fields
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if d.Decode(&f) != nil {
		return fields{}
	}
	return f
}

// answer writes a business answer in the request's shape: the payload in
// the method's layout, plus request_id; under the "<method>_response"
// wrapper with every list as {item: [...]} unless simplify=true.
func (s *Server) answer(w http.ResponseWriter, c *call, body any) {
	p := payloadFields(body)
	var top fields
	if s.layoutFor(c.method) == LayoutTopLevel {
		top = p
	} else {
		top = fields{"result": p}
	}
	top["request_id"] = c.reqID
	if c.simplify {
		writeJSON(w, http.StatusOK, top)
		return
	}
	tree := toFields(top)
	wrapLists(tree, listItems[c.method])
	writeJSON(w, http.StatusOK, fields{responseKey(c.method): tree})
}

// wrapLists rewrites, in place, every array under a key of items into
// {item: array}, depth first.
func wrapLists(v any, items map[string]string) {
	switch t := v.(type) {
	case fields:
		wrapObject(t, items)
	case map[string]any:
		wrapObject(t, items)
	case []any:
		for _, e := range t {
			wrapLists(e, items)
		}
	}
}

func wrapObject(m map[string]any, items map[string]string) {
	for k, e := range m {
		wrapLists(e, items)
		if arr, ok := e.([]any); ok {
			if item := items[k]; item != "" {
				m[k] = map[string]any{item: arr}
			}
		}
	}
}
