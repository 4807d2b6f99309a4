package sandbox

// The sandbox's answer types, written by hand field by field from the
// public SDK declarations (not from package wire). Each type names the SDK
// type it follows; [SDK] is golgys0621/topsdk (new_go_sdk_20251217) and the
// paths are under ability2939/. Every declared field is sent (no omitempty
// on scalars), with the JSON type the SDK declares: *string as a JSON
// string, *int64 as a number, *bool as a boolean. Lists are plain arrays
// here; answer() rewraps them in the classic TOP shape when the request did
// not ask for simplify=true (see shape.go).

// topError follows the TOP error_response ([SDK] util/util.go
// TopApiRequestError: code, msg, sub_code, sub_msg, request_id).
type topError struct {
	Code      int    `json:"code"`
	Msg       string `json:"msg"`
	SubCode   string `json:"sub_code,omitempty"`
	SubMsg    string `json:"sub_msg,omitempty"`
	RequestID string `json:"request_id"`
}

// uploadAnswer follows response/AlibabaAlihealthDrugtraceTopLsydUploadinoutbillResponse.go
// and response/AlibabaAlihealthDrugtraceTopLsydUploadretailResponse.go
// (identical fields): model, msg_code, msg_info, response_success,
// sub_msg_code, operation_info_map. sub_msg_code is sent empty: no public
// example of its values is known. operation_info_map is always present,
// code_check_error_info "{}" when no code failed.
type uploadAnswer struct {
	Model            string           `json:"model"`
	MsgCode          string           `json:"msg_code"`
	MsgInfo          string           `json:"msg_info"`
	ResponseSuccess  bool             `json:"response_success"`
	SubMsgCode       string           `json:"sub_msg_code"`
	OperationInfoMap operationInfoMap `json:"operation_info_map"`
}

// operationInfoMap follows domain/AlibabaAlihealthDrugtraceTopLsydUploadinoutbillOperationInfoMap.go
// (and …UploadretailOperationInfoMap.go): code_check_error_info, a JSON
// object encoded as a string ([REF] §4.2).
type operationInfoMap struct {
	CodeCheckErrorInfo string `json:"code_check_error_info"`
}

// queryModel is the common head of the query result models
// (domain/…ResultModel.go): msg_code, msg_info and response_success; the
// upbillcode and listupout.detail models say success instead
// (domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbillcodeResult.go,
// domain/AlibabaAlihealthDrugtraceTopLsydListupoutDetailResultModel.go).
// The payload field (model, models or model_list) is added per method.
type queryModel struct {
	MsgCode string `json:"msg_code"`
	MsgInfo string `json:"msg_info"`
	// successKey is "response_success" or "success".
	successKey string
	success    bool
	// payloadKey and payload are the method's model field ("" = none).
	payloadKey string
	payload    any
}

// upstreamBillDTO follows domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbillcodeBillUpstreamDTO.go;
// XML item name bill_upstream_dto (bububa/opentaobao model/drugtrace
// xml:"model_list>bill_upstream_dto"). bill_time is util.LocalTime
// ("yyyy-MM-dd HH:mm:ss").
type upstreamBillDTO struct {
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
	AssRefEntID   string `json:"ass_ref_ent_id"`
	AssEntID      string `json:"ass_ent_id"`
	AssEntName    string `json:"ass_ent_name"`
}

// upOutPage follows domain/AlibabaAlihealthDrugtraceTopLsydListupoutPageInfoDto.go:
// result_list and total_num only (no page fields).
type upOutPage struct {
	ResultList []upOutRow `json:"result_list"`
	TotalNum   int64      `json:"total_num"`
}

// upOutRow follows domain/AlibabaAlihealthDrugtraceTopLsydListupoutBillUpOutDetailDo.go;
// XML item name bill_up_out_detail_do (the type name, snake case, as the
// bububa/opentaobao tags name every item; metadata …lsyd_listupout.json
// "BillUpOutDetailDo[]"). code_count, prepn_count, prepn_unit and
// bill_out_id are int64 (JSON numbers); bill_type and status are strings.
type upOutRow struct {
	FromEntName       string `json:"from_ent_name"`
	CodeCount         int64  `json:"code_count"`
	ExprieDate        string `json:"exprie_date"`
	ProduceEntName    string `json:"produce_ent_name"`
	ProduceDate       string `json:"produce_date"`
	ProduceBatchNo    string `json:"produce_batch_no"`
	PkgSpec           string `json:"pkg_spec"`
	PhysicInfo        string `json:"physic_info"`
	PhysicName        string `json:"physic_name"`
	PrepnCount        int64  `json:"prepn_count"`
	FromRefUserID     string `json:"from_ref_user_id"`
	ToRefUserID       string `json:"to_ref_user_id"`
	BillTime          string `json:"bill_time"`
	BillCode          string `json:"bill_code"`
	BillType          string `json:"bill_type"`
	ToUserName        string `json:"to_user_name"`
	FromUserName      string `json:"from_user_name"`
	ExprieDateFormat  string `json:"exprie_date_format"`
	BillTimeFormat    string `json:"bill_time_format"`
	BillOutID         int64  `json:"bill_out_id"`
	PrepnUnit         int64  `json:"prepn_unit"`
	PrepnSpec         string `json:"prepn_spec"`
	DrugEntBaseInfoID string `json:"drug_ent_base_info_id"`
	ProduceDateFormat string `json:"produce_date_format"`
	Status            string `json:"status"`
	ToUserID          string `json:"to_user_id"`
	FromUserID        string `json:"from_user_id"`
	AssRefEntID       string `json:"ass_ref_ent_id"`
	AssEntID          string `json:"ass_ent_id"`
	AssEntName        string `json:"ass_ent_name"`
}

// upOutDetail follows domain/AlibabaAlihealthDrugtraceTopLsydListupoutDetailBillUpOutDetailDto.go.
type upOutDetail struct {
	BillCode         string      `json:"bill_code"`
	BillTypeName     string      `json:"bill_type_name"`
	BillType         string      `json:"bill_type"`
	EntSendName      string      `json:"ent_send_name"`
	EntSendID        string      `json:"ent_send_id"`
	EntRecvName      string      `json:"ent_recv_name"`
	EntRecvID        string      `json:"ent_recv_id"`
	StoreOutDate     string      `json:"store_out_date"`
	UpdateDate       string      `json:"update_date"`
	DrugInfosDtoList []drugInfos `json:"drug_infos_dto_list"`
}

// drugInfos follows domain/AlibabaAlihealthDrugtraceTopLsydListupoutDetailDrugInfosDto.go;
// XML item name drug_infos_dto (bububa/opentaobao
// xml:"drug_infos_dto_list>drug_infos_dto"). Every field is a string.
type drugInfos struct {
	ProduceDate         string         `json:"produce_date"`
	ProductEntName      string         `json:"product_ent_name"`
	PackageSpec         string         `json:"package_spec"`
	ProdName            string         `json:"prod_name"`
	PhysicName          string         `json:"physic_name"`
	PrepnSpec           string         `json:"prepn_spec"`
	PrepnUnit           string         `json:"prepn_unit"`
	ProduceBatchNo      string         `json:"produce_batch_no"`
	ProdSeqNo           string         `json:"prod_seq_no"`
	DrugEntBaseInfoID   string         `json:"drug_ent_base_info_id"`
	ValidEndDate        string         `json:"valid_end_date"`
	LeastPkgAmount      string         `json:"least_pkg_amount"`
	LeastPrepnAmount    string         `json:"least_prepn_amount"`
	ApprovalNo          string         `json:"approval_no"`
	PhysicType          string         `json:"physic_type"`
	PhysicTypeName      string         `json:"physic_type_name"`
	PreparationsUnit    string         `json:"preparations_unit"`
	PrepnTypeDesc       string         `json:"prepn_type_desc"`
	CodeInfoListDtoList []codeInfoItem `json:"code_info_list_dto_list"`
	PkgUnitDesc         string         `json:"pkg_unit_desc"`
	CfdaDrugID          string         `json:"cfda_drug_id"`
}

// codeInfoItem follows domain/AlibabaAlihealthDrugtraceTopLsydListupoutDetailCodeInfoListDto.go;
// XML item name code_info_list_dto (bububa/opentaobao
// xml:"code_info_list_dto_list>code_info_list_dto"). code_level "1" is the
// smallest pack (issue 19; the SDK gives no enumeration).
type codeInfoItem struct {
	PrepnSpec   string `json:"prepn_spec"`
	PrepnAmount string `json:"prepn_amount"`
	PkgAmount   string `json:"pkg_amount"`
	CodeLevel   string `json:"code_level"`
	Code        string `json:"code"`
}

// billStatusPage follows domain/AlibabaAlihealthDrugtraceTopLsydQueryBillstatusPageInfoDto.go:
// total_num and result_list only.
type billStatusPage struct {
	TotalNum   int64           `json:"total_num"`
	ResultList []billStatusRow `json:"result_list"`
}

// billStatusRow follows domain/AlibabaAlihealthDrugtraceTopLsydQueryBillstatusBillDealStatusSearchDo.go;
// XML item name bill_deal_status_search_do (the type name in snake case,
// metadata …lsyd_query_billstatus.json "BillDealStatusSearchDo[]").
// Every field is a string, result_type included.
type billStatusRow struct {
	StoreInoutSeqNo string `json:"store_inout_seq_no"`
	PhysicType      string `json:"physic_type"`
	UploadFileName  string `json:"upload_file_name"`
	FromUserName    string `json:"from_user_name"`
	RoleType        string `json:"role_type"`
	CrtDate         string `json:"crt_date"`
	IcCode          string `json:"ic_code"`
	ShortFileName   string `json:"short_file_name"`
	RefUserName     string `json:"ref_user_name"`
	BillTime        string `json:"bill_time"`
	ResultType      string `json:"result_type"`
	UploadFlag      string `json:"upload_flag"`
	ProcessFlag     string `json:"process_flag"`
	ProcessDate     string `json:"process_date"`
	BillCode        string `json:"bill_code"`
	BillType        string `json:"bill_type"`
	ToUserName      string `json:"to_user_name"`
	FromUserID      string `json:"from_user_id"`
	FromRefUserID   string `json:"from_ref_user_id"`
	ToUserID        string `json:"to_user_id"`
	RefUserID       string `json:"ref_user_id"`
	ToRefUserID     string `json:"to_ref_user_id"`
	UserID          string `json:"user_id"`
	ProcessInfo     string `json:"process_info"`
	SubProcessFlag  string `json:"sub_process_flag"`
}

// billInOutDetail follows domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbilldetailBillInOutDetailDto.go.
type billInOutDetail struct {
	ModDate                      string          `json:"mod_date"`
	ProcessDate                  string          `json:"process_date"`
	BillTime                     string          `json:"bill_time"`
	ToUserID                     string          `json:"to_user_id"`
	ToEntName                    string          `json:"to_ent_name"`
	FromUserID                   string          `json:"from_user_id"`
	FromEntName                  string          `json:"from_ent_name"`
	BillTypeName                 string          `json:"bill_type_name"`
	BillType                     string          `json:"bill_type"`
	BillCode                     string          `json:"bill_code"`
	BillChkInOutDetailListDTList []billChkDetail `json:"bill_chk_in_out_detail_list_d_t_o_list"`
}

// billChkDetail follows domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbilldetailBillchkinoutdetaillistdtolist.go;
// XML item name billchkinoutdetaillistdtolist (bububa/opentaobao
// xml:"bill_chk_in_out_detail_list_d_t_o_list>billchkinoutdetaillistdtolist").
type billChkDetail struct {
	ExpiredDate          string          `json:"expired_date"`
	ProduceEntName       string          `json:"produce_ent_name"`
	ProdCode             string          `json:"prod_code"`
	ProductCode          string          `json:"product_code"`
	ProduceDate          string          `json:"produce_date"`
	ProductBatchNo       string          `json:"product_batch_no"`
	DrugEntBaseInfoID    string          `json:"drug_ent_base_info_id"`
	PhysicName           string          `json:"physic_name"`
	PreparationsUnit     string          `json:"preparations_unit"`
	TempPkgSpec          string          `json:"temp_pkg_spec"`
	MinPreparationsCount string          `json:"min_preparations_count"`
	MinPkgCount          string          `json:"min_pkg_count"`
	PhysicTypeName       string          `json:"physic_type_name"`
	PhysicType           string          `json:"physic_type"`
	CodeAndParentList    []codeAndParent `json:"code_and_parent_list"`
	ApproveNo            string          `json:"approve_no"`
}

// codeAndParent follows domain/AlibabaAlihealthDrugtraceTopLsydQueryUpbilldetailCodeandparentlist.go;
// XML item name codeandparentlist (bububa/opentaobao
// xml:"code_and_parent_list>codeandparentlist").
type codeAndParent struct {
	Code       string `json:"code"`
	CodeLevel  string `json:"code_level"`
	ParentCode string `json:"parent_code"`
}

// codeFullInfo follows domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailCodeFullInfoDto.go;
// XML item name code_full_info_dto (bububa/opentaobao
// xml:"models>code_full_info_dto"). The objects are absent for a code the
// platform does not know (status E).
type codeFullInfo struct {
	CodeStatusTypeDTO  codeStatusType   `json:"code_status_type_d_t_o"`
	Code               string           `json:"code"`
	PUserEntDTO        *pUserEnt        `json:"p_user_ent_d_t_o,omitempty"`
	PackageLevel       string           `json:"package_level"`
	DrugEntBaseDTO     *drugEntBase     `json:"drug_ent_base_d_t_o,omitempty"`
	CodeProduceInfoDTO *codeProduceInfo `json:"code_produce_info_d_t_o,omitempty"`
}

// codeStatusType follows domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailCodeStatusTypeDto.go:
// code_status only.
type codeStatusType struct {
	CodeStatus string `json:"code_status"`
}

// pUserEnt follows domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailPUserEntDto.go
// (the producing enterprise).
type pUserEnt struct {
	RefEntID string `json:"ref_ent_id"`
	EntName  string `json:"ent_name"`
}

// drugEntBase follows domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailDrugEntBaseDto.go.
type drugEntBase struct {
	PhysicTypeDesc    string `json:"physic_type_desc"`
	PhysicName        string `json:"physic_name"`
	Exprie            string `json:"exprie"`
	DrugEntBaseInfoID string `json:"drug_ent_base_info_id"`
	ApprovalLicenceNo string `json:"approval_licence_no"`
	PkgSpecCrit       string `json:"pkg_spec_crit"`
	PrepnSpec         string `json:"prepn_spec"`
	PrepnTypeDesc     string `json:"prepn_type_desc"`
}

// codeProduceInfo follows domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailCodeProduceInfoDto.go.
type codeProduceInfo struct {
	ProduceInfoList []produceInfo `json:"produce_info_list"`
}

// produceInfo follows domain/AlibabaAlihealthDrugtraceTopLsydQueryCodedetailProduceInfoDto.go;
// XML item name produce_info_dto (bububa/opentaobao
// xml:"produce_info_list>produce_info_dto").
type produceInfo struct {
	ProduceDateStr      string `json:"produce_date_str"`
	PkgAmount           string `json:"pkg_amount"`
	ExpireDate          string `json:"expire_date"`
	BatchNo             string `json:"batch_no"`
	OriginalProduceDate string `json:"original_produce_date"`
	OriginalExpireDate  string `json:"original_expire_date"`
}

// codeRelation follows domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationCodeRelationDto.go;
// XML item name code_relation_dto (bububa/opentaobao
// xml:"model_list>code_relation_dto"). is_smallest is a string.
type codeRelation struct {
	CodeActiveInfoDto codeActiveInfo        `json:"code_active_info_dto"`
	CodeRelationList  []relationCode        `json:"code_relation_list"`
	IsSmallest        string                `json:"is_smallest"`
	PkgInfoDto        pkgInfo               `json:"pkg_info_dto"`
	BaseInfosDto      baseInfos             `json:"base_infos_dto"`
	ProduceInfoList   []relationProduceInfo `json:"produce_info_list"`
}

// codeActiveInfo follows domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationCodeActiveInfoDto.go;
// the dates are util.LocalTime ("yyyy-MM-dd HH:mm:ss"), active_count,
// other_num and small_num int64.
type codeActiveInfo struct {
	ProcessFlag      string `json:"process_flag"`
	Status           string `json:"status"`
	RelationType     string `json:"relation_type"`
	UserCert         string `json:"user_cert"`
	ProdCode         string `json:"prod_code"`
	OperIcName       string `json:"oper_ic_name"`
	UploadFileName   string `json:"upload_file_name"`
	UploadFilePath   string `json:"upload_file_path"`
	ActiveDate       string `json:"active_date"`
	RefEntID         string `json:"ref_ent_id"`
	EntID            string `json:"ent_id"`
	ProcessDate      string `json:"process_date"`
	ProcessEndDate   string `json:"process_end_date"`
	OperIcCode       string `json:"oper_ic_code"`
	UploadFlag       string `json:"upload_flag"`
	CrtDate          string `json:"crt_date"`
	ProcessCount     string `json:"process_count"`
	ActiveCount      int64  `json:"active_count"`
	OtherNum         int64  `json:"other_num"`
	SmallNum         int64  `json:"small_num"`
	CrtDateString    string `json:"crt_date_string"`
	BillInID         string `json:"bill_in_id"`
	CodeActiveInfoID string `json:"code_active_info_id"`
}

// relationCode follows domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationCodeInfo.go;
// XML item name code_info (bububa/opentaobao
// xml:"code_relation_list>code_info"). code_level 1 = biggest,
// code_pack_level 1 = smallest ([REF] §7).
type relationCode struct {
	Status        string `json:"status"`
	Code          string `json:"code"`
	CodeLevel     string `json:"code_level"`
	ParentCode    string `json:"parent_code"`
	CodePackLevel string `json:"code_pack_level"`
}

// pkgInfo follows domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationPkgInfoDto.go;
// code_list is String[] (XML items "string", bububa/opentaobao
// xml:"code_list>string").
type pkgInfo struct {
	CodeList []string `json:"code_list"`
}

// baseInfos follows domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationBaseInfosDto.go.
type baseInfos struct {
	BaseInfoList []baseInfo `json:"base_info_list"`
}

// baseInfo follows domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationBaseInfoDto.go;
// XML item name base_info_dto (bububa/opentaobao
// xml:"base_info_list>base_info_dto").
type baseInfo struct {
	PhysicInfo          string `json:"physic_info"`
	RefEntID            string `json:"ref_ent_id"`
	PkgSpec             string `json:"pkg_spec"`
	PrepnSpec           string `json:"prepn_spec"`
	PrepnType           string `json:"prepn_type"`
	PhysicName          string `json:"physic_name"`
	PkgRatio            string `json:"pkg_ratio"`
	ExprieDate          string `json:"exprie_date"`
	ProduceBatchNo      string `json:"produce_batch_no"`
	ProduceDate         string `json:"produce_date"`
	SubTypeNo           string `json:"sub_type_no"`
	ProductCode         string `json:"product_code"`
	ProdID              string `json:"prod_id"`
	ApproveNo           string `json:"approve_no"`
	PhysicType          string `json:"physic_type"`
	OriginalProduceDate string `json:"original_produce_date"`
	OriginalExpireDate  string `json:"original_expire_date"`
}

// relationProduceInfo follows domain/AlibabaAlihealthDrugtraceTopLsydQueryRelationProduceInfoDto.go;
// XML item name produce_info_dto; produce_date is util.LocalTime.
type relationProduceInfo struct {
	ProduceDate         string `json:"produce_date"`
	ExpireDate          string `json:"expire_date"`
	BatchNo             string `json:"batch_no"`
	Code                string `json:"code"`
	PkgAmount           string `json:"pkg_amount"`
	OriginalProduceDate string `json:"original_produce_date"`
	OriginalExpireDate  string `json:"original_expire_date"`
}

// partSuccessAnswer follows response/AlibabaAlihealthDrugtraceTopLsydListbillprocesspartsuccessResponse.go:
// response_success, model, msg_info, msg_code and http_status_code at the
// top level of the response (not inside result).
type partSuccessAnswer struct {
	ResponseSuccess bool            `json:"response_success"`
	Model           partSuccessPage `json:"model"`
	MsgInfo         string          `json:"msg_info"`
	MsgCode         string          `json:"msg_code"`
	HTTPStatusCode  int64           `json:"http_status_code"`
}

// partSuccessPage follows domain/AlibabaAlihealthDrugtraceTopLsydListbillprocesspartsuccessPageInfoDTO.go:
// result, pages, total_num, page_size, page (int64).
type partSuccessPage struct {
	Result   []partSuccessRow `json:"result"`
	Pages    int64            `json:"pages"`
	TotalNum int64            `json:"total_num"`
	PageSize int64            `json:"page_size"`
	Page     int64            `json:"page"`
}

// partSuccessRow follows domain/AlibabaAlihealthDrugtraceTopLsydListbillprocesspartsuccessBillProcessPartSuccessExcelDTO.go;
// XML item name bill_process_part_success_excel_dto, inferred from the
// type name as bububa/opentaobao names items (e.g. BillUpstreamDTO →
// bill_upstream_dto); the method has no metadata file there.
type partSuccessRow struct {
	LastProcessDateDesc     string `json:"last_process_date_desc"`
	Code                    string `json:"code"`
	ProcessStatusReasonDesc string `json:"process_status_reason_desc"`
	ErrorCodeDesc           string `json:"error_code_desc"`
	ErrorCode               string `json:"error_code"`
}

// entQuery follows domain/AlibabaAlihealthDrugLsydGetentinfolistTopEntInfoReqDto.go,
// the JSON object of query_param (util.ConvertStruct).
type entQuery struct {
	EntName     string `json:"ent_name,omitempty"`
	OrgCode     string `json:"org_code,omitempty"`
	MedicalCode string `json:"medical_code,omitempty"`
	ParRefEntID string `json:"par_ref_ent_id,omitempty"`
	EntID       string `json:"ent_id,omitempty"`
}

// entInfo follows domain/AlibabaAlihealthDrugLsydGetentinfolistTopEntInfoRespDto.go;
// XML item name top_ent_info_resp_dto, inferred from the type name (no
// metadata file for the method in bububa/opentaobao). audit_status,
// lic_type_code and settle_status are int64.
type entInfo struct {
	EntID           string `json:"ent_id"`
	RefEntID        string `json:"ref_ent_id"`
	AuditStatus     int64  `json:"audit_status"`
	EntName         string `json:"ent_name"`
	UniqueCode      string `json:"unique_code"`
	LicTypeName     string `json:"lic_type_name"`
	LicTypeCode     int64  `json:"lic_type_code"`
	ProvName        string `json:"prov_name"`
	ProvCode        string `json:"prov_code"`
	CityName        string `json:"city_name"`
	CityCode        string `json:"city_code"`
	AreaName        string `json:"area_name"`
	AreaCode        string `json:"area_code"`
	SettleStatus    int64  `json:"settle_status"`
	RegRegionDetail string `json:"reg_region_detail"`
}
