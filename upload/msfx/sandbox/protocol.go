package sandbox

import "strings"

// The protocol's names, written here from the public declarations and not
// taken from the client (package wire): the sandbox must not share the
// client's assumptions, so that a name the client gets wrong is caught.
//
// Sources (repository and path):
//   - [SDK] golgys0621/topsdk, generated Go SDK new_go_sdk_20251217:
//     ability2939/request/*Request.go (parameter names, "required" tags),
//     ability2939/response/*Response.go and ability2939/domain/*.go (answers),
//     topclient.go and util/util.go (system parameters, signature).
//   - [META] bububa/opentaobao metadata/assets/json/drugtrace/*.json (per-method
//     parameter and answer tables) and model/drugtrace/*.go (the XML element
//     names of list items, in the xml:"list>item" tags).
//   - [REF] /work/shared/reference/msfx.md (protocol notes with their sources).

// TOP system parameters ([SDK] topclient.go; [REF] §2.2).
const (
	paramMethod     = "method"
	paramAppKey     = "app_key"
	paramSession    = "session"
	paramTimestamp  = "timestamp"
	paramVersion    = "v"
	paramSignMethod = "sign_method"
	paramSign       = "sign"
	paramFormat     = "format"
	paramSimplify   = "simplify"
	paramPartnerID  = "partner_id"
	paramTargetApp  = "target_app_key"

	topVersion      = "2.0"
	signMD5         = "md5"
	signHMAC        = "hmac"
	signHMACSHA256  = "hmac-sha256"
	timestampLayout = "2006-01-02 15:04:05" // [SDK] util.TimeFormat, GMT+8 [REF] §2.2
	dateLayout      = "2006-01-02 15:04:05"
	dayLayout       = "2006-01-02"
)

// The lsyd methods served ([SDK] ability2939/Ability2939.go method names).
const (
	methodUploadInOutBill            = "alibaba.alihealth.drugtrace.top.lsyd.uploadinoutbill"
	methodUploadRetail               = "alibaba.alihealth.drugtrace.top.lsyd.uploadretail"
	methodQueryUpBillCode            = "alibaba.alihealth.drugtrace.top.lsyd.query.upbillcode"
	methodListUpOut                  = "alibaba.alihealth.drugtrace.top.lsyd.listupout"
	methodListUpOutDetail            = "alibaba.alihealth.drugtrace.top.lsyd.listupout.detail"
	methodQueryBillStatus            = "alibaba.alihealth.drugtrace.top.lsyd.query.billstatus"
	methodQueryUpBillDetail          = "alibaba.alihealth.drugtrace.top.lsyd.query.upbilldetail"
	methodQueryCodeDetail            = "alibaba.alihealth.drugtrace.top.lsyd.query.codedetail"
	methodQueryRelation              = "alibaba.alihealth.drugtrace.top.lsyd.query.relation"
	methodListBillProcessPartSuccess = "alibaba.alihealth.drugtrace.top.lsyd.listbillprocesspartsuccess"
	methodGetEntInfoList             = "alibaba.alihealth.drug.lsyd.getentinfolist"
)

// Methods lists the methods the sandbox serves, in a fixed order.
func Methods() []string {
	return append([]string{methodUploadInOutBill, methodUploadRetail, methodQueryUpBillCode, methodListUpOut,
		methodListUpOutDetail, methodQueryBillStatus, methodQueryUpBillDetail, methodQueryCodeDetail,
		methodQueryRelation, methodListBillProcessPartSuccess, methodGetEntInfoList, methodSearchBill}, complianceMethods()...)
}

// responseKey is the classic TOP wrapper of a method's answer: the method
// name with dots as underscores, then "_response" ([REF] §2.4).
func responseKey(method string) string {
	return strings.ReplaceAll(method, ".", "_") + "_response"
}

// Business parameter names, as the [SDK] request types spell them.
const (
	pBillCode              = "bill_code"
	pBillTime              = "bill_time"
	pBillType              = "bill_type"
	pPhysicType            = "physic_type"
	pRefUserID             = "ref_user_id"
	pFromUserID            = "from_user_id"
	pToUserID              = "to_user_id"
	pTraceCodes            = "trace_codes"
	pClientType            = "client_type"
	pDisEntID              = "dis_ent_id"
	pReturnReasonCode      = "return_reason_code"
	pReturnReasonDes       = "return_reason_des"
	pIgnorePartSuccessFlag = "ignore_part_success_flag"
	pCustomerIDType        = "customer_id_type"
	pUserTel               = "user_tel"
	pRefEntID              = "ref_ent_id"
	pBeginDate             = "begin_date"
	pEndDate               = "end_date"
	pStatus                = "status"
	pPage                  = "page"
	pPageSize              = "page_size"
	pFromRefUserID         = "from_ref_user_id"
	pToRefUserID           = "to_ref_user_id"
	pDealStatus            = "deal_status"
	pCode                  = "code"
	pCodes                 = "codes"
	pDesRefEntID           = "des_ref_ent_id"
	pErrorCode             = "error_code"
	pQueryParam            = "query_param"
)

// Values with a documented meaning.
const (
	clientTypeValue       = "2" // [SDK] uploadinoutbill client_type "必须填2"
	ignorePartSuccessFlag = "1" // [SDK] ignore_part_success_flag: 1 = whole bill fails
	physicOrdinary        = 3   // [REF] §4.2 physic_type 3 普药
	physicSpecial         = 2   // 2 特药

	// query.billstatus bill_type filter ([REF] §4.5).
	statusAll = "A"
	statusIn  = "AI"
	statusOut = "AO"

	// result_type of query.billstatus ([REF] §4.5).
	resultProcessing = 0
	resultUploaded   = 1
	resultSucceeded  = 3
	resultFailed     = 4

	// sub_process_flag of a processed query.billstatus row ([SDK]
	// BillDealStatusSearchDo: "51全部成功 52部分成功").
	subProcessAllOK   = "51"
	subProcessPartial = "52"

	// code_status of query.codedetail ([REF] §4.6).
	codeActive    = "A"
	codeVerified  = "I"
	codeSold      = "O"
	codeCancelled = "C"
	codeNotExist  = "E"

	// code_check_error_info keys ([REF] §5.1, keys 3 and 6 documented, the
	// others inferred).
	codeErrNotActivated = "1"
	codeErrFormat       = "2"
	codeErrDuplicate    = "3"
	codeErrCancelled    = "4"
	codeErrParentChild  = "6"

	// Limits ([SDK] 2025-12: uploadinoutbill 10000; [REF] §4.8 retail
	// 3500, codedetail 1000). The sandbox caps both uploads at 3500 by
	// default (the older, stricter figure) unless Options say otherwise.
	defaultMaxCodes       = 3500
	maxCodesPerCodeDetail = 1000
)

// msg_code values and texts seen on the platform ([REF] §5.1).
const (
	msgSuccess    = "SUCCESS"
	msgFail       = "FAIL"
	msgNoInfo     = "FAIL_BIZ_NO_PAT_INFO"
	msgAuthError  = "FAIL_BIZ_AUTH_ERROR"
	msgRepeatFlow = "FAIL_BIZ_BILL_DUPLICATE_UPLOAD_BILLCODE_REPEAT_CODE"

	duplicateBillText = "该单据号已存在"
	soldCodeText      = "存在已出售的码"
	busyText          = "系统繁忙"
	banPattern        = "This ban will last for " // [REF] §5.2
)
