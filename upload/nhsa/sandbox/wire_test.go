package sandbox_test

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The tests' own message types, written from the published tables a
// second time (not taken from the package under test, nor from the
// agent's client), so that a field the sandbox names wrongly shows up as
// a refusal of a valid request.

// Interface numbers and nodes.
const (
	InfPurchase       = "3503"
	InfPurchaseReturn = "3504"
	InfSale           = "3505"
	InfSaleReturn     = "3506"
	InfDelete         = "3507"

	NodePurchase = "purcinfo"
	NodeSale     = "selinfo"
	NodeDelete   = "data"

	DeleteInventory = "1"
	DeleteStock     = "2"
	DeletePurchase  = "3"
	DeleteSale      = "4"

	TimeLayout      = "2006-01-02 15:04:05"
	DefaultInfVer   = "V1.0"
	OpterMobile     = "3"
	InfcodeOK       = 0
	InfcodeError    = -1
	EnvelopeVersion = "2.0.1"

	// The sandbox's documented refusal texts, spelt out again.
	ErrTextBusy        = "系统繁忙"
	ErrTextSoldCode    = "追溯码已销售"
	ErrTextDuplicateNo = "fixmedins_bchno重复"
)

// Request is the FSI request envelope (nhsa.md §2.1:
// binzhe12123/Medical SZSI_Smart/Model/SYB/SYBCommon.cs).
type Request struct {
	Infno          string          `json:"infno"`
	Msgid          string          `json:"msgid"`
	MdtrtareaAdmvs string          `json:"mdtrtarea_admvs"`
	InsuplcAdmdvs  string          `json:"insuplc_admdvs,omitempty"`
	RecerSysCode   string          `json:"recer_sys_code,omitempty"`
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

// Response is the FSI answer (nhsa.md §2.2); Output as raw JSON, read by
// the shape tests.
type Response struct {
	Infcode     Code            `json:"infcode"`
	InfRefmsgid string          `json:"inf_refmsgid"`
	RefmsgTime  string          `json:"refmsg_time"`
	RespondTime string          `json:"respond_time"`
	ErrMsg      string          `json:"err_msg"`
	WarnMsg     string          `json:"warn_msg"`
	Output      json.RawMessage `json:"output"`
}

// Code is infcode, a number that may come as a string.
type Code int

func (c *Code) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	_, err := fmt.Sscanf(s, "%d", (*int)(c))
	return err
}

// TracInfo is one drugtracinfo node.
type TracInfo struct {
	DrugTracCodg string `json:"drug_trac_codg"`
}

// Purchase is a purcinfo row: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureGoodBuy.java
// and InsureGoodBuyBack.java (3504: medins_prod_purc_no).
type Purchase struct {
	MedListCodg         string     `json:"med_list_codg"`
	FixmedinsHilistID   string     `json:"fixmedins_hilist_id"`
	FixmedinsHilistName string     `json:"fixmedins_hilist_name"`
	DyntNo              string     `json:"dynt_no,omitempty"`
	FixmedinsBchno      string     `json:"fixmedins_bchno"`
	SplerName           string     `json:"spler_name"`
	SplerPmtno          string     `json:"spler_pmtno,omitempty"`
	ManuLotnum          string     `json:"manu_lotnum,omitempty"`
	ProdentpName        string     `json:"prodentp_name,omitempty"`
	Aprvno              string     `json:"aprvno,omitempty"`
	ManuDate            string     `json:"manu_date"`
	ExpyEnd             string     `json:"expy_end"`
	FinlTrnsPric        *float64   `json:"finl_trns_pric,omitempty"`
	PurcRetnCnt         float64    `json:"purc_retn_cnt"`
	PurcInvoCodg        string     `json:"purc_invo_codg,omitempty"`
	PurcInvoNo          string     `json:"purc_invo_no,omitempty"`
	RxFlag              string     `json:"rx_flag"`
	PurcRetnStoinTime   string     `json:"purc_retn_stoin_time"`
	PurcRetnOpterName   string     `json:"purc_retn_opter_name"`
	ProdGeayFlag        string     `json:"prod_geay_flag,omitempty"`
	Memo                string     `json:"memo,omitempty"`
	MedinsProdPurcNo    string     `json:"medins_prod_purc_no,omitempty"`
	DrugTracInfo        []TracInfo `json:"drugtracinfo,omitempty"`
}

// Sale is a selinfo row: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureGoodSell.java
// and InsureGoodSellBack.java, plus drugtracinfo and mdtrt_setl_type of
// newer clients (nhsa.md §3.3).
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
	TrdnFlag            string     `json:"trdn_flag"`
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

// Delete is the 3507 data node: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureGoodInfoDelete.java.
type Delete struct {
	FixmedinsBchno string `json:"fixmedins_bchno"`
	InvDataType    string `json:"inv_data_type"`
}

// Required fields per the tables (是否必填 Y), written out again.
func RequiredPurchase() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"spler_name", "manu_lotnum", "prodentp_name", "aprvno", "manu_date", "expy_end", "purc_retn_cnt", "rx_flag",
		"purc_retn_stoin_time", "purc_retn_opter_name"}
}

func RequiredPurchaseReturn() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"spler_name", "manu_date", "expy_end", "purc_retn_cnt", "purc_invo_no", "rx_flag", "purc_retn_stoin_time",
		"purc_retn_opter_name", "medins_prod_purc_no"}
}

func RequiredSale() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"prsc_dr_name", "phar_name", "phar_prac_cert_no", "mdtrt_sn", "manu_lotnum", "manu_date", "rx_flag",
		"trdn_flag", "rtal_docno", "sel_retn_cnt", "sel_retn_time", "sel_retn_opter_name", "drugtracinfo"}
}

func RequiredSaleReturn() []string {
	return []string{"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno",
		"manu_lotnum", "manu_date", "rx_flag", "trdn_flag", "sel_retn_cnt", "sel_retn_time", "sel_retn_opter_name",
		"medins_prod_sel_no", "mdtrt_sn"}
}

// Envelope is the SM2/SM4 channel envelope as an answer carries it
// (nhsa.md §4.1/§4.5: Mr-wangwei/yh-gm README.md).
type Envelope struct {
	AppID     string `json:"appId"`
	EncType   string `json:"encType"`
	SignType  string `json:"signType"`
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
	EncData   string `json:"encData"`
	SignData  string `json:"signData"`
	Code      *Code  `json:"code"`
	Message   string `json:"message"`
}
