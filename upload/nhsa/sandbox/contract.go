package sandbox

// The sandbox's own reading of the FSI contract. It is written by hand
// from the published field tables and public clients cited beside each
// table, and deliberately shares nothing with the agent's client (package
// nhsa and nhsa/fsi): a field the client names wrongly must be refused
// here, not agreed with. import_test.go fails when this package, or its
// tests, import the client.

// Interface numbers (infno) served.
const (
	infPurchase       = "3503" // 商品采购
	infPurchaseReturn = "3504" // 商品采购退货
	infSale           = "3505" // 商品销售
	infSaleReturn     = "3506" // 商品销售退货
	infDelete         = "3507" // 商品信息删除
	infStockTake      = "3501" // 商品盘存上传
	infStockChange    = "3502" // 商品库存变更
	infTraceQuery     = "3513" // 商品销售追溯信息查询 (answered from the ledger)
	infPurchaseQuery  = "3510" // 商品采购查询 (3503/3504 rows, from the ledger; rowquery.go)
	infSaleQuery      = "3511" // 商品销售查询 (3505/3506 rows, from the ledger; rowquery.go)
	infStockQuery     = "3508" // 商品盘存查询 (3501 rows, from the ledger; rowquery.go)
	infChangeQuery    = "3509" // 商品库存变更查询 (3502 rows, from the ledger; rowquery.go)
)

// Input node names: purcinfo (3503/3504), selinfo (3505/3506), data
// (3507), as the spec pages and clients below name them.
const (
	nodePurchase  = "purcinfo"
	nodeSale      = "selinfo"
	nodeDelete    = "data"
	nodeInventory = "invinfo" // 3501, 3502 (nhsa.md §3.1)
)

// Layouts of the FSI date and time fields (nhsa.md §2.1, §3.2; the
// "yyyy-MM-dd" and "yyyy-MM-dd HH:mm:ss" notes of
// https://d.pingjiangxian.com/html/3506.html).
const (
	timeLayout      = "2006-01-02 15:04:05"
	dateLayout      = "2006-01-02"
	msgidTimeLayout = "20060102150405"
)

// Lengths fixed by the envelope table (nhsa.md §2.1).
const (
	msgidLen         = 30 // fixmedins_code(12) + yyyyMMddHHmmss(14) + 顺序号(4)
	fixmedinsCodeLen = 12
	tracCodeMaxLen   = 100 // drugtracinfo[].drug_trac_codg
)

// 3507 inv_data_type values (hsa-his InsureGoodInfoDelete.java:
// "1-盘存信息；2-库存变更信息；3-采购信息；4-销售信息").
const (
	delInventory = "1"
	delStock     = "2"
	delPurchase  = "3"
	delSale      = "4"
)

// infcode values: 0 success, -1 failure with the reason in err_msg
// (nhsa.md §2.2).
const (
	infcodeOK    = 0
	infcodeError = -1
)

// Texts the sandbox words its refusals with. Real provincial texts are
// not public; these are recognisable and stable (the agent's verdict
// table names them), and the test suite pins them.
const (
	// TextBusy is the transient 系统繁忙 refusal (FaultBusy,
	// FaultBusyResult).
	TextBusy = "系统繁忙"
	// TextSoldCode refuses a sale of a code held by another sale.
	TextSoldCode = "追溯码已销售"
	// TextDuplicateNo says every row of the call is already there,
	// identical: the caller may take it as delivered.
	TextDuplicateNo = "fixmedins_bchno重复"
)

// SM2/SM4 channel envelope (nhsa.md §4.1: Mr-wangwei/yh-gm README.md;
// newtouch-cloud/openhis WinServiceAPI/YiBaoInterface/sm2sm4/SignUtil.cs).
const (
	encTypeSM4  = "SM4"
	signTypeSM2 = "SM2"
	// DefaultEnvelopeVersion is the version the mobile-pay centre channel
	// sends ("2.0.1" in the same sources).
	DefaultEnvelopeVersion = "2.0.1"
)

// Gateway header names (nhsa.md §2.4).
const (
	hdrTifPaasID    = "x-tif-paasid"
	hdrTifTimestamp = "x-tif-timestamp"
	hdrTifNonce     = "x-tif-nonce"
	hdrTifSignature = "x-tif-signature"

	hdrAPIName      = "_api_name"
	hdrAPIVersion   = "_api_version"
	hdrAPITimestamp = "_api_timestamp"
	hdrAPIAccessKey = "_api_access_key"
	hdrAPISignature = "_api_signature"
)

// kind is the JSON type of a contract field.
type kind int

const (
	kindNone   kind = iota // not a field of the contract
	kindString             // JSON string
	kindNumber             // JSON number (数值型)
	kindTrac               // drugtracinfo: array of {drug_trac_codg}
	kindRaw                // input: any JSON, checked on its own
)

// field is one row of a published field table: the parameter code, its
// JSON type, its length in characters (0 where the format fixes it, as
// for dates) and whether the table marks it required (是否必填 Y).
type field struct {
	name     string
	kind     kind
	max      int
	required bool
}

// requestFields is the FSI request envelope, nhsa.md §2.1, from
// binzhe12123/Medical SZSI_Smart/Model/SYB/SYBCommon.cs and
// idoku-test/HN-YBJ-SDK YN-YBJ-SDK.Console/Program.cs. recer_sys_code is
// required only when Options.RecerSysCode is set (its value is
// province-assigned), signtype only in the provinces that ask for it
// (Options.Require "request.signtype"). fixmedins_soft_fcty, seen in one
// newer envelope without a published length, is left out: it is accepted
// and logged as an unknown field.
func requestFields() []field {
	return []field{
		{"infno", kindString, 5, true},
		{"msgid", kindString, 30, true},
		{"mdtrtarea_admvs", kindString, 6, true},
		{"insuplc_admdvs", kindString, 6, false},
		{"recer_sys_code", kindString, 10, false},
		{"dev_no", kindString, 100, false},
		{"dev_safe_info", kindString, 2000, false},
		{"cainfo", kindString, 1024, false},
		{"signtype", kindString, 10, false},
		{"infver", kindString, 6, true},
		{"opter_type", kindString, 3, true},
		{"opter", kindString, 30, true},
		{"opter_name", kindString, 50, true},
		{"inf_time", kindString, 0, true},
		{"fixmedins_code", kindString, 12, true},
		{"fixmedins_name", kindString, 200, true},
		{"sign_no", kindString, 30, false},
		{"input", kindRaw, 0, true},
	}
}

// purchaseFields is the 3503 purcinfo table: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureGoodBuy.java
// (type, length, 代码标识, 是否必填 per field). purc_invo_no is not required
// there but is in 3504's table (below). drugtracinfo is in no 3503 table
// seen (nhsa.md §3.2); it is accepted, not required.
func purchaseFields() []field {
	return []field{
		{"med_list_codg", kindString, 50, true},
		{"fixmedins_hilist_id", kindString, 30, true},
		{"fixmedins_hilist_name", kindString, 200, true},
		{"dynt_no", kindString, 50, false},
		{"fixmedins_bchno", kindString, 30, true},
		{"spler_name", kindString, 200, true},
		{"spler_pmtno", kindString, 50, false},
		{"manu_lotnum", kindString, 30, true},
		{"prodentp_name", kindString, 200, true},
		{"aprvno", kindString, 100, true},
		{"manu_date", kindString, 0, true},
		{"expy_end", kindString, 0, true},
		{"finl_trns_pric", kindNumber, 0, false},
		{"purc_retn_cnt", kindNumber, 0, true},
		{"purc_invo_codg", kindString, 50, false},
		{"purc_invo_no", kindString, 50, false},
		{"rx_flag", kindString, 3, true},
		{"purc_retn_stoin_time", kindString, 0, true},
		{"purc_retn_opter_name", kindString, 50, true},
		{"prod_geay_flag", kindString, 3, false}, // 代码标识 Y, 是否必填 blank
		{"memo", kindString, 500, false},
		{"medins_prod_purc_no", kindString, 50, false},
		{"drugtracinfo", kindTrac, 0, false},
	}
}

// purchaseReturnRequired are the required fields of a 3504 row:
// fengzaiqishi11/hsa-his …/insure/stock/entity/InsureGoodBuyBack.java
// (purc_invo_no 采购发票号 Y; no manu_lotnum, prodentp_name, aprvno at all).
// medins_prod_purc_no is optional there; the sandbox requires it because
// a return must name the purchase it returns (see the package doc).
func purchaseReturnRequired() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"spler_name", "manu_date", "expy_end", "purc_retn_cnt", "purc_invo_no", "rx_flag",
		"purc_retn_stoin_time", "purc_retn_opter_name", "medins_prod_purc_no"}
}

// saleFields is the 3505 selinfo table: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureGoodSell.java,
// with mdtrt_setl_type, medins_prod_sel_no and the drugtracinfo node of
// newer clients (nhsa.md §3.3). Code-list fields (prsc_dr_cert_type,
// phar_cert_type, hi_feesetl_type, psn_cert_type, rx_circ_flag) have 代码标识
// Y but 是否必填 blank there; other clients and provinces require some of
// them (Options.Require). drugtracinfo is required: a sale without codes is
// not settled since 2025-07-01 (nhsa.md §5).
func saleFields() []field {
	return []field{
		{"med_list_codg", kindString, 50, true},
		{"fixmedins_hilist_id", kindString, 30, true},
		{"fixmedins_hilist_name", kindString, 200, true},
		{"fixmedins_bchno", kindString, 30, true},
		{"prsc_dr_cert_type", kindString, 6, false},
		{"prsc_dr_certno", kindString, 50, false},
		{"prsc_dr_name", kindString, 50, true},
		{"phar_cert_type", kindString, 6, false},
		{"phar_certno", kindString, 50, false},
		{"phar_name", kindString, 50, true},
		{"phar_prac_cert_no", kindString, 50, true},
		{"hi_feesetl_type", kindString, 6, false},
		{"setl_id", kindString, 30, false},
		{"mdtrt_sn", kindString, 30, true},
		{"psn_no", kindString, 30, false},
		{"psn_cert_type", kindString, 6, false},
		{"certno", kindString, 50, false},
		{"psn_name", kindString, 50, false},
		{"manu_lotnum", kindString, 30, true},
		{"manu_date", kindString, 0, true},
		{"expy_end", kindString, 0, false},
		{"rx_flag", kindString, 3, true},
		{"trdn_flag", kindString, 3, true},
		{"finl_trns_pric", kindNumber, 0, false},
		{"rxno", kindString, 40, false},
		{"rx_circ_flag", kindString, 3, false},
		{"rtal_docno", kindString, 40, true},
		{"stoout_no", kindString, 40, false},
		{"bchno", kindString, 30, false},
		{"drug_trac_codg", kindString, 30, false}, // the legacy single code
		{"drug_prod_barc", kindString, 30, false},
		{"shelf_posi", kindString, 20, false},
		{"sel_retn_cnt", kindNumber, 0, true},
		{"sel_retn_time", kindString, 0, true},
		{"sel_retn_opter_name", kindString, 50, true},
		{"memo", kindString, 500, false},
		{"medins_prod_sel_no", kindString, 50, false},
		{"mdtrt_setl_type", kindString, 6, false},
		{"drugtracinfo", kindTrac, 0, true},
	}
}

// saleReturnRequired are the required fields of a 3506 row: the 3506
// spec page https://d.pingjiangxian.com/html/3506.html (节点标识 selinfo)
// and fengzaiqishi11/hsa-his …/insure/stock/entity/InsureGoodSellBack.java
// agree on these; newer clients add mdtrt_sn (Y in InsureGoodSellBack).
// psn_cert_type is 代码标识 Y, 是否必填 blank in both; provinces that
// require it on returns set Options.Require "3506.psn_cert_type".
// medins_prod_sel_no (商品销售流水号, optional in the tables) is required by
// the sandbox: a return must name its sale.
func saleReturnRequired() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"manu_lotnum", "manu_date", "rx_flag", "trdn_flag", "sel_retn_cnt", "sel_retn_time", "sel_retn_opter_name",
		"medins_prod_sel_no", "mdtrt_sn"}
}

// stockTakeFields is the 3501 invinfo table, from the 是否必填 columns of
// fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureInventoryCheck.java
// (invdate 日期型, inv_cnt 数值型 16,2, manu_lotnum optional) and the "Y" of
// newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3501.cs, whose
// last field is drugtracinfo (溯源码节点信息). The sandbox requires the codes
// (Options.Relax "3501.drugtracinfo" lifts it): a stock-take without them
// proves nothing about the packs.
func stockTakeFields() []field {
	return []field{
		{"med_list_codg", kindString, 50, true},
		{"fixmedins_hilist_id", kindString, 30, true},
		{"fixmedins_hilist_name", kindString, 200, true},
		{"rx_flag", kindString, 3, true},
		{"invdate", kindString, 0, true},
		{"inv_cnt", kindNumber, 0, true},
		{"manu_lotnum", kindString, 30, false},
		{"fixmedins_bchno", kindString, 30, true},
		{"manu_date", kindString, 0, true},
		{"expy_end", kindString, 0, true},
		{"memo", kindString, 500, false},
		{"drugtracinfo", kindTrac, 0, true},
	}
}

// stockChangeFields is the 3502 invinfo table: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureInventoryStockUpdate.java
// and newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3502.cs agree on
// names, types and lengths (inv_chg_type 字符型 6 代码 Y 必填 Y; pric 16,6 Y;
// cnt 16,4 Y; inv_chg_time 日期时间型 Y; inv_chg_opter_name 50; trdn_flag
// 字符型 2, Y in openhis). drugtracinfo is in openhis; required here as
// for 3501. The inv_chg_type code set is not public: Options.ChangeTypes
// restricts it when a test names one.
func stockChangeFields() []field {
	return []field{
		{"med_list_codg", kindString, 50, true},
		{"inv_chg_type", kindString, 6, true},
		{"fixmedins_hilist_id", kindString, 30, true},
		{"fixmedins_hilist_name", kindString, 200, true},
		{"fixmedins_bchno", kindString, 30, true},
		{"pric", kindNumber, 0, true},
		{"cnt", kindNumber, 0, true},
		{"rx_flag", kindString, 3, true},
		{"inv_chg_time", kindString, 0, true},
		{"inv_chg_opter_name", kindString, 50, false},
		{"memo", kindString, 500, false},
		{"trdn_flag", kindString, 2, true},
		{"drugtracinfo", kindTrac, 0, true},
	}
}

// traceQueryFields is the 3513 data node: newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3513.cs
// (fixmedins_code 30 Y; every other field N; drug_trac_codg 30 there). A
// single source: the sandbox follows it and refuses what it does not name.
func traceQueryFields() []field {
	return []field{
		{"fixmedins_code", kindString, 30, true},
		{"medins_list_codg", kindString, 150, false},
		{"fixmedins_bchno", kindString, 30, false},
		{"begndate", kindString, 0, false},
		{"enddate", kindString, 0, false},
		{"med_list_codg", kindString, 50, false},
		{"mdtrt_id", kindString, 30, false},
		{"psn_no", kindString, 30, false},
		{"psn_cert_type", kindString, 6, false},
		{"certno", kindString, 600, false},
		{"psn_name", kindString, 50, false},
		{"drug_trac_codg", kindString, 30, false},
	}
}

// traceRecord is one record of the 3513 answer, in the camelCase of
// newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Output/YiBao/Output_3513.cs (the
// fields the sandbox knows of a sale row). That C# reads output as one
// object; a period holds many records, so the sandbox answers a list
// (unconfirmed layout).
type traceRecord struct {
	FixmedinsCode  string `json:"fixmedinsCode"`
	MedListCodg    string `json:"medListCodg"`
	MedinsListCodg string `json:"medinsListCodg"`
	MedinsListName string `json:"medinsListName"`
	FixmedinsBchno string `json:"fixmedinsBchno"`
	DrugTracCodg   string `json:"drugTracCodg"`
	TrdnFlag       string `json:"trdnFlag"`
	OptTime        string `json:"optTime"`
}

// deleteFields is the 3507 data node: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureGoodInfoDelete.java.
func deleteFields() []field {
	return []field{
		{"fixmedins_bchno", kindString, 30, true},
		{"inv_data_type", kindString, 30, true},
	}
}

// fsiAnswer is the FSI response (nhsa.md §2.2: binzhe12123/Medical
// SZSI_Smart/Model/SYB/SYBCommon.cs). output carries the business result
// in the shapes of Answer (AnswerRetRslt, AnswerPerRow); it is absent for
// the plain 进销存 answer.
type fsiAnswer struct {
	Infcode     int    `json:"infcode"`
	InfRefmsgid string `json:"inf_refmsgid,omitempty"`
	RefmsgTime  string `json:"refmsg_time,omitempty"`
	RespondTime string `json:"respond_time,omitempty"`
	ErrMsg      string `json:"err_msg,omitempty"`
	WarnMsg     string `json:"warn_msg,omitempty"`
	Output      any    `json:"output,omitempty"`
}

// resultOutput is output = {"result": {retRslt, msgRslt}}: the business
// verdict of the batch "A" interfaces (nhsa.md §3.5, 3505A 表209: retRslt
// "1" success / "0" failure, reason in msgRslt).
type resultOutput struct {
	Result retResult `json:"result"`
}

type retResult struct {
	RetRslt string `json:"retRslt"`
	MsgRslt string `json:"msgRslt"`
}

// rowsOutput is output = {"invinfoErrDetail": [...]}: one verdict per row,
// as the 3502A answer declares it in a public C# client (class
// Output_3502A, namespace NeiMengGuYiBaoApp.Models.Output.YiBao: list
// invinfoErrDetail of med_list_codg, fixmedins_hilist_id,
// fixmedins_hilist_name, fixmedins_bchno, retRslt (返回结果 "1" 成功 / "0"
// 失败), msgRslt (错误原因, ≤2000), memo). That the 3503-3506 answers use the
// same node is unconfirmed; it is the only per-row shape published.
type rowsOutput struct {
	Rows []rowResult `json:"invinfoErrDetail"`
}

type rowResult struct {
	MedListCodg         string `json:"med_list_codg,omitempty"`
	FixmedinsHilistID   string `json:"fixmedins_hilist_id,omitempty"`
	FixmedinsHilistName string `json:"fixmedins_hilist_name,omitempty"`
	FixmedinsBchno      string `json:"fixmedins_bchno"`
	RetRslt             string `json:"retRslt"`
	MsgRslt             string `json:"msgRslt,omitempty"`
	Memo                string `json:"memo,omitempty"`
}

// envelopeAnswer is the SM2/SM4 answer envelope (nhsa.md §4.5).
type envelopeAnswer struct {
	AppID     string `json:"appId"`
	EncType   string `json:"encType"`
	SignType  string `json:"signType"`
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
	EncData   string `json:"encData"`
	SignData  string `json:"signData"`
	Code      int    `json:"code"`
	Message   string `json:"message"`
}

// purchaseQueryFields is the data node of 3510 商品采购查询 as
// newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3510.cs declares
// it (single source): fixmedins_code, begndate and enddate Y; one of
// medins_list_codg and fixmedins_bchno must be given ("必须传其中一个字段").
// The table also marks rx_flag, list_sp_item_flag and vali_flag Y: code-
// list fields, read as 代码标识 as in the row tables, so they are not
// required (docs/protocol-fields.md).
func purchaseQueryFields() []field {
	return queryFields(
		"fixmedins_code", 30, "medins_list_codg", 150, "fixmedins_bchno", 30, "begndate", 0, "enddate", 0,
		"medins_prod_purc_no", 30, "med_list_codg", 50, "medins_list_name", 100, "dynt_no", 50, "spler_name", 200,
		"spler_pmtno", 50, "manu_lotnum", 30, "prodentp_name", 200, "aprvno", 100, "manu_date", 0, "expy_end", 0,
		"purc_invo_codg", 50, "purc_invo_no", 50, "rx_flag", 3, "list_sp_item_flag", 3, "purc_retn_stoin_time", 0,
		"purc_retn_opter_name", 50, "prod_geay_flag", 3, "prod_retn_flag", 3, "memo", 500, "vali_flag", 3, "rid", 40,
		"crter_id", 20, "crter_name", 50, "crte_optins_no", 20, "opter_id", 20, "opter_name", 50, "optins_no", 20,
		"poolarea_no", 6)
}

// saleQueryFields is the data node of 3511 商品销售查询 as newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3511.cs declares
// it (single source; the same rules as 3510; its 标志 fields marked Y are
// the 3505 row table's: filters here).
func saleQueryFields() []field {
	return queryFields(
		"fixmedins_code", 30, "medins_list_codg", 150, "fixmedins_bchno", 30, "begndate", 0, "enddate", 0,
		"medins_prod_sel_no", 30, "med_list_codg", 50, "medins_list_name", 100, "prsc_dr_cert_type", 3,
		"prsc_dr_certno", 50, "bilg_dr_name", 50, "phar_cert_type", 3, "phar_certno", 50, "phar_name", 50,
		"phar_prac_cert_no", 50, "hi_feesetl_type", 6, "setl_id", 30, "psn_no", 30, "psn_cert_type", 6, "certno", 600,
		"psn_name", 50, "manu_lotnum", 30, "manu_date", 0, "expy_end", 0, "elec_supn_codg", 20, "rx_flag", 3,
		"list_sp_item_flag", 3, "trdn_flag", 3, "sel_retn_time", 0, "sel_retn_opter_name", 50, "memo", 500,
		"vali_flag", 3, "rid", 40, "crter_id", 20, "crter_name", 50, "crte_optins_no", 20, "opter_id", 20,
		"opter_name", 50, "optins_no", 20, "poolarea_no", 6)
}

// queryFields reads name, length pairs (0: no length, a date); the three
// the tables mark Y for a query are required.
func queryFields(pairs ...any) []field {
	var out []field
	for i := 0; i < len(pairs); i += 2 {
		name := pairs[i].(string)
		req := name == "fixmedins_code" || name == "begndate" || name == "enddate"
		out = append(out, field{name, kindString, pairs[i+1].(int), req})
	}
	return out
}

// purchaseRecord is one record of the 3510 answer, in the camelCase of
// newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Output/YiBao/Output_3510.cs (the
// fields the sandbox knows of a 3503/3504 row). That output declares no
// trace code. A list, as for 3513 (unconfirmed layout).
type purchaseRecord struct {
	FixmedinsCode    string  `json:"fixmedinsCode"`
	MedListCodg      string  `json:"medListCodg"`
	MedinsListCodg   string  `json:"medinsListCodg"`
	MedinsListName   string  `json:"medinsListName"`
	FixmedinsBchno   string  `json:"fixmedinsBchno"`
	MedinsProdPurcNo string  `json:"medinsProdPurcNo"`
	ProdRetnFlag     string  `json:"prodRetnFlag"` // 1: a 3504 return
	PurcRetnCnt      float64 `json:"purcRetnCnt"`
	OptTime          string  `json:"optTime"`
	ValiFlag         string  `json:"valiFlag"`
}

// saleRecord is one record of the 3511 answer (newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Output/YiBao/Output_3511.cs; no
// trace code, no return flag; the personal fields it declares are left
// out: the sandbox keeps none of a row's buyer).
type saleRecord struct {
	FixmedinsCode   string  `json:"fixmedinsCode"`
	MedListCodg     string  `json:"medListCodg"`
	MedinsListCodg  string  `json:"medinsListCodg"`
	MedinsListName  string  `json:"medinsListName"`
	FixmedinsBchno  string  `json:"fixmedinsBchno"`
	MedinsProdSelNo string  `json:"medinsProdSelNo"`
	SelRetnCnt      float64 `json:"selRetnCnt"`
	TrdnFlag        string  `json:"trdnFlag"`
	OptTime         string  `json:"optTime"`
	ValiFlag        string  `json:"valiFlag"`
}

// stockQueryFields is the data node of 3508 (the 3501 stock-take rows) as
// newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3508.cs declares
// it (single source; the same rules as 3510).
func stockQueryFields() []field {
	return queryFields(
		"fixmedins_code", 30, "medins_list_codg", 150, "fixmedins_bchno", 30, "begndate", 0, "enddate", 0,
		"medins_prod_inv_no", 30, "med_list_codg", 50, "medins_list_name", 100, "rx_flag", 3, "list_sp_item_flag", 3,
		"trdn_flag", 3, "invdate", 0, "manu_lotnum", 30, "manu_date", 0, "expy_end", 0, "memo", 500, "vali_flag", 3,
		"rid", 40, "crter_id", 20, "crter_name", 50, "crte_optins_no", 20, "opter_id", 20, "opter_name", 50,
		"optins_no", 20, "poolarea_no", 6)
}

// changeQueryFields is the data node of 3509 (the 3502 stock-change rows)
// as newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3509.cs declares
// it (single source; the same rules as 3510; inv_chg_type, marked Y, is a
// filter here like the 标志 fields).
func changeQueryFields() []field {
	return queryFields(
		"fixmedins_code", 30, "medins_list_codg", 150, "fixmedins_bchno", 30, "begndate", 0, "enddate", 0,
		"medins_prod_inv_chg_no", 30, "med_list_codg", 50, "inv_chg_type", 6, "medins_list_name", 100, "rx_flag", 3,
		"list_sp_item_flag", 3, "trdn_flag", 3, "inv_chg_time", 0, "inv_chg_opter_name", 50, "memo", 500,
		"vali_flag", 3, "rid", 40, "crter_id", 20, "crter_name", 50, "crte_optins_no", 20, "opter_id", 20,
		"opter_name", 50, "optins_no", 20, "poolarea_no", 6)
}

// stockRecord is one record of the 3508 answer (newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Output/YiBao/Output_3508.cs; the
// fields the sandbox knows of a 3501 row). No trace code is declared.
type stockRecord struct {
	FixmedinsCode  string  `json:"fixmedinsCode"`
	MedListCodg    string  `json:"medListCodg"`
	MedinsListCodg string  `json:"medinsListCodg"`
	MedinsListName string  `json:"medinsListName"`
	FixmedinsBchno string  `json:"fixmedinsBchno"`
	InvCnt         float64 `json:"invCnt"`
	TrdnFlag       string  `json:"trdnFlag"`
	OptTime        string  `json:"optTime"`
	ValiFlag       string  `json:"valiFlag"`
}

// changeRecord is one record of the 3509 answer (newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Output/YiBao/Output_3509.cs; the
// fields the sandbox knows of a 3502 row). No trace code is declared.
type changeRecord struct {
	FixmedinsCode  string  `json:"fixmedinsCode"`
	MedListCodg    string  `json:"medListCodg"`
	MedinsListCodg string  `json:"medinsListCodg"`
	MedinsListName string  `json:"medinsListName"`
	FixmedinsBchno string  `json:"fixmedinsBchno"`
	InvChgType     string  `json:"invChgType"`
	Cnt            float64 `json:"cnt"`
	TrdnFlag       string  `json:"trdnFlag"`
	OptTime        string  `json:"optTime"`
	ValiFlag       string  `json:"valiFlag"`
}
