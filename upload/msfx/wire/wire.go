// Package wire is the 码上放心 (Alibaba Health drug-trace) client's view of
// the TOP gateway for the retail-pharmacy (lsyd) methods pda-agent calls:
// method names, parameter names and the answers' types, written method by
// method from the public SDK declarations (each type names the one it
// follows). It belongs to the client (package msfx); sandboxes keep types
// of their own, so that a misnamed field cannot be misnamed the same way on
// both sides.
//
// Sources:
//   - [SDK] github.com/golgys0621/topsdk, the generated Go SDK of 2025-12
//     (new_go_sdk_20251217): ability2939/{request,response,domain}/
//     AlibabaAlihealthDrug…Lsyd*.go. The primary source of every field.
//   - [META] github.com/bububa/opentaobao metadata/assets/json/drugtrace/
//     alibaba_alihealth_drugtrace_top_lsyd_*.json: per-method metadata; its
//     list types (e.g. DrugInfosDto[]) give the XML element names that wrap
//     lists in the classic (non-simplified) JSON shape.
//   - [PY] github.com/COOLSHARPMAN/mashangfangxin alibaba_api.py (yljg
//     twins of the same methods) and [CS] github.com/pacmandoh/pactoolkits
//     …/Integration/MsfxApiClient.cs: public clients reading these answers,
//     the latter in the wrapped list shape.
//
// Every answer is read tolerantly (flex.go): fields inside "result" or at
// the top level of "<method>_response", lists plain or wrapped, numbers and
// flags as numbers or strings. docs/protocol-fields.md lists every field
// sent or read with its source.
package wire

import (
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

// Sub-results of query.billstatus sub_process_flag (BillDealStatusSearchDo
// in [SDK]: "51全部成功 52部分成功"), present on processed bills.
const (
	SubProcessAllOK   = "51" // every code processed
	SubProcessPartial = "52" // some codes failed: see listbillprocesspartsuccess
)

// Code levels. listupout.detail code_level and codedetail package_level
// count up from the smallest pack ("1代表最小码", [SDK]
// …ListupoutDetailCodeInfoListDto); query.relation's code_pack_level does
// the same, while its code_level counts down from the biggest
// (…QueryRelationCodeInfo).
const SmallestLevel = "1"

// ErrorResponse is the gateway's error answer; it keeps its wrapper even
// with simplify=true.
type ErrorResponse struct {
	Code      Int64 `json:"code"`
	Msg       Str   `json:"msg"`
	SubCode   Str   `json:"sub_code,omitempty"`
	SubMsg    Str   `json:"sub_msg,omitempty"`
	RequestID Str   `json:"request_id,omitempty"`
}

// Status is the business verdict every answer carries, inside "result"
// (queries) or at the top level (uploads, listbillprocesspartsuccess).
// Queries declare response_success or success ([SDK] …ResultModel types).
type Status struct {
	MsgCode         Str   `json:"msg_code"`
	MsgInfo         Str   `json:"msg_info,omitempty"`
	ResponseSuccess *Bool `json:"response_success,omitempty"`
	Success         *Bool `json:"success,omitempty"`
	// SubMsgCode is declared by the upload answers only.
	SubMsgCode Str `json:"sub_msg_code,omitempty"`
	RequestID  Str `json:"request_id,omitempty"`
}

// Flag is the success flag the answer gives (response_success, else
// success), or nil when it gives none.
func (s *Status) Flag() *Bool {
	if s.ResponseSuccess != nil {
		return s.ResponseSuccess
	}
	return s.Success
}

// OK tells whether the answer says success: msg_code SUCCESS and no flag
// saying false.
func (s *Status) OK() bool {
	f := s.Flag()
	return s.MsgCode == MsgSuccess && (f == nil || bool(*f))
}

// UploadResult is the answer of uploadinoutbill and uploadretail, fields
// at the top level of the response ([SDK]
// response/AlibabaAlihealthDrugtraceTopLsyd{Uploadinoutbill,Uploadretail}Response.go).
type UploadResult struct {
	Status
	// Model is the upload queue id (上传单据文件队列表标识).
	Model         Str            `json:"model,omitempty"`
	OperationInfo *OperationInfo `json:"operation_info_map,omitempty"`
}

// OperationInfo carries per-code problems of an accepted upload ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydUploadinoutbillOperationInfoMap.go).
type OperationInfo struct {
	// CodeCheckErrorInfo is a JSON *string* holding an object: error-type
	// key → comma-separated codes (key 6 lists "code(下级);code(上级)" pairs).
	CodeCheckErrorInfo Str `json:"code_check_error_info,omitempty"`
}

// UpBillCodeResult is query.upbillcode's result ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbillcodeResult.go).
type UpBillCodeResult struct {
	Status
	ModelList List[UpstreamBill] `json:"model_list"`
	// Model is read when model_list is absent (other methods' name).
	Model List[UpstreamBill] `json:"model,omitempty"`
}

// Rows returns model_list, or model when the answer used that name.
func (r *UpBillCodeResult) Rows() []UpstreamBill { return firstNonEmpty(r.ModelList, r.Model) }

// UpstreamBill is a model_list row of query.upbillcode: the supplier's
// outbound bill a scanned code arrived on ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbillcodeBillUpstreamDTO.go;
// [META] BillUpstreamDTO[]).
type UpstreamBill struct {
	BillCode      Str   `json:"bill_code"`
	BillTime      Str   `json:"bill_time"`
	BillType      Int64 `json:"bill_type"` // declared String ("102")
	FromUserID    Str   `json:"from_user_id"`
	FromRefUserID Str   `json:"from_ref_user_id"`
	FromUserName  Str   `json:"from_user_name"`
	ToUserID      Str   `json:"to_user_id"`
	ToRefUserID   Str   `json:"to_ref_user_id"`
	ToUserName    Str   `json:"to_user_name"`
	RefUserID     Str   `json:"ref_user_id"`
	AssRefEntID   Str   `json:"ass_ref_ent_id,omitempty"`
	AssEntID      Str   `json:"ass_ent_id,omitempty"`
	AssEntName    Str   `json:"ass_ent_name,omitempty"`
}

// ListUpOutResult is listupout's result ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydListupoutResultModel.go).
type ListUpOutResult struct {
	Status
	Model *Page[UpOutRow] `json:"model"`
}

// UpOutRow is a result_list row of listupout: one drug line of an upstream
// outbound bill for this store ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydListupoutBillUpOutDetailDo.go;
// [META] BillUpOutDetailDo[]). Status "1" 未确认, "2" 已确认.
type UpOutRow struct {
	BillCode          Str   `json:"bill_code"`
	BillType          Int64 `json:"bill_type"` // declared String
	BillTime          Str   `json:"bill_time"`
	BillTimeFormat    Str   `json:"bill_time_format,omitempty"`
	BillOutID         Int64 `json:"bill_out_id"` // declared int64
	PhysicName        Str   `json:"physic_name"`
	PhysicInfo        Str   `json:"physic_info,omitempty"`
	PkgSpec           Str   `json:"pkg_spec"`
	PrepnSpec         Str   `json:"prepn_spec"`
	PrepnUnit         Int64 `json:"prepn_unit,omitempty"`
	ProduceBatchNo    Str   `json:"produce_batch_no"`
	ProduceDate       Str   `json:"produce_date"`
	ProduceDateFormat Str   `json:"produce_date_format,omitempty"`
	ExpireDate        Str   `json:"exprie_date"` // sic: the platform's spelling
	ExpireDateFormat  Str   `json:"exprie_date_format,omitempty"`
	ProduceEntName    Str   `json:"produce_ent_name,omitempty"`
	DrugEntBaseInfoID Str   `json:"drug_ent_base_info_id,omitempty"`
	CodeCount         Int64 `json:"code_count"` // 最小码量
	PrepnCount        Int64 `json:"prepn_count"`
	Status            Int64 `json:"status"` // declared String
	FromUserID        Str   `json:"from_user_id"`
	FromRefUserID     Str   `json:"from_ref_user_id"`
	FromUserName      Str   `json:"from_user_name"`
	FromEntName       Str   `json:"from_ent_name,omitempty"`
	ToUserID          Str   `json:"to_user_id"`
	ToRefUserID       Str   `json:"to_ref_user_id"`
	ToUserName        Str   `json:"to_user_name,omitempty"`
	AssRefEntID       Str   `json:"ass_ref_ent_id,omitempty"`
	AssEntID          Str   `json:"ass_ent_id,omitempty"`
	AssEntName        Str   `json:"ass_ent_name,omitempty"`
}

// UpOutDetailResult is listupout.detail's result ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydListupoutDetailResultModel.go).
// model is declared an object; a list is read too.
type UpOutDetailResult struct {
	Status
	Model List[UpOutDetail] `json:"model"`
}

// UpOutDetail is listupout.detail's model: the header of a supplier's
// outbound bill and its drug lines ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydListupoutDetailBillUpOutDetailDto.go).
// ent_send_id and ent_recv_id are ref_ent_ids.
type UpOutDetail struct {
	BillCode     Str            `json:"bill_code"`
	BillType     Int64          `json:"bill_type"` // declared String
	BillTypeName Str            `json:"bill_type_name,omitempty"`
	EntSendName  Str            `json:"ent_send_name,omitempty"`
	EntSendID    Str            `json:"ent_send_id,omitempty"`
	EntRecvName  Str            `json:"ent_recv_name,omitempty"`
	EntRecvID    Str            `json:"ent_recv_id,omitempty"`
	StoreOutDate Str            `json:"store_out_date,omitempty"` // 单据日期
	UpdateDate   Str            `json:"update_date,omitempty"`
	Drugs        List[DrugLine] `json:"drug_infos_dto_list"`
}

// DrugLine is one drug of an upstream bill ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydListupoutDetailDrugInfosDto.go;
// [META] DrugInfosDto[]).
type DrugLine struct {
	PhysicName        Str                   `json:"physic_name"`
	ProdName          Str                   `json:"prod_name,omitempty"`
	ProductEntName    Str                   `json:"product_ent_name,omitempty"`
	PackageSpec       Str                   `json:"package_spec"`
	PrepnSpec         Str                   `json:"prepn_spec,omitempty"`
	PrepnUnit         Str                   `json:"prepn_unit,omitempty"`
	PreparationsUnit  Str                   `json:"preparations_unit,omitempty"`
	PrepnTypeDesc     Str                   `json:"prepn_type_desc,omitempty"`
	PkgUnitDesc       Str                   `json:"pkg_unit_desc,omitempty"`
	ProduceBatchNo    Str                   `json:"produce_batch_no"`
	ProduceDate       Str                   `json:"produce_date"`
	ValidEndDate      Str                   `json:"valid_end_date"` // 有效期至
	LeastPkgAmount    Int64                 `json:"least_pkg_amount"`
	LeastPrepnAmount  Int64                 `json:"least_prepn_amount,omitempty"`
	ProdSeqNo         Str                   `json:"prod_seq_no,omitempty"`
	DrugEntBaseInfoID Str                   `json:"drug_ent_base_info_id,omitempty"`
	ApprovalNo        Str                   `json:"approval_no,omitempty"`
	PhysicType        Str                   `json:"physic_type,omitempty"`
	PhysicTypeName    Str                   `json:"physic_type_name,omitempty"`
	CfdaDrugID        Str                   `json:"cfda_drug_id,omitempty"`
	Codes             List[CodeInfoListDto] `json:"code_info_list_dto_list"`
}

// CodeInfoListDto is one code of a drug line ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydListupoutDetailCodeInfoListDto.go;
// [META] CodeInfoListDto[]). CodeLevel "1" is the smallest pack.
type CodeInfoListDto struct {
	Code        Str   `json:"code"`
	CodeLevel   Str   `json:"code_level"`
	PkgAmount   Int64 `json:"pkg_amount,omitempty"`
	PrepnAmount Int64 `json:"prepn_amount,omitempty"`
	PrepnSpec   Str   `json:"prepn_spec,omitempty"`
}

// Smallest tells whether the code is a smallest pack (code_level "1").
func (c CodeInfoListDto) Smallest() bool {
	return strings.TrimSpace(string(c.CodeLevel)) == SmallestLevel
}

// BillStatusResult is query.billstatus's result ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryBillstatusResultModel.go).
type BillStatusResult struct {
	Status
	Model *Page[BillStatusRow] `json:"model"`
}

// BillStatusRow is a result_list row of query.billstatus ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryBillstatusBillDealStatusSearchDo.go;
// [META] BillDealStatusSearchDo[]).
type BillStatusRow struct {
	BillCode       Str   `json:"bill_code"`
	BillType       Int64 `json:"bill_type"`
	BillTime       Str   `json:"bill_time,omitempty"`
	ResultType     Int64 `json:"result_type"` // declared String: 0 处理中, 1 上传成功, 3 处理成功, 4 处理失败
	ProcessInfo    Str   `json:"process_info,omitempty"`
	ProcessDate    Str   `json:"process_date,omitempty"`
	UploadFileName Str   `json:"upload_file_name,omitempty"`
	CrtDate        Str   `json:"crt_date,omitempty"`
	// SubProcessFlag is 51 (全部成功) or 52 (部分成功); declared by the
	// 2025-12 SDK only (not in [META]).
	SubProcessFlag Str `json:"sub_process_flag,omitempty"`
	PhysicType     Str `json:"physic_type,omitempty"`
	UploadFlag     Str `json:"upload_flag,omitempty"`
	ProcessFlag    Str `json:"process_flag,omitempty"`
	FromUserID     Str `json:"from_user_id,omitempty"`
	ToUserID       Str `json:"to_user_id,omitempty"`
	RefUserID      Str `json:"ref_user_id,omitempty"`
}

// UpBillDetailResult is query.upbilldetail's result ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbilldetailResultModel.go).
type UpBillDetailResult struct {
	Status
	Model List[BillDetail] `json:"model"`
}

// BillDetail is query.upbilldetail's model: one of this store's uploaded
// bills ([SDK] domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbilldetailBillInOutDetailDto.go).
type BillDetail struct {
	BillCode     Str                  `json:"bill_code"`
	BillType     Int64                `json:"bill_type"`
	BillTypeName Str                  `json:"bill_type_name,omitempty"`
	BillTime     Str                  `json:"bill_time"`
	FromUserID   Str                  `json:"from_user_id"`
	FromEntName  Str                  `json:"from_ent_name,omitempty"`
	ToUserID     Str                  `json:"to_user_id"`
	ToEntName    Str                  `json:"to_ent_name,omitempty"`
	ProcessDate  Str                  `json:"process_date,omitempty"`
	ModDate      Str                  `json:"mod_date,omitempty"`
	Lines        List[BillDetailLine] `json:"bill_chk_in_out_detail_list_d_t_o_list"`
}

// BillDetailLine is a drug line of an uploaded bill ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbilldetailBillchkinoutdetaillistdtolist.go).
type BillDetailLine struct {
	PhysicName     Str   `json:"physic_name"`
	ProductBatchNo Str   `json:"product_batch_no,omitempty"`
	ProduceDate    Str   `json:"produce_date,omitempty"`
	ExpiredDate    Str   `json:"expired_date,omitempty"`
	MinPkgCount    Int64 `json:"min_pkg_count,omitempty"`
	// Codes is declared "预留属性，暂无返回" (reserved, not returned yet).
	Codes List[CodeAndParent] `json:"code_and_parent_list,omitempty"`
}

// CodeAndParent is a code of an uploaded bill's line ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbilldetailCodeandparentlist.go).
type CodeAndParent struct {
	Code       Str `json:"code"`
	CodeLevel  Str `json:"code_level,omitempty"`
	ParentCode Str `json:"parent_code,omitempty"`
}

// PartSuccessResult is listbillprocesspartsuccess's answer. The SDK
// declares its fields at the top level of the response, like the uploads
// ([SDK] response/AlibabaAlihealthDrugtraceTopLsydListbillprocesspartsuccessResponse.go);
// read inside "result" too.
type PartSuccessResult struct {
	Status
	Model *Page[PartFailure] `json:"model"`
}

// PartFailure is a model.result row of listbillprocesspartsuccess: one
// code of a partially processed bill that failed ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydListbillprocesspartsuccessBillProcessPartSuccessExcelDTO.go).
type PartFailure struct {
	Code                    Str `json:"code"`
	ErrorCode               Str `json:"error_code"`
	ErrorCodeDesc           Str `json:"error_code_desc"`
	ProcessStatusReasonDesc Str `json:"process_status_reason_desc"`
	LastProcessDateDesc     Str `json:"last_process_date_desc"`
}

// CodeDetailResult is query.codedetail's result ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailResultModel.go).
type CodeDetailResult struct {
	Status
	Models List[CodeInfo] `json:"models"`
	// Model and ModelList are read when models is absent.
	Model     List[CodeInfo] `json:"model,omitempty"`
	ModelList List[CodeInfo] `json:"model_list,omitempty"`
}

// Rows returns models, or model / model_list when the answer used those.
func (r *CodeDetailResult) Rows() []CodeInfo { return firstNonEmpty(r.Models, r.Model, r.ModelList) }

// CodeInfo is a models row of query.codedetail ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailCodeFullInfoDto.go;
// [META] CodeFullInfoDto[]). PackageLevel "1" is the smallest pack.
type CodeInfo struct {
	Code         Str           `json:"code"`
	PackageLevel Str           `json:"package_level"`
	Produce      *CodeProduce  `json:"code_produce_info_d_t_o,omitempty"`
	Drug         *DrugBaseInfo `json:"drug_ent_base_d_t_o,omitempty"`
	Status       *CodeStatus   `json:"code_status_type_d_t_o,omitempty"`
	Owner        *EntRef       `json:"p_user_ent_d_t_o,omitempty"`
}

// CodeProduce holds a code's production records ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailCodeProduceInfoDto.go).
type CodeProduce struct {
	ProduceInfoList List[ProduceInfo] `json:"produce_info_list"`
}

// ProduceInfo is one production record: lot and dates ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailProduceInfoDto.go;
// [META] ProduceInfoDto[]).
type ProduceInfo struct {
	BatchNo             Str   `json:"batch_no"`
	ProduceDateStr      Str   `json:"produce_date_str"`
	ExpireDate          Str   `json:"expire_date"`
	PkgAmount           Int64 `json:"pkg_amount,omitempty"`
	OriginalProduceDate Str   `json:"original_produce_date,omitempty"`
	OriginalExpireDate  Str   `json:"original_expire_date,omitempty"`
}

// Lot returns the first production record with a batch number.
func (c *CodeInfo) Lot() (ProduceInfo, bool) {
	if c.Produce == nil {
		return ProduceInfo{}, false
	}
	for _, p := range c.Produce.ProduceInfoList {
		if p.BatchNo != "" {
			return p, true
		}
	}
	return c.Produce.ProduceInfoList.First()
}

// DrugBaseInfo names the drug ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailDrugEntBaseDto.go).
type DrugBaseInfo struct {
	PhysicName        Str `json:"physic_name"`
	PhysicTypeDesc    Str `json:"physic_type_desc,omitempty"`
	Exprie            Str `json:"exprie,omitempty"` // sic: shelf life
	DrugEntBaseInfoID Str `json:"drug_ent_base_info_id,omitempty"`
	ApprovalLicenceNo Str `json:"approval_licence_no,omitempty"`
	PkgSpecCrit       Str `json:"pkg_spec_crit,omitempty"`
	PrepnSpec         Str `json:"prepn_spec,omitempty"`
	PrepnTypeDesc     Str `json:"prepn_type_desc,omitempty"`
}

// EntRef is the code owner's enterprise ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailPUserEntDto.go).
type EntRef struct {
	RefEntID Str `json:"ref_ent_id"`
	EntName  Str `json:"ent_name"`
}

// Code statuses (code_status).
const (
	CodeActive    = "A" // 激活
	CodeVerified  = "I" // 核注
	CodeSold      = "O" // 核销
	CodeCancelled = "C" // 注销
	CodeNotExist  = "E" // 码不存在
)

// CodeStatus is a code's state; the SDK declares code_status only ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailCodeStatusTypeDto.go).
type CodeStatus struct {
	CodeStatus Str `json:"code_status"`
}

// RelationResult is query.relation's result ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationResultModel.go).
type RelationResult struct {
	Status
	ModelList List[Relation] `json:"model_list"`
	// Model is read when model_list is absent.
	Model List[Relation] `json:"model,omitempty"`
}

// Rows returns model_list, or model when the answer used that name.
func (r *RelationResult) Rows() []Relation { return firstNonEmpty(r.ModelList, r.Model) }

// Relation is a model_list row of query.relation: the queried code's
// package tree ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationCodeRelationDto.go;
// [META] CodeRelationDto[]). The code_active_info_dto and base_infos_dto
// objects are not read.
type Relation struct {
	// IsSmallest is declared a String; its values are not documented
	// (read with IsSmallestPack).
	IsSmallest       Str                   `json:"is_smallest"`
	CodeRelationList List[RelationCode]    `json:"code_relation_list"`
	PkgInfo          *PkgInfo              `json:"pkg_info_dto,omitempty"`
	ProduceInfoList  List[RelationProduce] `json:"produce_info_list,omitempty"`
}

// IsSmallestPack reads is_smallest: ok is false when it is absent or not
// a flag.
func (r *Relation) IsSmallestPack() (v, ok bool) {
	if strings.TrimSpace(string(r.IsSmallest)) == "" {
		return false, false
	}
	return ParseFlag(string(r.IsSmallest))
}

// RelationCode is a code_relation_list row ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationCodeInfo.go; [META]
// CodeInfo[]). CodeLevel counts down from the biggest (1 = 大码);
// CodePackLevel counts up from the smallest (1 = 小码).
type RelationCode struct {
	Code          Str `json:"code"`
	ParentCode    Str `json:"parent_code,omitempty"`
	CodeLevel     Str `json:"code_level,omitempty"`
	CodePackLevel Str `json:"code_pack_level,omitempty"`
	Status        Str `json:"status,omitempty"`
}

// Smallest tells whether the row is a smallest pack (code_pack_level 1).
func (c RelationCode) Smallest() bool {
	return strings.TrimSpace(string(c.CodePackLevel)) == SmallestLevel
}

// PkgInfo lists codes of the package ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationPkgInfoDto.go; a
// String[] list, wrapped as {"string": […]} in the classic shape).
type PkgInfo struct {
	CodeList List[Str] `json:"code_list"`
}

// RelationProduce is a production record of query.relation ([SDK]
// domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationProduceInfoDto.go).
type RelationProduce struct {
	Code        Str   `json:"code,omitempty"`
	BatchNo     Str   `json:"batch_no"`
	ProduceDate Str   `json:"produce_date"` // declared a date (LocalTime)
	ExpireDate  Str   `json:"expire_date"`
	PkgAmount   Int64 `json:"pkg_amount,omitempty"`
}

// EntInfoResult is drug.lsyd.getentinfolist's result ([SDK]
// domain/AlibabaAlihealthDrugLsydGetentinfolistResultModel.go): model is
// a list.
type EntInfoResult struct {
	Status
	Model List[EntInfo] `json:"model"`
	// ModelList is read when model is absent (older notes' name).
	ModelList List[EntInfo] `json:"model_list,omitempty"`
}

// Rows returns model, or model_list when the answer used that name.
func (r *EntInfoResult) Rows() []EntInfo { return firstNonEmpty(r.Model, r.ModelList) }

// firstNonEmpty returns the first non-empty list.
func firstNonEmpty[T any](lists ...List[T]) []T {
	for _, l := range lists {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}

// EntInfo is a model row of drug.lsyd.getentinfolist ([SDK]
// domain/AlibabaAlihealthDrugLsydGetentinfolistTopEntInfoRespDto.go).
type EntInfo struct {
	EntID           Str   `json:"ent_id"`
	RefEntID        Str   `json:"ref_ent_id"`
	EntName         Str   `json:"ent_name"`
	UniqueCode      Str   `json:"unique_code,omitempty"` // e.g. 统一社会信用代码
	LicTypeName     Str   `json:"lic_type_name,omitempty"`
	LicTypeCode     Int64 `json:"lic_type_code,omitempty"`
	AuditStatus     Int64 `json:"audit_status"`  // 1 通过, 0 审核中, 2 不通过
	SettleStatus    Int64 `json:"settle_status"` // 1 入驻
	ProvName        Str   `json:"prov_name,omitempty"`
	ProvCode        Str   `json:"prov_code,omitempty"`
	CityName        Str   `json:"city_name,omitempty"`
	CityCode        Str   `json:"city_code,omitempty"`
	AreaName        Str   `json:"area_name,omitempty"`
	AreaCode        Str   `json:"area_code,omitempty"`
	RegRegionDetail Str   `json:"reg_region_detail,omitempty"`
}

// EntQuery is the query_param object of getentinfolist, sent as JSON
// ([SDK] domain/AlibabaAlihealthDrugLsydGetentinfolistTopEntInfoReqDto.go).
type EntQuery struct {
	EntName     string `json:"ent_name,omitempty"`
	OrgCode     string `json:"org_code,omitempty"`
	MedicalCode string `json:"medical_code,omitempty"`
	ParRefEntID string `json:"par_ref_ent_id,omitempty"`
	EntID       string `json:"ent_id,omitempty"`
}

// Verdict returns the answer's status; every …Result type has it through
// its embedded Status.
func (s *Status) Verdict() *Status { return s }
