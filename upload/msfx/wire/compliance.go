package wire

// The 码上放心 compliance methods of the retail (lsyd) AppKey: bill counts,
// the official key-variety list, the service end date and the log of
// upstream bills changed after receipt. Every type names the public
// declaration it follows ([SDK] = github.com/golgys0621/topsdk, commit
// 3fc1bd4a).
const (
	// [SDK] ability2939/Ability2939.go
	MethodQueryBillCount      = "alibaba.alihealth.drug.lsyd.query.billcount"
	MethodQueryUpOutBillCount = "alibaba.alihealth.drug.lsyd.query.upoutbillcount"
	MethodKeyFlagDrugURL      = "alibaba.alihealth.drugtrace.top.lsyd.getkeyflagdruginfo.downloadurl"
	MethodServiceEndDate      = "alibaba.alihealth.drugtrace.top.lsyd.service.getenddate"
	// [SDK] defaultability/Defaultability.go: the change log is a WES
	// (kyt) method that needs a license token; whether a retail AppKey
	// may call it is unconfirmed (msfx.md §4.4, single source).
	MethodLicenseTokenGet   = "alibaba.alihealth.drug.code.kyt.wes.license.token.get"
	MethodQueryUpOutBillLog = "alibaba.alihealth.drug.kyt.wes.queryupoutbilllog"
)

// Parameters of the compliance methods ([SDK] request/ of each method).
const (
	PAssRefEntID   = "ass_ref_ent_id"
	PBusiness      = "business"
	PService       = "service"
	PLicense       = "license"
	PLicenseToken  = "license_token"
	PBeginOperDate = "begin_oper_date"
	PEndOperDate   = "end_oper_date"
	// [SDK] ability2939/request/AlibabaAlihealthDrugtraceTopLsydUploadinoutbillRequest.go
	// (205 销毁出库 only, optional).
	PCancelReasonDes = "cancel_reason_des"
)

// BillCountResult is query.billcount's and query.upoutbillcount's result
// ([SDK] ability2939/domain/AlibabaAlihealthDrugLsydQueryBillcountResultModel.go,
// …QueryUpoutbillcountResultModel.go: success, model_list, msg_info, msg_code).
type BillCountResult struct {
	Status
	ModelList List[BillTypeCount] `json:"model_list"`
}

// BillTypeCount is a model_list row ([SDK] ability2939/domain/
// AlibabaAlihealthDrugLsydQueryBillcountBillTypeCountDTO.go,
// …QueryUpoutbillcountBillTypeCountDTO.go). bill_type is declared String.
type BillTypeCount struct {
	BillType     Int64 `json:"bill_type"`
	BillTypeName Str   `json:"bill_type_name,omitempty"`
	Count        Int64 `json:"count"`
}

// KeyFlagURLResult is getkeyflagdruginfo.downloadurl's result ([SDK]
// ability2939/domain/AlibabaAlihealthDrugtraceTopLsydGetkeyflagdruginfoDownloadurlResultModel.go).
type KeyFlagURLResult struct {
	Status
	Model *KeyFlagURL `json:"model,omitempty"`
}

// KeyFlagURL is its model ([SDK] ability2939/domain/
// AlibabaAlihealthDrugtraceTopLsydGetkeyflagdruginfoDownloadurlJSONObject.go).
type KeyFlagURL struct {
	URL Str `json:"url"`
}

// ServiceEndDateResult is service.getenddate's result ([SDK]
// ability2939/domain/AlibabaAlihealthDrugtraceTopLsydServiceGetenddateResultModel.go).
type ServiceEndDateResult struct {
	Status
	EndDate Str `json:"end_date"`
}

// LicenseTokenResult is wes.license.token.get's result ([SDK]
// defaultability/domain/AlibabaAlihealthDrugCodeKytWesLicenseTokenGetResultModel.go).
type LicenseTokenResult struct {
	Status
	Model *LicenseToken `json:"model,omitempty"`
}

// LicenseToken is its model ([SDK] defaultability/domain/
// AlibabaAlihealthDrugCodeKytWesLicenseTokenGetTokenInfo.go): the token
// lasts one day.
type LicenseToken struct {
	AppKey       Str `json:"appkey,omitempty"`
	RefEntID     Str `json:"ref_ent_id,omitempty"`
	LicenseToken Str `json:"license_token"`
	CreateTime   Str `json:"create_time,omitempty"`
	ExpireTime   Str `json:"expire_time,omitempty"`
}

// UpOutBillLogResult is wes.queryupoutbilllog's result ([SDK]
// defaultability/domain/AlibabaAlihealthDrugKytWesQueryupoutbilllogResultModel.go,
// …PageInfoDTO.go: result_list, total_num).
type UpOutBillLogResult struct {
	Status
	Model *Page[UpOutBillLog] `json:"model,omitempty"`
}

// UpOutBillLog is one changed upstream bill ([SDK] defaultability/domain/
// AlibabaAlihealthDrugKytWesQueryupoutbilllogBillUpOutLogDTO.go). The SDK
// declares no field saying what changed; oper_date is the change's time.
type UpOutBillLog struct {
	RefEntID     Str   `json:"ref_ent_id,omitempty"`
	BillID       Int64 `json:"bill_id,omitempty"`
	BillType     Int64 `json:"bill_type"`
	BillTypeDesc Str   `json:"bill_type_desc,omitempty"`
	BillCode     Str   `json:"bill_code"`
	FromRefEntID Str   `json:"from_ref_ent_id,omitempty"`
	ToRefEntID   Str   `json:"to_ref_ent_id,omitempty"`
	OperDate     Str   `json:"oper_date,omitempty"`
}
