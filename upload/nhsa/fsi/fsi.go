// Package fsi is the contract with the national medical-insurance (医保)
// platform's institution interface (定点医药机构接口规范, "FSI") for the
// 进销存 interfaces pda-agent uses, and with the SM2/SM4 channel envelope
// some provinces wrap it in. Both the client (package nhsa) and the sandbox
// (package nhsa/sandbox) speak it; each builds and checks messages on its
// own.
//
// Sources and confidence: ../shared/reference/nhsa.md. Provinces differ;
// field lists follow the majority of public clients, and what is
// unconfirmed is configurable in the client.
package fsi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Interface numbers (infno).
const (
	InfPurchase       = "3503" // 商品采购
	InfPurchaseReturn = "3504" // 商品采购退货
	InfSale           = "3505" // 商品销售
	InfSaleReturn     = "3506" // 商品销售退货
	InfDelete         = "3507" // 商品信息删除
	InfStockTake      = "3501" // 商品盘存上传
	InfStockChange    = "3502" // 商品库存变更
	InfTraceQuery     = "3513" // 商品销售追溯信息查询
)

// Layouts.
const (
	// TimeLayout is inf_time and the *_time fields.
	TimeLayout = "2006-01-02 15:04:05"
	// DateLayout is manu_date and expy_end.
	DateLayout = "2006-01-02"
	// MsgIDTimeLayout is the time part of msgid.
	MsgIDTimeLayout = "20060102150405"
	// refmsg_time / respond_time are yyyyMMddHHmmssSSS: Go's layouts
	// cannot write milliseconds without a separator, so format them by hand.
)

// Field lengths.
const (
	MsgIDLen         = 30 // fixmedins_code(12) + yyyyMMddHHmmss(14) + sequence(4)
	FixmedinsCodeLen = 12
	BchnoMaxLen      = 30 // fixmedins_bchno
	TracCodeMaxLen   = 100
)

// Operator types (opter_type).
const (
	OpterClerk    = "1" // 经办人
	OpterKiosk    = "2" // 自助终端
	OpterMobile   = "3" // 移动终端 (PDAs)
	DefaultInfVer = "V1.0"
)

// Request is the FSI envelope of every interface. Input holds the
// interface's node(s), e.g. {"purcinfo": {...}}.
type Request struct {
	Infno          string          `json:"infno"`
	Msgid          string          `json:"msgid"`
	MdtrtareaAdmvs string          `json:"mdtrtarea_admvs"`
	InsuplcAdmdvs  string          `json:"insuplc_admdvs,omitempty"`
	RecerSysCode   string          `json:"recer_sys_code"`
	DevNo          string          `json:"dev_no,omitempty"`
	DevSafeInfo    string          `json:"dev_safe_info,omitempty"`
	Cainfo         string          `json:"cainfo,omitempty"`
	Signtype       string          `json:"signtype,omitempty"`
	Infver         string          `json:"infver"`
	OpterType      string          `json:"opter_type"`
	Opter          string          `json:"opter"`
	OpterName      string          `json:"opter_name"`
	InfTime        string          `json:"inf_time"`
	FixmedinsCode  string          `json:"fixmedins_code"`
	FixmedinsName  string          `json:"fixmedins_name"`
	SignNo         string          `json:"sign_no,omitempty"`
	Input          json.RawMessage `json:"input"`
}

// Response is the FSI answer. Infcode 0 is success; it arrives as a
// number or a string.
type Response struct {
	Infcode     Code            `json:"infcode"`
	InfRefmsgid string          `json:"inf_refmsgid,omitempty"`
	RefmsgTime  string          `json:"refmsg_time,omitempty"`
	RespondTime string          `json:"respond_time,omitempty"`
	ErrMsg      string          `json:"err_msg,omitempty"`
	WarnMsg     string          `json:"warn_msg,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
}

// Code is infcode: a number that may arrive as a string.
type Code int

// UnmarshalJSON accepts 0, "0", -1, "-1".
func (c *Code) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("infcode: want a number, got %s", b)
	}
	*c = Code(n)
	return nil
}

// Infcodes the sandbox answers besides 0. Real platforms use -1 for most
// failures with the reason in err_msg; the err_msg texts below are the
// sandbox's, chosen to be recognisable.
const (
	InfcodeOK    = 0
	InfcodeError = -1
)

// Error texts that the client classifies (the sandbox uses them; real
// provincial texts vary, so the client also treats unknown texts by
// infcode).
const (
	ErrTextBusy        = "系统繁忙"              // transient
	ErrTextSoldCode    = "追溯码已销售"            // permanent: the code was sold in another sale
	ErrTextDuplicateNo = "fixmedins_bchno重复" // the row's own key was already taken: done if same content
)

// TracInfo is one node of drugtracinfo.
type TracInfo struct {
	DrugTracCodg string `json:"drug_trac_codg"`
}

// Purchase is a purcinfo row of 3503 (and 3504 with MedinsProdPurcNo).
type Purchase struct {
	MedListCodg         string     `json:"med_list_codg"`
	FixmedinsHilistID   string     `json:"fixmedins_hilist_id"`
	FixmedinsHilistName string     `json:"fixmedins_hilist_name"`
	DyntNo              string     `json:"dynt_no,omitempty"`
	FixmedinsBchno      string     `json:"fixmedins_bchno"`
	SplerName           string     `json:"spler_name"`
	SplerPmtno          string     `json:"spler_pmtno,omitempty"`
	ManuLotnum          string     `json:"manu_lotnum"`
	ProdentpName        string     `json:"prodentp_name"`
	Aprvno              string     `json:"aprvno"`
	ManuDate            string     `json:"manu_date"`
	ExpyEnd             string     `json:"expy_end"`
	FinlTrnsPric        *float64   `json:"finl_trns_pric,omitempty"`
	PurcRetnCnt         float64    `json:"purc_retn_cnt"`
	PurcInvoCodg        string     `json:"purc_invo_codg,omitempty"`
	PurcInvoNo          string     `json:"purc_invo_no,omitempty"`
	RxFlag              string     `json:"rx_flag"`
	PurcRetnStoinTime   string     `json:"purc_retn_stoin_time"`
	PurcRetnOpterName   string     `json:"purc_retn_opter_name"`
	ProdGeayFlag        string     `json:"prod_geay_flag"`
	Memo                string     `json:"memo,omitempty"`
	MedinsProdPurcNo    string     `json:"medins_prod_purc_no,omitempty"` // 3504: the original purchase record
	DrugTracInfo        []TracInfo `json:"drugtracinfo,omitempty"`        // not in 3503 specs seen; sent only if configured
}

// Sale is a selinfo row of 3505 (and 3506: MedinsProdSelNo then names the
// original sale row).
type Sale struct {
	MedListCodg         string     `json:"med_list_codg"`
	FixmedinsHilistID   string     `json:"fixmedins_hilist_id"`
	FixmedinsHilistName string     `json:"fixmedins_hilist_name"`
	FixmedinsBchno      string     `json:"fixmedins_bchno"`
	PrscDrCertType      string     `json:"prsc_dr_cert_type,omitempty"`
	PrscDrCertno        string     `json:"prsc_dr_certno,omitempty"`
	PrscDrName          string     `json:"prsc_dr_name,omitempty"`
	PharCertType        string     `json:"phar_cert_type,omitempty"`
	PharCertno          string     `json:"phar_certno,omitempty"`
	PharName            string     `json:"phar_name,omitempty"`
	PharPracCertNo      string     `json:"phar_prac_cert_no,omitempty"`
	HiFeesetlType       string     `json:"hi_feesetl_type,omitempty"`
	SetlID              string     `json:"setl_id,omitempty"`
	MdtrtSn             string     `json:"mdtrt_sn,omitempty"`
	PsnNo               string     `json:"psn_no,omitempty"`
	PsnCertType         string     `json:"psn_cert_type,omitempty"`
	Certno              string     `json:"certno,omitempty"`
	PsnName             string     `json:"psn_name,omitempty"`
	ManuLotnum          string     `json:"manu_lotnum"`
	ManuDate            string     `json:"manu_date"`
	ExpyEnd             string     `json:"expy_end,omitempty"`
	RxFlag              string     `json:"rx_flag"`
	TrdnFlag            string     `json:"trdn_flag"` // 拆零 0/1
	FinlTrnsPric        *float64   `json:"finl_trns_pric,omitempty"`
	Rxno                string     `json:"rxno,omitempty"`
	RxCircFlag          string     `json:"rx_circ_flag,omitempty"`
	RtalDocno           string     `json:"rtal_docno,omitempty"`
	StooutNo            string     `json:"stoout_no,omitempty"`
	Bchno               string     `json:"bchno,omitempty"`
	DrugProdBarc        string     `json:"drug_prod_barc,omitempty"`
	ShelfPosi           string     `json:"shelf_posi,omitempty"`
	SelRetnCnt          float64    `json:"sel_retn_cnt"`
	SelRetnTime         string     `json:"sel_retn_time"`
	SelRetnOpterName    string     `json:"sel_retn_opter_name"`
	Memo                string     `json:"memo,omitempty"`
	MedinsProdSelNo     string     `json:"medins_prod_sel_no,omitempty"`
	MdtrtSetlType       string     `json:"mdtrt_setl_type,omitempty"`
	DrugTracInfo        []TracInfo `json:"drugtracinfo,omitempty"`
}

// StockTake is an invinfo row of 3501 商品盘存上传. Field names, types and
// required flags: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureInventoryCheck.java
// and newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3501.cs (which
// adds drugtracinfo, "溯源码节点信息"); nhsa.md §3.4. inv_cnt is 数值型 16,2;
// openhis notes "按最小计价包装单位统计" (unconfirmed which unit a
// pharmacy's province means; the client counts packs).
type StockTake struct {
	MedListCodg         string     `json:"med_list_codg"`
	FixmedinsHilistID   string     `json:"fixmedins_hilist_id"`
	FixmedinsHilistName string     `json:"fixmedins_hilist_name"`
	RxFlag              string     `json:"rx_flag"`
	Invdate             string     `json:"invdate"` // yyyy-MM-dd
	InvCnt              float64    `json:"inv_cnt"`
	ManuLotnum          string     `json:"manu_lotnum,omitempty"`
	FixmedinsBchno      string     `json:"fixmedins_bchno"`
	ManuDate            string     `json:"manu_date"`
	ExpyEnd             string     `json:"expy_end"`
	Memo                string     `json:"memo,omitempty"`
	DrugTracInfo        []TracInfo `json:"drugtracinfo,omitempty"`
}

// StockChange is an invinfo row of 3502 商品库存变更: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureInventoryStockUpdate.java
// and newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3502.cs (both
// mark inv_chg_type a code, 字符型 6, required; trdn_flag 字符型 2, required
// in openhis; drugtracinfo in openhis); nhsa.md §3.4. The inv_chg_type
// code set is not public: the client takes it from its config.
type StockChange struct {
	MedListCodg         string     `json:"med_list_codg"`
	InvChgType          string     `json:"inv_chg_type"`
	FixmedinsHilistID   string     `json:"fixmedins_hilist_id"`
	FixmedinsHilistName string     `json:"fixmedins_hilist_name"`
	FixmedinsBchno      string     `json:"fixmedins_bchno"`
	Pric                float64    `json:"pric"` // 单价 16,6
	Cnt                 float64    `json:"cnt"`  // 数量 16,4
	RxFlag              string     `json:"rx_flag"`
	InvChgTime          string     `json:"inv_chg_time"` // yyyy-MM-dd HH:mm:ss
	InvChgOpterName     string     `json:"inv_chg_opter_name,omitempty"`
	Memo                string     `json:"memo,omitempty"`
	TrdnFlag            string     `json:"trdn_flag"`
	DrugTracInfo        []TracInfo `json:"drugtracinfo,omitempty"`
}

// TraceQuery is the data node of 3513 商品销售追溯信息查询, as newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3513.cs declares it
// (fixmedins_code 30 Y; the others N, dates yyyy-MM-dd). Single source:
// UNCONFIRMED which provinces serve it and how they page long answers.
type TraceQuery struct {
	FixmedinsCode  string `json:"fixmedins_code"`
	FixmedinsBchno string `json:"fixmedins_bchno,omitempty"`
	Begndate       string `json:"begndate,omitempty"`
	Enddate        string `json:"enddate,omitempty"`
	MedListCodg    string `json:"med_list_codg,omitempty"`
	DrugTracCodg   string `json:"drug_trac_codg,omitempty"`
}

// RowQuery is the data node reconciliation sends to 3510 商品采购查询 and
// 3511 商品销售查询: the fields newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Input/YiBao/Input_3510.cs and
// Input_3511.cs declare Y (fixmedins_code 30, begndate, enddate
// yyyy-MM-dd) and fixmedins_bchno (30; it or medins_list_codg must be
// given). Their answers (Output_3510.cs, Output_3511.cs) name the row as
// fixmedinsBchno and carry no trace code. The same four fields, with the
// same marks, open Input_3508.cs and Input_3509.cs there (the 3501
// stock-take and 3502 stock-change rows; Output_3508.cs and
// Output_3509.cs: fixmedinsBchno, no trace code), so 3508/3509 are asked
// with it too. Single source: UNCONFIRMED.
type RowQuery struct {
	FixmedinsCode  string `json:"fixmedins_code"`
	FixmedinsBchno string `json:"fixmedins_bchno"`
	Begndate       string `json:"begndate"`
	Enddate        string `json:"enddate"`
}

// TraceRecord is one record of a 3513 answer: one trace code of one sale
// row (newtouch-cloud/openhis
// WinServiceAPI/NeiMengGuYiBaoApp/Models/Output/YiBao/Output_3513.cs, in
// camelCase there: fixmedinsBchno, drugTracCodg, medListCodg, trdnFlag …).
// The client reads records at any depth of output and accepts snake_case
// names too (the layout of the list is not published).
type TraceRecord struct {
	FixmedinsBchno string
	DrugTracCodg   string
	MedListCodg    string
	TrdnFlag       string
}

// Delete is the data node of 3507.
type Delete struct {
	FixmedinsBchno string `json:"fixmedins_bchno"`
	InvDataType    string `json:"inv_data_type"` // 1 盘存, 2 库存变更, 3 采购, 4 销售
}

// 3507 inv_data_type values.
const (
	DeleteInventory = "1"
	DeleteStock     = "2"
	DeletePurchase  = "3"
	DeleteSale      = "4"
)

// Input node names.
const (
	NodeInventory = "invinfo" // 3501 and 3502
	NodePurchase  = "purcinfo"
	NodeSale      = "selinfo"
	NodeDelete    = "data"
)

// Required fields (by JSON name) the sandbox enforces and the client must
// fill; nhsa.md §3.2-3.4 ("Y" columns of the majority of clients). Each
// call returns a fresh slice.

// RequiredPurchase are the required fields of a 3503 row.
func RequiredPurchase() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"spler_name", "manu_lotnum", "prodentp_name", "aprvno", "manu_date", "expy_end", "purc_retn_cnt", "rx_flag",
		"purc_retn_stoin_time", "purc_retn_opter_name", "prod_geay_flag"}
}

// RequiredPurchaseReturn are the required fields of a 3504 row
// (purc_invo_no: required in 3504's published tables, nhsa.md §3.2).
func RequiredPurchaseReturn() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"spler_name", "manu_date", "expy_end", "purc_retn_cnt", "rx_flag", "purc_retn_stoin_time", "purc_retn_opter_name",
		"medins_prod_purc_no", "purc_invo_no"}
}

// RequiredSale are the required fields of a 3505 row (rtal_docno: 零售单据号,
// required in the published tables, nhsa.md §3.3 #27).
func RequiredSale() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"prsc_dr_name", "phar_name", "phar_prac_cert_no", "hi_feesetl_type", "mdtrt_sn", "psn_cert_type",
		"manu_lotnum", "manu_date", "rx_flag", "trdn_flag", "rx_circ_flag", "rtal_docno", "sel_retn_cnt", "sel_retn_time",
		"sel_retn_opter_name", "drugtracinfo"}
}

// RequiredSaleReturn are the required fields of a 3506 row.
func RequiredSaleReturn() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"manu_lotnum", "manu_date", "rx_flag", "trdn_flag", "sel_retn_cnt", "sel_retn_time", "sel_retn_opter_name",
		"medins_prod_sel_no", "mdtrt_sn"}
}

// RequiredStockTake are the required fields of a 3501 row (both sources'
// "Y" columns; drugtracinfo: the agent's stock-take exists to report the
// codes, so it never sends a row without them).
func RequiredStockTake() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "rx_flag", "invdate",
		"inv_cnt", "fixmedins_bchno", "manu_date", "expy_end", "drugtracinfo"}
}

// RequiredStockChange are the required fields of a 3502 row.
func RequiredStockChange() []string {
	return []string{"med_list_codg", "inv_chg_type", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"pric", "cnt", "rx_flag", "inv_chg_time", "trdn_flag", "drugtracinfo"}
}

// RequiredDelete are the required fields of the 3507 data node.
func RequiredDelete() []string { return []string{"fixmedins_bchno", "inv_data_type"} }

// Envelope is the SM2/SM4 channel envelope (nhsa.md §4): the FSI request
// (or answer) JSON is SM4-encrypted into EncData; SignData is the SM2
// signature over the sign string of the envelope's fields with Data set
// to the plain object.
type Envelope struct {
	AppID     string `json:"appId"`
	EncType   string `json:"encType"`  // "SM4"
	SignType  string `json:"signType"` // "SM2"
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
	EncData   string `json:"encData"`
	SignData  string `json:"signData"`
	// Answers only.
	Code    *Code  `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Envelope constants.
const (
	EncTypeSM4      = "SM4"
	SignTypeSM2     = "SM2"
	EnvelopeVersion = "2.0.1"
)

// Gateway header names (nhsa.md §2.4).
const (
	HdrTifPaasID    = "x-tif-paasid"
	HdrTifTimestamp = "x-tif-timestamp"
	HdrTifNonce     = "x-tif-nonce"
	HdrTifSignature = "x-tif-signature"

	HdrAPIName      = "_api_name"
	HdrAPIVersion   = "_api_version"
	HdrAPITimestamp = "_api_timestamp"
	HdrAPIAccessKey = "_api_access_key"
	HdrAPISignature = "_api_signature"
)
