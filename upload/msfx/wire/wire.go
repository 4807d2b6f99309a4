// Package wire is the contract with the 码上放心 (Alibaba Health drug-trace)
// TOP gateway for the retail-pharmacy (lsyd) methods pda-agent uses: method
// names, parameter names and the JSON shapes of answers. Both the client
// (package msfx) and the sandbox gateway (package msfx/sandbox) speak it, so
// they cannot drift apart; each checks and builds messages on its own.
//
// Sources and confidence are in ../shared/reference/msfx.md. Field names of
// answers marked "unconfirmed" below come from one SDK's DTOs only; the
// client parses them leniently (unknown fields ignored).
package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Methods.
const (
	MethodUploadInOutBill            = "alibaba.alihealth.drugtrace.top.lsyd.uploadinoutbill"
	MethodUploadRetail               = "alibaba.alihealth.drugtrace.top.lsyd.uploadretail"
	MethodQueryUpBillCode            = "alibaba.alihealth.drugtrace.top.lsyd.query.upbillcode"
	MethodListUpOut                  = "alibaba.alihealth.drugtrace.top.lsyd.listupout"
	MethodListUpOutDetail            = "alibaba.alihealth.drugtrace.top.lsyd.listupout.detail"
	MethodQueryBillStatus            = "alibaba.alihealth.drugtrace.top.lsyd.query.billstatus"
	MethodQueryUpBillDetail          = "alibaba.alihealth.drugtrace.top.lsyd.query.upbilldetail"
	MethodQueryCodeDetail            = "alibaba.alihealth.drugtrace.top.lsyd.query.codedetail"
	MethodQueryRelation              = "alibaba.alihealth.drugtrace.top.lsyd.query.relation"
	MethodListBillProcessPartSuccess = "alibaba.alihealth.drugtrace.top.lsyd.listbillprocesspartsuccess"
	MethodGetEntInfoList             = "alibaba.alihealth.drug.lsyd.getentinfolist"
)

// ResponseKey is the wrapper key of a method's non-simplified JSON answer:
// the method with dots as underscores, plus "_response".
func ResponseKey(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}

// System parameters of every TOP request (the business parameters of each
// method are listed with the method's request type).
const (
	ParamMethod     = "method"
	ParamAppKey     = "app_key"
	ParamSession    = "session"
	ParamTimestamp  = "timestamp"
	ParamVersion    = "v"
	ParamSignMethod = "sign_method"
	ParamSign       = "sign"
	ParamFormat     = "format"
	ParamSimplify   = "simplify"
	ParamPartnerID  = "partner_id"
)

// Protocol constants.
const (
	Version = "2.0"
	// TimestampLayout is the timestamp format, always in China time (UTC+8).
	TimestampLayout = "2006-01-02 15:04:05"
	// DateLayout is the format of bill_time and other dates.
	DateLayout = "2006-01-02 15:04:05"
	// DayLayout is the format of begin_date/end_date of list queries.
	DayLayout = "2006-01-02"
	// ClientType is the fixed client_type of uploadinoutbill.
	ClientType = "2"
	// DuplicateBillText marks the answer "bill_code already uploaded", which
	// means done: 该单据号已存在（上传时间：yyyy-MM-dd HH:mm:ss）.
	DuplicateBillText = "该单据号已存在"
	// SoldCodeText marks a retail upload refused for a code already sold.
	SoldCodeText = "存在已出售的码"
	// BusyText marks a transient back-end overload.
	BusyText = "系统繁忙"
	// BanPattern introduces the ban length in a code-7 sub_msg:
	// "This ban will last for N more seconds".
	BanPattern = "This ban will last for "
)

// Sign methods.
const (
	SignMD5        = "md5"
	SignHMAC       = "hmac"
	SignHMACSHA256 = "hmac-sha256"
)

// Message codes (msg_code) seen in answers.
const (
	MsgSuccess           = "SUCCESS"
	MsgFail              = "FAIL"
	MsgNoInfo            = "FAIL_BIZ_NO_PAT_INFO"
	MsgAuthError         = "FAIL_BIZ_AUTH_ERROR"
	MsgRepeatFlow        = "FAIL_BIZ_BILL_DUPLICATE_UPLOAD_BILLCODE_REPEAT_CODE"
	MsgBillDecodeError   = "BILL_DECODE_ERROR"
	MsgFileNameDuplicate = "BILL_FILE_NAME_DUPLICATE_UPLOAD"
)

// Processing results of query.billstatus (result_type / deal_status).
const (
	ResultProcessing = 0 // 处理中
	ResultUploaded   = 1 // 上传成功 (queued)
	ResultSucceeded  = 3 // 处理成功 (final)
	ResultFailed     = 4 // 处理失败 (final; see process_info)
)

// Keys of operation_info_map.code_check_error_info (inferred taxonomy).
const (
	CodeErrNotActivated = "1"
	CodeErrFormat       = "2"
	CodeErrDuplicate    = "3"
	CodeErrCancelled    = "4"
	CodeErrParentChild  = "6"
	CodeErrBatch        = "7"
)

// Upload parameters (uploadinoutbill and uploadretail).
const (
	PBillCode               = "bill_code"
	PBillTime               = "bill_time"
	PBillType               = "bill_type"
	PPhysicType             = "physic_type"
	PRefUserID              = "ref_user_id"
	PFromUserID             = "from_user_id"
	PToUserID               = "to_user_id"
	PDisEntID               = "dis_ent_id"
	PTraceCodes             = "trace_codes"
	PClientType             = "client_type"
	POperICCode             = "oper_ic_code"
	POperICName             = "oper_ic_name"
	PIgnorePartSuccessFlag  = "ignore_part_success_flag"
	PReturnReasonCode       = "return_reason_code"
	PReturnReasonDes        = "return_reason_des"
	PCustomerIDType         = "customer_id_type"
	PCustomerID             = "customer_id"
	PUserTel                = "user_tel"
	PRemarks                = "remarks"
	PRefEntID               = "ref_ent_id" // queries
	PCode                   = "code"
	PCodes                  = "codes"
	PDesRefEntID            = "des_ref_ent_id"
	PBeginDate              = "begin_date"
	PEndDate                = "end_date"
	PPage                   = "page"
	PPageSize               = "page_size"
	PStatus                 = "status"
	PDealStatus             = "deal_status"
	PFromRefUserID          = "from_ref_user_id"
	PToRefUserID            = "to_ref_user_id"
	PErrorCode              = "error_code"
	PQueryParam             = "query_param"
	MaxCodesPerUpload       = 3500 // per call, both uploads (old doc); configurable
	MaxCodesPerCodeDetail   = 1000
	BillTypeAllForStatus    = "A"  // query.billstatus bill_type: all
	BillTypeInForStatus     = "AI" // inbound
	BillTypeOutForStatus    = "AO" // outbound
	PhysicTypeOrdinary      = 3    // 普药
	PhysicTypeSpecial       = 2    // 特药
	IgnorePartSuccessStrict = "1"  // whole bill fails if any code fails
)

// RequiredInOutBill are the parameters uploadinoutbill rejects when absent.
func RequiredInOutBill() []string {
	return []string{PBillCode, PBillTime, PBillType, PPhysicType, PRefUserID, PFromUserID, PToUserID, PTraceCodes, PClientType}
}

// RequiredRetail are the parameters uploadretail rejects when absent.
func RequiredRetail() []string {
	return []string{PBillCode, PBillTime, PBillType, PRefUserID, PTraceCodes}
}

// ErrorResponse is the gateway's error answer; it keeps its wrapper even
// with simplify=true.
type ErrorResponse struct {
	Code      int    `json:"code"`
	Msg       string `json:"msg"`
	SubCode   string `json:"sub_code,omitempty"`
	SubMsg    string `json:"sub_msg,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// ErrorEnvelope wraps ErrorResponse.
type ErrorEnvelope struct {
	ErrorResponse *ErrorResponse `json:"error_response"`
}

// Bool is response_success: true or "true" (XML→JSON conversions turn
// booleans into strings).
type Bool bool

// UnmarshalJSON accepts a JSON boolean or the strings "true"/"false".
func (b *Bool) UnmarshalJSON(data []byte) error {
	switch strings.TrimSpace(string(data)) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null", `""`:
		*b = false
	default:
		return fmt.Errorf("response_success: want true or false, got %s", data)
	}
	return nil
}

// Int is a number that may arrive as a JSON number or a string.
type Int int

// UnmarshalJSON accepts 3 and "3".
func (n *Int) UnmarshalJSON(data []byte) error {
	s := strings.Trim(strings.TrimSpace(string(data)), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a number, got %s", data)
	}
	*n = Int(v)
	return nil
}

// UploadResult is the body of an upload answer (fields at its top level).
type UploadResult struct {
	Model           string         `json:"model,omitempty"` // upload queue id
	MsgCode         string         `json:"msg_code"`
	MsgInfo         string         `json:"msg_info,omitempty"`
	ResponseSuccess Bool           `json:"response_success"`
	SubMsgCode      string         `json:"sub_msg_code,omitempty"`
	OperationInfo   *OperationInfo `json:"operation_info_map,omitempty"`
	RequestID       string         `json:"request_id,omitempty"`
}

// OperationInfo carries per-code problems of an accepted upload.
type OperationInfo struct {
	// CodeCheckErrorInfo is a JSON *string* holding an object: error-type
	// key → comma-separated codes (key 6 lists "code(下级);code(上级)" pairs).
	CodeCheckErrorInfo string `json:"code_check_error_info,omitempty"`
}

// QueryResult is the "result" object of query answers. Model holds the
// method-specific payload (object, list or page).
type QueryResult struct {
	Model           json.RawMessage `json:"model,omitempty"`
	Models          json.RawMessage `json:"models,omitempty"`
	ModelList       json.RawMessage `json:"model_list,omitempty"`
	MsgCode         string          `json:"msg_code"`
	MsgInfo         string          `json:"msg_info,omitempty"`
	ResponseSuccess *Bool           `json:"response_success,omitempty"`
	Success         *Bool           `json:"success,omitempty"`
}

// OK tells whether the query succeeded: msg_code SUCCESS and no success
// flag saying false (answers carry response_success, success, or neither).
func (r *QueryResult) OK() bool {
	if r.MsgCode != MsgSuccess {
		return false
	}
	if r.ResponseSuccess != nil && !bool(*r.ResponseSuccess) {
		return false
	}
	return r.Success == nil || bool(*r.Success)
}

// QueryBody is a query answer's body: {"result": {...}, "request_id": …}.
type QueryBody struct {
	Result    *QueryResult `json:"result"`
	RequestID string       `json:"request_id,omitempty"`
}

// Page is the paged payload of list queries.
type Page[T any] struct {
	ResultList []T `json:"result_list"`
	TotalNum   Int `json:"total_num"`
	Page       Int `json:"page"`
	PageSize   Int `json:"page_size"`
}

// UpstreamBill is a row of query.upbillcode (BillUpstreamDto): the
// supplier's outbound bill a scanned code arrived on.
type UpstreamBill struct {
	BillCode      string `json:"bill_code"`
	BillTime      string `json:"bill_time"`
	BillType      Int    `json:"bill_type"`
	FromUserID    string `json:"from_user_id"`
	FromRefUserID string `json:"from_ref_user_id"`
	FromUserName  string `json:"from_user_name"`
	ToUserID      string `json:"to_user_id"`
	ToRefUserID   string `json:"to_ref_user_id"`
	ToUserName    string `json:"to_user_name"`
	RefUserID     string `json:"ref_user_id"`
}

// UpOutRow is a row of listupout (BillUpOutDetailDo): an upstream outbound
// bill line for this store. Status 1 未确认, 2 已确认.
type UpOutRow struct {
	BillCode       string `json:"bill_code"`
	BillType       Int    `json:"bill_type"`
	BillTime       string `json:"bill_time"`
	BillOutID      string `json:"bill_out_id"`
	PhysicName     string `json:"physic_name"`
	PkgSpec        string `json:"pkg_spec"`
	PrepnSpec      string `json:"prepn_spec"`
	ProduceBatchNo string `json:"produce_batch_no"`
	ProduceDate    string `json:"produce_date"`
	ExpireDate     string `json:"exprie_date"` // sic: the platform's spelling
	CodeCount      Int    `json:"code_count"`
	PrepnCount     Int    `json:"prepn_count"`
	Status         Int    `json:"status"`
	FromUserID     string `json:"from_user_id"`
	FromUserName   string `json:"from_user_name"`
	ToUserID       string `json:"to_user_id"`
}

// UpOutDetail is listupout.detail's model (BillUpOutDetailDto). The name
// of the code list inside each drug line is unconfirmed ("codes").
type UpOutDetail struct {
	BillCode      string     `json:"bill_code"`
	BillType      Int        `json:"bill_type"`
	BillTime      string     `json:"bill_time"`
	FromRefUserID string     `json:"from_ref_user_id"`
	ToRefUserID   string     `json:"to_ref_user_id"`
	FromUserID    string     `json:"from_user_id"`
	ToUserID      string     `json:"to_user_id"`
	Drugs         []DrugLine `json:"drug_infos_dto_list"`
}

// DrugLine is one drug of an upstream bill.
type DrugLine struct {
	PhysicName     string   `json:"physic_name"`
	PkgSpec        string   `json:"pkg_spec"`
	ProduceBatchNo string   `json:"produce_batch_no"`
	ProduceDate    string   `json:"produce_date"`
	ExpireDate     string   `json:"exprie_date"`
	CodeCount      Int      `json:"code_count"`
	Codes          []string `json:"codes"`
}

// BillStatusRow is a row of query.billstatus (BillDealStatusSearchDo).
type BillStatusRow struct {
	BillCode       string `json:"bill_code"`
	BillType       Int    `json:"bill_type"`
	ResultType     Int    `json:"result_type"`
	ProcessInfo    string `json:"process_info,omitempty"`
	ProcessDate    string `json:"process_date,omitempty"`
	UploadFileName string `json:"upload_file_name,omitempty"`
}

// BillDetail is query.upbilldetail's model (own uploaded bill).
type BillDetail struct {
	BillCode       string   `json:"bill_code"`
	BillType       Int      `json:"bill_type"`
	BillTime       string   `json:"bill_time"`
	FromUserID     string   `json:"from_user_id"`
	ToUserID       string   `json:"to_user_id"`
	Codes          []string `json:"codes"`
	ProcessDate    string   `json:"process_date,omitempty"`
	UploadFileName string   `json:"upload_file_name,omitempty"`
}

// PartFailure is a row of listbillprocesspartsuccess: one code of a
// partially processed bill that failed.
type PartFailure struct {
	Code                    string `json:"code"`
	ErrorCode               string `json:"error_code"`
	ErrorCodeDesc           string `json:"error_code_desc"`
	ProcessStatusReasonDesc string `json:"process_status_reason_desc"`
	LastProcessDateDesc     string `json:"last_process_date_desc"`
}

// CodeInfo is a model of query.codedetail (CodeFullInfoDto, trimmed to the
// fields the agent uses).
type CodeInfo struct {
	Code         string        `json:"code"`
	Barcode69    string        `json:"barcode69,omitempty"`
	PkgRatio     string        `json:"pkg_ratio,omitempty"`
	PackageLevel Int           `json:"package_level"`
	Produce      *ProduceInfo  `json:"code_produce_info_d_t_o,omitempty"`
	Drug         *DrugBaseInfo `json:"drug_ent_base_d_t_o,omitempty"`
	Status       *CodeStatus   `json:"code_status_type_d_t_o,omitempty"`
}

// ProduceInfo is a code's batch and dates.
type ProduceInfo struct {
	ProduceBatchNo string `json:"produce_batch_no"`
	ProduceDate    string `json:"produce_date"`
	ExpireDate     string `json:"expire_date"`
	PkgSpec        string `json:"pkg_spec"`
	PhysicType     Int    `json:"physic_type"`
	SmallPkgNum    Int    `json:"small_pkg_num"`
}

// DrugBaseInfo names the drug and its maker.
type DrugBaseInfo struct {
	PhysicName   string `json:"physic_name"`
	ProdEntName  string `json:"prod_ent_name,omitempty"`
	ApprovalLicn string `json:"approval_licence_no,omitempty"`
	ResProdCode  string `json:"res_prod_code,omitempty"` // 7-digit prefix
}

// Code statuses (code_status).
const (
	CodeActive    = "A" // 激活
	CodeVerified  = "I" // 核注
	CodeSold      = "O" // 核销
	CodeCancelled = "C" // 注销
	CodeNotExist  = "E" // 码不存在
)

// CodeStatus is a code's state and place in the package hierarchy.
type CodeStatus struct {
	CodeStatus string   `json:"code_status"`
	ParentCode string   `json:"parent_code,omitempty"`
	ChildCodes []string `json:"child_codes,omitempty"`
	CheckCount Int      `json:"check_count"`
}

// Relation is a model_list row of query.relation (CodeRelationDto).
// code_level 1 = biggest; code_pack_level 1 = smallest.
type Relation struct {
	Code          string `json:"code"`
	ParentCode    string `json:"parent_code,omitempty"`
	CodeLevel     Int    `json:"code_level"`
	CodePackLevel Int    `json:"code_pack_level"`
	IsSmallest    Bool   `json:"is_smallest"`
	Status        string `json:"status,omitempty"`
	BoxAmount     Int    `json:"box_amount"`
	BoxStatus     Int    `json:"box_status"`
	// ChildCodes lists the codes directly inside (unconfirmed name).
	ChildCodes []string `json:"child_codes,omitempty"`
}

// EntInfo is a row of drug.lsyd.getentinfolist.
type EntInfo struct {
	EntID        string `json:"ent_id"`
	RefEntID     string `json:"ref_ent_id"`
	EntName      string `json:"ent_name"`
	OrgCode      string `json:"org_code,omitempty"`
	AuditStatus  Int    `json:"audit_status"`
	SettleStatus Int    `json:"settle_status"`
}

// EntQuery is the query_param object of getentinfolist (sent as JSON).
type EntQuery struct {
	EntName     string `json:"ent_name,omitempty"`
	OrgCode     string `json:"org_code,omitempty"`
	MedicalCode string `json:"medical_code,omitempty"`
	ParRefEntID string `json:"par_ref_ent_id,omitempty"`
	EntID       string `json:"ent_id,omitempty"`
}
