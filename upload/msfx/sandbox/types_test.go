package sandbox_test

// The tests' own view of the protocol, written from the public SDK
// (golgys0621/topsdk new_go_sdk_20251217, ability2939/{request,response,domain})
// and bububa/opentaobao (model/drugtrace xml item names), apart from both
// the client (package wire) and the sandbox's own answer types.

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
)

const (
	mInOut       = "alibaba.alihealth.drugtrace.top.lsyd.uploadinoutbill"
	mRetail      = "alibaba.alihealth.drugtrace.top.lsyd.uploadretail"
	mUpBillCode  = "alibaba.alihealth.drugtrace.top.lsyd.query.upbillcode"
	mListUpOut   = "alibaba.alihealth.drugtrace.top.lsyd.listupout"
	mUpOutDetail = "alibaba.alihealth.drugtrace.top.lsyd.listupout.detail"
	mBillStatus  = "alibaba.alihealth.drugtrace.top.lsyd.query.billstatus"
	mUpBillDet   = "alibaba.alihealth.drugtrace.top.lsyd.query.upbilldetail"
	mCodeDetail  = "alibaba.alihealth.drugtrace.top.lsyd.query.codedetail"
	mRelation    = "alibaba.alihealth.drugtrace.top.lsyd.query.relation"
	mPartSuccess = "alibaba.alihealth.drugtrace.top.lsyd.listbillprocesspartsuccess"
	mEntInfoList = "alibaba.alihealth.drug.lsyd.getentinfolist"

	msgOK        = "SUCCESS"
	msgFAIL      = "FAIL"
	msgNoPatInfo = "FAIL_BIZ_NO_PAT_INFO"
	msgAuth      = "FAIL_BIZ_AUTH_ERROR"
	msgRepeat    = "FAIL_BIZ_BILL_DUPLICATE_UPLOAD_BILLCODE_REPEAT_CODE"
	txtDuplicate = "该单据号已存在"
	txtSold      = "存在已出售的码"
	txtBusy      = "系统繁忙"
)

var allMethods = []string{mInOut, mRetail, mUpBillCode, mListUpOut, mUpOutDetail, mBillStatus, mUpBillDet,
	mCodeDetail, mRelation, mPartSuccess, mEntInfoList}

// topLevelDeclared are the methods whose SDK response type carries the
// payload fields itself (ability2939/response/…UploadinoutbillResponse.go,
// …UploadretailResponse.go, …ListbillprocesspartsuccessResponse.go); the
// others declare a Result field.
func topLevelDeclared(method string) bool {
	return method == mInOut || method == mRetail || method == mPartSuccess
}

// successFlag is the name of the success flag: "success" in
// domain/…QueryUpbillcodeResult.go and …ListupoutDetailResultModel.go.
func successFlag(method string) string {
	if method == mUpBillCode || method == mUpOutDetail {
		return "success"
	}
	return "response_success"
}

// itemNames: per method, each list field → XML item name (bububa/opentaobao
// model/drugtrace xml:"list>item"; partsuccess and getentinfolist inferred
// from the type names).
var itemNames = map[string]map[string]string{
	mUpBillCode:  {"model_list": "bill_upstream_dto"},
	mListUpOut:   {"result_list": "bill_up_out_detail_do"},
	mUpOutDetail: {"drug_infos_dto_list": "drug_infos_dto", "code_info_list_dto_list": "code_info_list_dto"},
	mBillStatus:  {"result_list": "bill_deal_status_search_do"},
	mUpBillDet: {"bill_chk_in_out_detail_list_d_t_o_list": "billchkinoutdetaillistdtolist",
		"code_and_parent_list": "codeandparentlist"},
	mCodeDetail: {"models": "code_full_info_dto", "produce_info_list": "produce_info_dto"},
	mRelation: {"model_list": "code_relation_dto", "code_relation_list": "code_info", "code_list": "string",
		"base_info_list": "base_info_dto", "produce_info_list": "produce_info_dto"},
	mPartSuccess: {"result": "bill_process_part_success_excel_dto"},
	mEntInfoList: {"model": "top_ent_info_resp_dto"},
}

// declaredKeys: the JSON fields of each SDK domain type the tests check
// answers against, field for field (ability2939/domain/<Type>.go).
var declaredKeys = map[string][]string{
	"UploadResponse": {"model", "msg_code", "msg_info", "response_success", "sub_msg_code", "operation_info_map"},
	"BillUpstreamDTO": {"from_user_name", "bill_time", "ref_user_id", "from_user_id", "bill_type", "to_user_name",
		"bill_code", "to_user_id", "to_ref_user_id", "from_ref_user_id", "ass_ref_ent_id", "ass_ent_id", "ass_ent_name"},
	"ListupoutPageInfoDto": {"result_list", "total_num"},
	"BillUpOutDetailDo": {"from_ent_name", "code_count", "exprie_date", "produce_ent_name", "produce_date",
		"produce_batch_no", "pkg_spec", "physic_info", "physic_name", "prepn_count", "from_ref_user_id", "to_ref_user_id",
		"bill_time", "bill_code", "bill_type", "to_user_name", "from_user_name", "exprie_date_format", "bill_time_format",
		"bill_out_id", "prepn_unit", "prepn_spec", "drug_ent_base_info_id", "produce_date_format", "status", "to_user_id",
		"from_user_id", "ass_ref_ent_id", "ass_ent_id", "ass_ent_name"},
	"BillUpOutDetailDto": {"bill_code", "bill_type_name", "bill_type", "ent_send_name", "ent_send_id", "ent_recv_name",
		"ent_recv_id", "store_out_date", "update_date", "drug_infos_dto_list"},
	"DrugInfosDto": {"produce_date", "product_ent_name", "package_spec", "prod_name", "physic_name", "prepn_spec",
		"prepn_unit", "produce_batch_no", "prod_seq_no", "drug_ent_base_info_id", "valid_end_date", "least_pkg_amount",
		"least_prepn_amount", "approval_no", "physic_type", "physic_type_name", "preparations_unit", "prepn_type_desc",
		"code_info_list_dto_list", "pkg_unit_desc", "cfda_drug_id"},
	"CodeInfoListDto":        {"prepn_spec", "prepn_amount", "pkg_amount", "code_level", "code"},
	"BillstatusPageInfoDto":  {"total_num", "result_list"},
	"BillDealStatusSearchDo": {"store_inout_seq_no", "physic_type", "upload_file_name", "from_user_name", "role_type", "crt_date", "ic_code", "short_file_name", "ref_user_name", "bill_time", "result_type", "upload_flag", "process_flag", "process_date", "bill_code", "bill_type", "to_user_name", "from_user_id", "from_ref_user_id", "to_user_id", "ref_user_id", "to_ref_user_id", "user_id", "process_info", "sub_process_flag"},
	"BillInOutDetailDto": {"mod_date", "process_date", "bill_time", "to_user_id", "to_ent_name", "from_user_id",
		"from_ent_name", "bill_type_name", "bill_type", "bill_code", "bill_chk_in_out_detail_list_d_t_o_list"},
	"Billchkinoutdetaillistdtolist": {"expired_date", "produce_ent_name", "prod_code", "product_code", "produce_date",
		"product_batch_no", "drug_ent_base_info_id", "physic_name", "preparations_unit", "temp_pkg_spec",
		"min_preparations_count", "min_pkg_count", "physic_type_name", "physic_type", "code_and_parent_list", "approve_no"},
	"Codeandparentlist": {"code", "code_level", "parent_code"},
	"CodeFullInfoDto": {"code_status_type_d_t_o", "code", "p_user_ent_d_t_o", "package_level", "drug_ent_base_d_t_o",
		"code_produce_info_d_t_o"},
	"DrugEntBaseDto": {"physic_type_desc", "physic_name", "exprie", "drug_ent_base_info_id", "approval_licence_no",
		"pkg_spec_crit", "prepn_spec", "prepn_type_desc"},
	"CodeProduceInfoDto": {"produce_info_list"},
	"CodedetailProduceInfoDto": {"produce_date_str", "pkg_amount", "expire_date", "batch_no", "original_produce_date",
		"original_expire_date"},
	"CodeRelationDto": {"code_active_info_dto", "code_relation_list", "is_smallest", "pkg_info_dto", "base_infos_dto",
		"produce_info_list"},
	"CodeActiveInfoDto": {"process_flag", "status", "relation_type", "user_cert", "prod_code", "oper_ic_name",
		"upload_file_name", "upload_file_path", "active_date", "ref_ent_id", "ent_id", "process_date", "process_end_date",
		"oper_ic_code", "upload_flag", "crt_date", "process_count", "active_count", "other_num", "small_num",
		"crt_date_string", "bill_in_id", "code_active_info_id"},
	"CodeInfo": {"status", "code", "code_level", "parent_code", "code_pack_level"},
	"BaseInfoDto": {"physic_info", "ref_ent_id", "pkg_spec", "prepn_spec", "prepn_type", "physic_name", "pkg_ratio",
		"exprie_date", "produce_batch_no", "produce_date", "sub_type_no", "product_code", "prod_id", "approve_no",
		"physic_type", "original_produce_date", "original_expire_date"},
	"RelationProduceInfoDto": {"produce_date", "expire_date", "batch_no", "code", "pkg_amount", "original_produce_date",
		"original_expire_date"},
	"PartSuccessResponse":    {"response_success", "model", "msg_info", "msg_code", "http_status_code"},
	"PartSuccessPageInfoDTO": {"result", "pages", "total_num", "page_size", "page"},
	"BillProcessPartSuccessExcelDTO": {"last_process_date_desc", "code", "process_status_reason_desc",
		"error_code_desc", "error_code"},
	"TopEntInfoRespDto": {"ent_id", "ref_ent_id", "audit_status", "ent_name", "unique_code", "lic_type_name",
		"lic_type_code", "prov_name", "prov_code", "city_name", "city_code", "area_name", "area_code", "settle_status",
		"reg_region_detail"},
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(raw json.RawMessage) ([]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// sameKeys reports the difference between an object's keys and a
// declared type's ("" if equal).
func sameKeys(raw json.RawMessage, typ string) string {
	got, err := keysOf(raw)
	if err != nil {
		return err.Error()
	}
	want := slices.Clone(declaredKeys[typ])
	sort.Strings(want)
	if slices.Equal(got, want) {
		return ""
	}
	var missing, extra []string
	for _, k := range want {
		if !slices.Contains(got, k) {
			missing = append(missing, k)
		}
	}
	for _, k := range got {
		if !slices.Contains(want, k) {
			extra = append(extra, k)
		}
	}
	return typ + ": missing [" + strings.Join(missing, " ") + "] extra [" + strings.Join(extra, " ") + "]"
}

// The tests' decoding types: only what the tests check, with the JSON
// types the SDK declares (strings stay strings, int64 numbers).

type tUpstreamBill struct {
	FromUserName  string `json:"from_user_name"`
	BillTime      string `json:"bill_time"`
	RefUserID     string `json:"ref_user_id"`
	FromUserID    string `json:"from_user_id"`
	BillType      string `json:"bill_type"`
	ToUserName    string `json:"to_user_name"`
	BillCode      string `json:"bill_code"`
	ToUserID      string `json:"to_user_id"`
	ToRefUserID   string `json:"to_ref_user_id"`
	FromRefUserID string `json:"from_ref_user_id"`
}

type tUpOutPage struct {
	ResultList []tUpOutRow `json:"result_list"`
	TotalNum   int64       `json:"total_num"`
}

type tUpOutRow struct {
	BillCode       string `json:"bill_code"`
	BillType       string `json:"bill_type"`
	PhysicName     string `json:"physic_name"`
	CodeCount      int64  `json:"code_count"`
	Status         string `json:"status"`
	BillOutID      int64  `json:"bill_out_id"`
	ToUserID       string `json:"to_user_id"`
	FromUserID     string `json:"from_user_id"`
	ProduceBatchNo string `json:"produce_batch_no"`
	ExprieDate     string `json:"exprie_date"`
}

type tUpOutDetail struct {
	BillCode    string `json:"bill_code"`
	BillType    string `json:"bill_type"`
	EntSendID   string `json:"ent_send_id"`
	EntRecvID   string `json:"ent_recv_id"`
	EntSendName string `json:"ent_send_name"`
	Drugs       []struct {
		PhysicName     string `json:"physic_name"`
		ProduceBatchNo string `json:"produce_batch_no"`
		ValidEndDate   string `json:"valid_end_date"`
		ProduceDate    string `json:"produce_date"`
		LeastPkgAmount string `json:"least_pkg_amount"`
		PackageSpec    string `json:"package_spec"`
		Codes          []struct {
			Code      string `json:"code"`
			CodeLevel string `json:"code_level"`
			PkgAmount string `json:"pkg_amount"`
		} `json:"code_info_list_dto_list"`
	} `json:"drug_infos_dto_list"`
}

type tStatusPage struct {
	TotalNum   int64        `json:"total_num"`
	ResultList []tStatusRow `json:"result_list"`
}

type tStatusRow struct {
	BillCode       string `json:"bill_code"`
	BillType       string `json:"bill_type"`
	ResultType     string `json:"result_type"`
	ProcessInfo    string `json:"process_info"`
	ProcessDate    string `json:"process_date"`
	UploadFileName string `json:"upload_file_name"`
	SubProcess     string `json:"sub_process_flag"`
}

type tPartPage struct {
	Result []struct {
		Code                    string `json:"code"`
		ErrorCode               string `json:"error_code"`
		ErrorCodeDesc           string `json:"error_code_desc"`
		ProcessStatusReasonDesc string `json:"process_status_reason_desc"`
		LastProcessDateDesc     string `json:"last_process_date_desc"`
	} `json:"result"`
	Pages    int64 `json:"pages"`
	TotalNum int64 `json:"total_num"`
	PageSize int64 `json:"page_size"`
	Page     int64 `json:"page"`
}

type tBillDetail struct {
	BillCode string `json:"bill_code"`
	BillType string `json:"bill_type"`
	Lines    []struct {
		ProdCode    string `json:"prod_code"`
		MinPkgCount string `json:"min_pkg_count"`
		Codes       []struct {
			Code       string `json:"code"`
			CodeLevel  string `json:"code_level"`
			ParentCode string `json:"parent_code"`
		} `json:"code_and_parent_list"`
	} `json:"bill_chk_in_out_detail_list_d_t_o_list"`
	ProcessDate string `json:"process_date"`
}

// codes lists the bill detail's codes in order.
func (d *tBillDetail) codes() []string {
	var out []string
	for _, l := range d.Lines {
		for _, c := range l.Codes {
			out = append(out, c.Code)
		}
	}
	return out
}

type tCodeInfo struct {
	Code         string `json:"code"`
	PackageLevel string `json:"package_level"`
	Status       struct {
		CodeStatus string `json:"code_status"`
	} `json:"code_status_type_d_t_o"`
	Maker *struct {
		RefEntID string `json:"ref_ent_id"`
		EntName  string `json:"ent_name"`
	} `json:"p_user_ent_d_t_o"`
	Drug *struct {
		PhysicName        string `json:"physic_name"`
		PhysicTypeDesc    string `json:"physic_type_desc"`
		DrugEntBaseInfoID string `json:"drug_ent_base_info_id"`
		Exprie            string `json:"exprie"`
		ApprovalLicenceNo string `json:"approval_licence_no"`
	} `json:"drug_ent_base_d_t_o"`
	Produce *struct {
		List []struct {
			BatchNo        string `json:"batch_no"`
			ProduceDateStr string `json:"produce_date_str"`
			ExpireDate     string `json:"expire_date"`
			PkgAmount      string `json:"pkg_amount"`
		} `json:"produce_info_list"`
	} `json:"code_produce_info_d_t_o"`
}

type tRelation struct {
	Rows []struct {
		Status        string `json:"status"`
		Code          string `json:"code"`
		CodeLevel     string `json:"code_level"`
		ParentCode    string `json:"parent_code"`
		CodePackLevel string `json:"code_pack_level"`
	} `json:"code_relation_list"`
	IsSmallest string `json:"is_smallest"`
	Pkg        struct {
		CodeList []string `json:"code_list"`
	} `json:"pkg_info_dto"`
	Produce []struct {
		BatchNo   string `json:"batch_no"`
		PkgAmount string `json:"pkg_amount"`
	} `json:"produce_info_list"`
}

type tEntInfo struct {
	EntID        string `json:"ent_id"`
	RefEntID     string `json:"ref_ent_id"`
	EntName      string `json:"ent_name"`
	UniqueCode   string `json:"unique_code"`
	AuditStatus  int64  `json:"audit_status"`
	SettleStatus int64  `json:"settle_status"`
}
